"""Show download progress: a bar on a terminal, a few plain lines in CI and logs.

The library reports progress through a ``progress(done, total)`` callback and never
prints; ``tasks.py`` builds a ``ProgressDisplay`` on its own output stream and
passes it as that callback. Never decides anything about a pull or a deploy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TextIO

from ganymede_sync.settings.config import is_ci

_BAR_WIDTH = 30
_LINE_INTERVAL = 5.0
_REDRAW_INTERVAL = 0.1


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
    """A ``progress(done, total)`` callback that draws on ``stream``."""

    def __init__(self, stream: TextIO, *, bar: bool, label: str = "downloading") -> None:
        self._stream = stream
        self._bar = bar
        self._label = label
        self._last = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        interval = _REDRAW_INTERVAL if self._bar else _LINE_INTERVAL
        if not finished and now - self._last < interval:
            return
        self._last = now
        if self._bar:
            self._stream.write("\r" + render_bar(self._label, done, total))
        elif not finished or self._drawn:
            self._stream.write(render_line(self._label, done, total) + "\n")
        self._drawn = True
        self._stream.flush()

    def then(self, show: Callable[[str], None]) -> Callable[[str], None]:
        """Wrap ``show`` so that its text starts on a fresh line, after the bar."""

        def show_after_bar(text: str) -> None:
            self.close()
            show(text)

        return show_after_bar

    def close(self) -> None:
        """End the bar's line so the next message starts on a fresh one (once)."""
        if self._bar and self._drawn:
            self._stream.write("\n")
            self._stream.flush()
        self._drawn = False


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
