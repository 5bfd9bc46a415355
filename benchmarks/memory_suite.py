"""Memory benchmark: peak RSS of a whole pull of a large archive, in its own process.

The environment is mostly big lib modules of barely compressible text (each under
the 64 MiB per-file limit), so a pull that reads a file or the archive whole shows
up at once. Compared with an idle interpreter that imported the same modules and
with `zipfile.extractall` after a streamed download.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks import synthetic, workspace
from benchmarks.context import Context
from benchmarks.harness import Row

LIMIT_MB = 150.0
FILE_MB = 48
MAX_RUNS = 2
"""Peak memory barely varies between runs, and each run moves the whole archive."""


def run(ctx: Context, archive_mb: int) -> None:
    environment = "memory"
    ctx.log(f"memory: building a ~{archive_mb} MB environment")
    content_mb = _populate(ctx.pipeline(environment), archive_mb)
    base = ctx.commit_all("Before the memory pull")
    archive_size = _archive_megabytes(ctx, environment)
    size = f"{content_mb} MB of files, {archive_size:.0f} MB zip"
    runs = min(ctx.repeat, MAX_RUNS)
    peaks: dict[str, list[float]] = {"idle": [], "pull": [], "extractall": []}
    seconds: dict[str, list[float]] = {"pull": [], "extractall": []}
    pull_missing = ctx.library.missing("pull")
    for _ in range(runs):
        for mode, values in peaks.items():
            if mode == "pull" and pull_missing:
                continue
            ctx.restore(base)
            result = _child(ctx, mode, environment)
            values.append(result["peak_mb"])
            seconds.get(mode, []).append(result["seconds"])
    ctx.restore(base)
    ctx.rows.extend(_pull_rows(size, peaks, seconds, pull_missing))
    if not pull_missing and ctx.library.missing("plan") is None:
        ctx.rows.append(_plan_row(ctx, environment, size))
        ctx.restore(base)


def _pull_rows(
    size: str,
    peaks: dict[str, list[float]],
    seconds: dict[str, list[float]],
    pull_missing: str | None,
) -> list[Row]:
    def peak(mode: str) -> float | None:
        return statistics.median(peaks[mode]) if peaks[mode] else None

    took = (
        f"took {_median(seconds['pull']):.1f} s, extractall {_median(seconds['extractall']):.1f} s"
    )
    note = f"missing {pull_missing}" if pull_missing else took
    return [
        Row("memory", "peak RSS of a pull", size, peak("pull"), "idle, modules imported",
            peak("idle"), unit="MB", limit=LIMIT_MB, note=note),
        Row("memory", "peak RSS of a pull", size, peak("pull"), "urllib + zipfile.extractall",
            peak("extractall"), unit="MB"),
    ]  # fmt: skip


def _plan_row(ctx: Context, environment: str, size: str) -> Row:
    """Peak RSS of planning a deploy of the same environment (no goal: for information).

    The folder is pulled and committed first, as a deploy always follows a pull.
    """
    ctx.pulled_state(environment, {})
    result = _child(ctx, "plan", environment)
    return Row("memory", "peak RSS of a deploy plan", size, result["peak_mb"], unit="MB",
               note=f"took {result['seconds']:.1f} s; no goal set")  # fmt: skip


def _populate(pipeline: Path, archive_mb: int) -> int:
    """Write big lib modules plus a few ordinary flows; return the content size in MB.

    Deflate keeps about 3/4 of this text, so 4/3 of the archive size is written.
    """
    remaining = archive_mb * 4 // 3
    file_mb = min(FILE_MB, max(1, remaining // 4))
    index = 0
    while remaining > 0:
        target = pipeline / "lib" / "tables" / f"table_{index:02d}.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        chunk_mb = min(file_mb, remaining)
        with target.open("wb") as out:
            for block in synthetic.incompressible_text(chunk_mb * 1_000_000, f"t{index}"):
                out.write(block)
        remaining -= chunk_mb
        index += 1
    workspace.write_pipeline(pipeline, synthetic.environment_files(20), message="Large lib")
    return archive_mb * 4 // 3


def _archive_megabytes(ctx: Context, environment: str) -> float:
    from benchmarks import baselines

    archive = ctx.scratch / "memory.zip"
    baselines.download(baselines.snapshot_url(ctx.api_url, workspace.TOKEN, environment), archive)
    size = archive.stat().st_size / 1e6
    archive.unlink()
    return size


def _child(ctx: Context, mode: str, environment: str) -> dict[str, float]:
    script = Path(__file__).with_name("memory_process.py")
    command = [sys.executable, str(script), mode, str(ctx.root), ctx.api_url]
    done = subprocess.run(
        [*command, workspace.TOKEN, environment],
        capture_output=True,
        text=True,
        cwd=ctx.scratch,
        env={**os.environ, **workspace.IDENTITY},
    )
    if done.returncode:
        raise RuntimeError(f"memory run '{mode}' failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
