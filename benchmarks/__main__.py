"""Command line of the benchmarks: `python -m benchmarks [--quick] [--only SUITE] ...`.

Prints progress on stderr and the result table on stdout; `--json FILE` also
writes every row with its ratio and status. Exit code 0 unless a suite crashed,
or, with `--strict`, a piece of our code is missing or produced a wrong result.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import harness, workspace
from benchmarks.context import Context
from benchmarks.ours import Library

SUITES = ("pull", "flows", "deploy", "memory", "generation")
FULL_SIZES = {"pull": [100, 500, 2000], "flows": [100, 500], "deploy": [50, 200, 1000, 3000],
              "memory": [300], "generation": [1, 10]}  # fmt: skip
QUICK_SIZES = {"pull": [3], "flows": [4], "deploy": [2, 6], "memory": [4], "generation": [1, 2]}
FULL_DEPLOY_FILES = 10_000
QUICK_DEPLOY_FILES = 120
EMULATOR = "ganymede_sync.emulator"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure pull, flow structure, deploy, memory and generation against "
        "plain baselines.",
    )
    parser.add_argument("--repeat", type=int, help="runs per measurement, median shown "
                        "(default 5, 1 with --quick)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run in seconds")
    parser.add_argument("--only", action="append", choices=SUITES, help="run only this suite "
                        "(repeatable; default: all)")  # fmt: skip
    parser.add_argument("--sizes", action="append", default=[], metavar="[SUITE=]N,N",
                        help="sizes of a suite: flows (pull, flows), changed files (deploy), "
                        "archive MB "
                        "(memory), environments (generation); SUITE= may be left out with "
                        "one --only")  # fmt: skip
    parser.add_argument("--deploy-files", type=int, help="files in the deploy environment "
                        f"(default {FULL_DEPLOY_FILES:,})")  # fmt: skip
    parser.add_argument("--scratch", type=Path, help="folder for temporary files (default: "
                        "/dev/shm when it has room, else the system's temporary one)")  # fmt: skip
    parser.add_argument("--profile", type=Path, metavar="DIR", help="also profile one run of "
                        "each of our cases with cProfile into DIR (.prof and .txt)")  # fmt: skip
    parser.add_argument("--syscalls", action="store_true", help="also count the system calls "
                        "of one `invoke pull` and one official step per pull case (needs "
                        "strace)")  # fmt: skip
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a piece of our code "
                        "is missing or gives a wrong result")  # fmt: skip
    return parser.parse_args(argv)


def sizes_of(args: argparse.Namespace, suites: list[str]) -> dict[str, list[int]]:
    sizes = {name: list(values) for name, values in
             (QUICK_SIZES if args.quick else FULL_SIZES).items()}  # fmt: skip
    for spec in args.sizes:
        name, _, numbers = spec.rpartition("=")
        if not name:
            if len(suites) != 1:
                raise SystemExit("error: --sizes without SUITE= needs exactly one --only")
            name = suites[0]
        if name not in SUITES:
            raise SystemExit(f"error: --sizes names unknown suite '{name}' ({', '.join(SUITES)})")
        try:
            sizes[name] = sorted(int(value) for value in numbers.split(",") if value)
        except ValueError:
            raise SystemExit(f"error: --sizes '{spec}' must be numbers like 100,500") from None
    return sizes


def run_suites(ctx: Context, suites: list[str], sizes: dict[str, list[int]], files: int) -> None:
    from benchmarks import deploy_suite, flows_suite, generation_suite, memory_suite, pull_suite

    served = [name for name in suites if name != "generation"]
    if ctx.emulator is None:
        for name in served:
            ctx.rows.append(harness.Row(name, "all", "", None, note=f"missing {EMULATOR}"))
        served = []
    if "pull" in served:
        pull_suite.run(ctx, sizes["pull"])
    if "flows" in served:
        flows_suite.run(ctx, sizes["flows"])
    if "deploy" in served:
        deploy_suite.run(ctx, sizes["deploy"], files)
    if "memory" in served:
        memory_suite.run(ctx, sizes["memory"][-1])
    if "generation" in suites:
        generation_suite.run(ctx, sizes["generation"])


def environments_for(suites: list[str], sizes: dict[str, list[int]]) -> list[str]:
    names = [f"pull{flows}" for flows in sizes["pull"]] if "pull" in suites else []
    names += [f"flows{flows}" for flows in sizes["flows"]] if "flows" in suites else []
    return names + [name for name in ("deploy", "memory") if name in suites] or ["dev"]


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    suites = [name for name in SUITES if name in (args.only or SUITES)]
    sizes = sizes_of(args, suites)
    repeat = args.repeat or (1 if args.quick else 5)
    files = args.deploy_files or (QUICK_DEPLOY_FILES if args.quick else FULL_DEPLOY_FILES)
    workspace.use_identity()
    harness.PROFILE_DIR = args.profile.resolve() if args.profile else None
    started = time.perf_counter()
    scratch_parent = args.scratch or default_scratch()
    with tempfile.TemporaryDirectory(prefix="ganymede-bench-", dir=scratch_parent) as scratch_name:
        scratch = Path(scratch_name)
        environments = environments_for(suites, sizes)
        template = workspace.copy_template(scratch / "template")
        root = workspace.generate(template, scratch / "repo", environments)
        source = workspace.package_source(template)
        workspace.import_package(source)
        with contextlib.ExitStack() as stack:
            emulator = None
            if suites != ["generation"] and workspace.has_module(EMULATOR):
                process = workspace.EmulatorProcess(source, scratch / "emulator", environments)
                emulator = stack.enter_context(process)
            library = Library(root, emulator.url if emulator else "")
            ctx = Context(
                repeat,
                scratch,
                template,
                root,
                emulator,
                library,
                args.quick,
                syscalls=args.syscalls and shutil.which("strace") is not None,
            )
            run_suites(ctx, suites, sizes, files)
            where = filesystem_of(scratch)
    runtime = time.perf_counter() - started
    print(report(ctx.rows, repeat, runtime, where))
    if args.json:
        data = as_json(ctx.rows, repeat, runtime, where)
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    problems = [row for row in ctx.rows if row.ours is None or "WRONG" in row.note]
    return 1 if args.strict and problems else 0


def machine() -> str:
    return f"{os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}"


def default_scratch() -> Path | None:
    """Prefer a memory file system: it takes a shared machine's disk out of the numbers.

    Every side pays the same per-file cost on a real disk, which only pulls ratios
    towards 1; on tmpfs they show the CPU cost of our code, the stricter test.
    """
    shm = Path("/dev/shm")  # noqa: S108 - a private TemporaryDirectory is made inside
    try:
        roomy = shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 4e9
    except OSError:
        roomy = False
    return shm if roomy else None


def filesystem_of(path: Path) -> str:
    """Name the file system under `path` (`tmpfs`, `ext4`, ...): it decides file costs."""
    mounts = Path("/proc/mounts")
    if not mounts.exists():
        return "unknown file system"
    best = ("", "unknown file system")
    for line in mounts.read_text().splitlines():
        _, point, kind, *_ = line.split()
        inside = str(path).startswith(point.rstrip("/") + "/") or str(path) == point
        if inside and len(point) > len(best[0]):
            best = (point, kind)
    return f"{best[1]} at {best[0]}"


def report(rows: list[harness.Row], repeat: int, runtime: float, where: str) -> str:
    title = (
        f"Benchmarks ({machine()}; scratch on {where}; median of {repeat} run(s); "
        f"total runtime {runtime:.0f} s)"
    )
    return f"{title}\n\n{harness.format_table(rows)}"


def as_json(rows: list[harness.Row], repeat: int, runtime: float, where: str) -> dict[str, object]:
    return {
        "machine": machine(),
        "scratch_file_system": where,
        "platform": platform.platform(),
        "repeat": repeat,
        "runtime_seconds": runtime,
        "rows": [row.as_dict() for row in rows],
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
