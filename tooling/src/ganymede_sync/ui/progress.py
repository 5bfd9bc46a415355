"""Show download progress: a bar on a terminal, a few plain lines in CI and logs.

A pull also reads every flow's document beside its download; their count is shown on
the same line, since on a big environment they outlast the archive.

The library reports progress through a ``progress(done, total)`` callback and never
prints; ``tasks.py`` builds a ``ProgressDisplay`` on its own output stream and
passes it as that callback. Never decides anything about a pull or a deploy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TextIO

from ganymede_sync.settings.config import is_ci

_BAR_WIDTH = 30
_LINE_INTERVAL = 5.0
_REDRAW_INTERVAL = 0.1
BYTES, FLOWS = "bytes", "flows"
FLOWS_LABEL = "flows read"


def wants_bar(stream: TextIO, *, in_ci: bool, term: str | None = None) -> bool:
    """Tell whether to draw a live bar: only on a terminal, never in CI logs."""
    return stream.isatty() and not in_ci and term != "dumb"


@contextmanager
def progress_display(stream: TextIO, environ: Mapping[str, str]) -> Iterator[ProgressDisplay]:
    """Yield a display on ``stream`` (a bar on a terminal outside CI); end its line after."""
    bar = wants_bar(stream, in_ci=is_ci(environ), term=environ.get("TERM"))
    display = ProgressDisplay(stream, bar=bar)
    try:
        yield display
    finally:
        display.close()


class ProgressDisplay:
    """A ``progress(done, total)`` callback that draws on ``stream``; ``flows`` is its
    twin for the flow documents, read beside the download (from other threads).

    On a terminal both share one redrawn line; in logs each gets its own lines, a
    few seconds apart, and a quick one none at all.
    """

    def __init__(self, stream: TextIO, *, bar: bool, label: str = "downloading") -> None:
        self._stream = stream
        self._bar = bar
        self._label = label
        self._lock = threading.Lock()
        self._bytes: tuple[int, int | None] | None = None
        self._flows: tuple[int, int] | None = None
        self._last: dict[str, float] = {}
        self._logged: set[str] = set()
        self._width = 0
        self._drawn = False

    def __call__(self, done: int, total: int | None) -> None:
        with self._lock:
            self._bytes = (done, total)
            self._show(BYTES, finished=total is not None and done >= total)

    def flows(self, done: int, total: int) -> None:
        """Report ``done`` of ``total`` flow documents read."""
        with self._lock:
            self._flows = (done, total)
            if done == 0 and not self._bar:
                self._last[FLOWS] = time.monotonic()  # logs: a first line only if it lasts
                return
            self._show(FLOWS, finished=done >= total)

    def _show(self, kind: str, *, finished: bool) -> None:
        now = time.monotonic()
        slot = "bar" if self._bar else kind
        interval = _REDRAW_INTERVAL if self._bar else _LINE_INTERVAL
        if not finished and now - self._last.get(slot, 0.0) < interval:
            return
        self._last[slot] = now
        if self._bar:
            text = self._bar_text()
            self._stream.write("\r" + text.ljust(self._width))  # spaces cover a longer line
            self._width = max(self._width, len(text))
        elif not finished or kind in self._logged:
            self._stream.write(self._line_text(kind) + "\n")
            self._logged.add(kind)
        self._drawn = True
        self._stream.flush()

    def _bar_text(self) -> str:
        parts = []
        if self._bytes is not None:
            parts.append(render_bar(self._label, *self._bytes))
        if self._flows is not None:
            parts.append(f"{FLOWS_LABEL} {self._flows[0]}/{self._flows[1]}")
        return ", ".join(parts)

    def _line_text(self, kind: str) -> str:
        if kind == FLOWS and self._flows is not None:
            done, total = self._flows
            return f"{FLOWS_LABEL}: {done} of {total} ({100 * done // max(total, 1)}%)"
        return render_line(self._label, *(self._bytes or (0, None)))

    def then(self, show: Callable[[str], None]) -> Callable[[str], None]:
        """Wrap ``show`` so that its text starts on a fresh line, after the bar."""

        def show_after_bar(text: str) -> None:
            self.close()
            show(text)

        return show_after_bar

    def close(self) -> None:
        """End the bar's line so the next message starts on a fresh one (once)."""
        with self._lock:
            if self._bar and self._drawn:
                self._stream.write("\n")
                self._stream.flush()
            self._drawn = False
            self._width = 0


def render_bar(label: str, done: int, total: int | None) -> str:
    """Return one bar line: ``label [#####     ] 1.2/3.4 MiB``."""
    if not total:
        return f"{label} {_amount(done, done)}"
    done = min(done, total)  # a server may send more than it announced: never past 100%
    filled = min(_BAR_WIDTH, _BAR_WIDTH * done // total)
    bar = "#" * filled + " " * (_BAR_WIDTH - filled)
    return f"{label} [{bar}] {_amount(done, total, between='/')}"


def render_line(label: str, done: int, total: int | None) -> str:
    """Return one log line: ``label: 1.2 of 3.4 MiB (35%)``."""
    if not total:
        return f"{label}: {_amount(done, done)}"
    done = min(done, total)
    return f"{label}: {_amount(done, total, between=' of ')} ({100 * done // total}%)"


def _amount(done: int, total: int, *, between: str | None = None) -> str:
    """Show ``done`` (and ``total``) in MiB, or in KiB when the total is under one MiB."""
    unit, size = ("KiB", 1 << 10) if total < (1 << 20) else ("MiB", 1 << 20)
    shown = f"{done / size:.1f}"
    if between is not None:
        shown += f"{between}{total / size:.1f}"
    return f"{shown} {unit}"
