"""Timing, result rows and the printed table; knows nothing about Ganymede.

Medians of interleaved runs: on a small shared machine, running our code and its
baseline alternately in the same round keeps slow phases of the machine from
favouring one side. Never prints except through `format_table`'s caller.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field


@dataclass
class Case:
    """One thing to time: `run` is timed, `setup` (untimed) prepares each run."""

    label: str
    run: Callable[[], object]
    setup: Callable[[], object] | None = None


@dataclass
class Timing:
    """Durations in seconds of the runs of one case."""

    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> float:
        """Relative spread (max - min) / median, to see how noisy a number is."""
        if len(self.samples) < 2 or self.median == 0:
            return 0.0
        return (max(self.samples) - min(self.samples)) / self.median


def measure(cases: Sequence[Case], *, repeat: int) -> dict[str, Timing]:
    """Time every case `repeat` times, interleaved round by round."""
    timings = {case.label: Timing() for case in cases}
    for _ in range(repeat):
        for case in cases:
            if case.setup is not None:
                case.setup()
            gc.collect()
            start = time.perf_counter()
            case.run()
            timings[case.label].samples.append(time.perf_counter() - start)
    return timings


@dataclass
class Row:
    """One line of the result table.

    `goal` is the largest acceptable ratio ours / baseline; `limit` the largest
    acceptable value of `ours` itself (memory, growth exponent).
    """

    suite: str
    case: str
    size: str
    ours: float | None
    baseline_name: str = ""
    baseline: float | None = None
    unit: str = "s"
    goal: float | None = None
    limit: float | None = None
    note: str = ""
    spread: float = 0.0

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.baseline:
            return None
        return self.ours / self.baseline

    @property
    def status(self) -> str:
        if self.ours is None:
            return "n/a"
        checks = []
        if self.goal is not None and self.ratio is not None:
            checks.append(self.ratio <= self.goal)
        if self.limit is not None:
            checks.append(self.ours <= self.limit)
        if not checks:
            return ""
        return "ok" if all(checks) else "MISSED"

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ratio": self.ratio, "status": self.status}


def growth_exponent(sizes: Sequence[float], seconds: Sequence[float]) -> float:
    """Slope of log(time) against log(size): 1 is linear, 2 quadratic."""
    xs = [math.log(size) for size in sizes]
    ys = [math.log(max(value, 1e-9)) for value in seconds]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    variance = sum((x - mean_x) ** 2 for x in xs)
    if variance == 0:
        return float("nan")
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / variance


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "MB":
        return f"{value:.0f} MB"
    return f"{value:.2f}"


def _goal(row: Row) -> str:
    parts = []
    if row.goal is not None:
        parts.append(f"<= {row.goal:g}x")
    if row.limit is not None:
        parts.append(f"<= {_value(row.limit, row.unit)}")
    return " ".join(parts)


def format_table(rows: Sequence[Row]) -> str:
    """Render rows as an aligned plain-text table (also valid Markdown)."""
    header = ["suite", "case", "size", "ours", "baseline", "base", "ratio", "goal", "", "note"]
    lines = [header]
    for row in rows:
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
        noise = f" ±{row.spread * 50:.0f}%" if row.spread >= 0.2 else ""
        lines.append(
            [
                row.suite,
                row.case,
                row.size,
                _value(row.ours, row.unit) + noise,
                row.baseline_name,
                _value(row.baseline, row.unit) if row.baseline_name else "",
                ratio,
                _goal(row),
                row.status,
                row.note,
            ]
        )
    widths = [max(len(line[index]) for line in lines) for index in range(len(header))]
    rendered = [
        "| "
        + " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        + " |"
        for line in lines
    ]
    rendered.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(rendered)
