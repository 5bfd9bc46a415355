"""Timing, result rows and the printed table; knows nothing about Ganymede.

Medians of interleaved runs: on a small shared machine, running our code and its
baseline alternately in the same round keeps slow phases of the machine from
favouring one side. Never prints except through `format_table`'s caller.
"""

from __future__ import annotations

import cProfile
import gc
import io
import math
import pstats
import re
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

PROFILE_DIR: Path | None = None
"""Where `measure` writes a cProfile of one extra run of each profiled case (None: off)."""
SYSCALL_GROUPS = {
    "fsync": ("fsync", "fdatasync"),
    "rename": ("rename", "renameat", "renameat2"),
    "open": ("open", "openat", "openat2"),
    "stat": ("stat", "lstat", "fstat", "newfstatat", "statx"),
    "read": ("read", "pread64"),
    "write": ("write", "pwrite64"),
    "unlink": ("unlink", "unlinkat", "rmdir"),
    "mkdir": ("mkdir", "mkdirat"),
    "getdents": ("getdents64",),
}
"""The system calls counted per file when `--syscalls` is on, by the name shown."""


@dataclass
class Case:
    """One thing to time: `run` is timed, `setup` (untimed) prepares each run.

    `profile` names the profile file of this case when profiling is on.
    """

    label: str
    run: Callable[[], object]
    setup: Callable[[], object] | None = None
    profile: str = ""


@dataclass
class Timing:
    """Wall-clock and CPU seconds of the runs of one case.

    CPU time (ours plus waited-for child processes such as git or unzip) moves
    less than wall time when other work shares the machine: a cross-check.
    """

    samples: list[float] = field(default_factory=list)
    cpu_samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_samples)

    def plus(self, other: Timing) -> Timing:
        """Run by run sum: the time of doing one case, then the other."""
        return Timing(
            [a + b for a, b in zip(self.samples, other.samples, strict=True)],
            [a + b for a, b in zip(self.cpu_samples, other.cpu_samples, strict=True)],
        )

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
            cpu, start = cpu_seconds(), time.perf_counter()
            case.run()
            timings[case.label].samples.append(time.perf_counter() - start)
            timings[case.label].cpu_samples.append(cpu_seconds() - cpu)
    for case in cases:
        if PROFILE_DIR is not None and case.profile:
            profile(case, PROFILE_DIR)
    return timings


def cpu_seconds() -> float:
    """User + system time of this process and of its finished child processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def syscall_counts(
    command: Sequence[str], *, env: Mapping[str, str], cwd: Path | None = None
) -> dict[str, int]:
    """Run ``command`` once under ``strace -f -c`` (children included); return the calls
    of each ``SYSCALL_GROUPS`` group, and ``total`` of all calls."""
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "strace.txt"
        strace = ["strace", "-f", "-c", "-o", str(output), "--", *command]
        subprocess.run(strace, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=env, cwd=cwd)  # fmt: skip
        calls: dict[str, int] = {}
        for line in output.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 5 and fields[3].isdigit():  # the "calls" column
                calls[fields[-1]] = int(fields[3])
    counts = {group: sum(calls.get(name, 0) for name in names)
              for group, names in SYSCALL_GROUPS.items()}  # fmt: skip
    counts["total"] = sum(value for name, value in calls.items() if name != "total")
    return counts


def profile(case: Case, folder: Path) -> Path:
    """Run a case once under cProfile; write NAME.prof and a readable NAME.txt summary."""
    if case.setup is not None:
        case.setup()
    profiler = cProfile.Profile()
    profiler.runcall(case.run)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", case.profile)
    folder.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(folder / f"{name}.prof")
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    (folder / f"{name}.txt").write_text(text.getvalue())
    return folder / f"{name}.prof"


@dataclass
class Row:
    """One line of the result table.

    `goal` is the largest acceptable ratio ours / baseline, after taking `allowance`
    seconds off ours (the interpreter's start-up, for a whole process against a shell
    script); `limit` the largest acceptable value of `ours` itself (memory, growth
    exponent).
    """

    suite: str
    case: str
    size: str
    ours: float | None
    baseline_name: str = ""
    baseline: float | None = None
    unit: str = "s"
    goal: float | None = None
    allowance: float = 0.0
    limit: float | None = None
    note: str = ""
    spread: float = 0.0
    ours_cpu: float | None = None
    baseline_cpu: float | None = None

    @classmethod
    def timed(
        cls,
        suite: str,
        case: str,
        size: str,
        ours: Timing | None,
        baseline_name: str,
        baseline: Timing | None,
        **options: object,
    ) -> Row:
        """Build a row from two timings (either may be None: not measured)."""
        return cls(
            suite,
            case,
            size,
            ours.median if ours else None,
            baseline_name,
            baseline.median if baseline else None,
            spread=ours.spread if ours else 0.0,
            ours_cpu=ours.cpu_median if ours else None,
            baseline_cpu=baseline.cpu_median if baseline else None,
            **options,  # type: ignore[arg-type]
        )

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.baseline:
            return None
        return self.ours / self.baseline

    @property
    def goal_ratio(self) -> float | None:
        """The ratio the goal is checked against: ours less the allowance, over baseline."""
        if self.ours is None or not self.baseline:
            return None
        return max(self.ours - self.allowance, 0.0) / self.baseline

    @property
    def cpu_ratio(self) -> float | None:
        if self.ours_cpu is None or not self.baseline_cpu:
            return None
        return self.ours_cpu / self.baseline_cpu

    @property
    def status(self) -> str:
        if self.ours is None:
            return "n/a"
        checks = []
        if self.goal is not None and self.goal_ratio is not None:
            checks.append(self.goal_ratio <= self.goal)
        if self.limit is not None:
            checks.append(self.ours <= self.limit)
        if not checks:
            return ""
        return "ok" if all(checks) else "MISSED"

    def as_dict(self) -> dict[str, object]:
        return {
            **asdict(self),
            "ratio": self.ratio,
            "goal_ratio": self.goal_ratio,
            "cpu_ratio": self.cpu_ratio,
            "status": self.status,
        }


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
        if value < 0.01:
            return f"{value * 1000:.1f} ms"
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "MB":
        return f"{value:.0f} MB"
    if unit == "calls":
        return f"{value:,.0f}"
    return f"{value:.2f}"


def _goal(row: Row) -> str:
    parts = []
    if row.goal is not None:
        allowance = f" + {_value(row.allowance, row.unit)}" if row.allowance else ""
        parts.append(f"<= {row.goal:g}x{allowance}")
    if row.limit is not None:
        parts.append(f"<= {_value(row.limit, row.unit)}")
    return " ".join(parts)


def format_table(rows: Sequence[Row]) -> str:
    """Render rows as an aligned plain-text table (also valid Markdown)."""
    header = ["suite", "case", "size", "ours", "baseline", "base", "ratio", "cpu ratio", "goal",
              "", "note"]  # fmt: skip
    lines = [header]
    for row in rows:
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
        if row.allowance and row.goal_ratio is not None:
            ratio += f" ({row.goal_ratio:.2f}x less {_value(row.allowance, row.unit)})"
        cpu_ratio = f"{row.cpu_ratio:.2f}x" if row.cpu_ratio is not None else ""
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
                cpu_ratio,
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
