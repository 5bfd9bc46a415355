"""Pull benchmarks: cold (empty folder) and warm (after an upstream edit), per size.

Our download, our apply (validate + mirror + manifest) and a whole pull are timed
in the same rounds as `unzip -q` and `zipfile.extractall` of the very archive our
code applies, so the ratios compare the same bytes on the same machine state. The
whole pull, in process and as the `invoke pull` command, is timed against the
official pull action's steps (`official_pull.sh`) from the same starting state.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

from benchmarks import baselines, harness, synthetic, workspace
from benchmarks.context import Context, verify
from benchmarks.harness import Case, Row

FLOW_FILE_NAME = "flow.json"
"""The flow files our pull writes beside the code; the official step has none."""
COLD_ARCHIVE = "cold.zip"
"""The snapshot of the cold case: the state a warm pull's folder was pulled from."""
INTERPRETER_ALLOWANCE = 0.5
"""Seconds a whole `invoke pull` process may spend more than the goal ratio allows: the
interpreter and Invoke start-up, which a shell script does not pay."""


def run(ctx: Context, sizes: list[int]) -> None:
    for flows in sizes:
        environment = f"pull{flows}"
        files = ctx.seed(environment, flows)
        ctx.log(f"pull cold: {flows} flows, {len(files)} files")
        empty = ctx.commit_all(f"Before pulling {environment}")
        _cold(ctx, environment, files, empty)
        ctx.log(f"pull warm: {flows} flows")
        _warm(ctx, environment, files, empty)


def _cold(ctx: Context, environment: str, files: Mapping[str, bytes], empty: str) -> None:
    archive = _fetch_archive(ctx, environment, COLD_ARCHIVE)
    size = _describe(files, archive)

    def restore() -> None:
        ctx.restore(empty)

    rows = _measure_round(ctx, environment, archive, size, "pull cold", restore, None)
    ctx.rows.extend(rows)
    restore()
    _check(ctx, environment, files, rows)


def _warm(ctx: Context, environment: str, files: Mapping[str, bytes], empty: str) -> None:
    ctx.restore(empty)
    previous = ctx.pulled_state(environment, files)
    synced = _as_last_synced(ctx, environment)
    state = ctx.scratch / "previous-state"
    shutil.rmtree(state, ignore_errors=True)
    shutil.copytree(ctx.folder(environment), state)

    updates, deleted = synthetic.upstream_edit(dict(files))
    workspace.write_pipeline(ctx.pipeline(environment), updates, deleted, "Upstream edit")
    expected = {**files, **updates}
    for path in deleted:
        del expected[path]
    archive = _fetch_archive(ctx, environment, "warm.zip")
    size = _describe(expected, archive) + f", {len(updates)} changed, {len(deleted)} deleted"

    def restore() -> None:
        ctx.restore(previous)
        synced()

    rows = _measure_round(ctx, environment, archive, size, "pull warm", restore, state)
    ctx.rows.extend(rows)
    restore()
    _check(ctx, environment, expected, rows)
    shutil.rmtree(state, ignore_errors=True)


def _as_last_synced(ctx: Context, environment: str) -> Callable[[], None]:
    """Return a step that leaves the folder as a scheduled sync that found nothing new
    leaves it: every file recorded as seen (the stat cache), as in the field before a
    sync that brings an upstream edit.

    Without it, each warm round would start from files that git has just rewritten
    (the restore), which no earlier pull has seen. Untimed: it is a round's setup.
    """
    library = ctx.library
    if library.missing("apply") or library.missing("flow_files"):
        return lambda: None
    archive = ctx.scratch / COLD_ARCHIVE
    documents = library.flow_documents(environment)  # before the upstream edit
    return lambda: library.apply(environment, archive, documents)


def _measure_round(
    ctx: Context,
    environment: str,
    archive: Path,
    size: str,
    suite: str,
    restore: Callable[[], None],
    state: Path | None,
) -> list[Row]:
    """Time ours and the baselines in interleaved rounds; return the table rows."""
    library = ctx.library
    target = ctx.scratch / "baseline-target"
    downloaded = ctx.scratch / "downloaded.zip"
    work = ctx.scratch / "official-work"
    url_of = ctx.api_url, workspace.TOKEN, environment

    def baseline_setup() -> None:
        shutil.rmtree(target, ignore_errors=True)
        if state is None:
            target.mkdir()
        else:
            # What the official step itself leaves: the archive's files, no flow files.
            shutil.copytree(state, target, ignore=shutil.ignore_patterns(FLOW_FILE_NAME))
        work.mkdir(exist_ok=True)

    def official() -> None:
        baselines.official_pull(*url_of, target, work)

    cases = [
        Case("urllib", lambda: baselines.download(baselines.snapshot_url(*url_of), downloaded)),
        Case("unzip", lambda: baselines.unzip(archive, target), baseline_setup),
        Case("extractall", lambda: baselines.extractall(archive, target), baseline_setup),
    ]
    if baselines.has_official_tools():
        cases.append(Case("official", official, baseline_setup))
    name = f"{suite.replace(' ', '-')}-{environment}"
    if not library.missing("download"):
        download = Case("download", lambda: library.download(environment, downloaded))
        cases.append(download)
    if not library.missing("apply") and not library.missing("flow_files"):
        documents = library.flow_documents(environment)

        def apply() -> None:
            library.apply(environment, archive, documents)

        cases.append(Case("apply", apply, restore, f"{name}-apply"))
    if not library.missing("pull"):
        cases.append(Case("pull", lambda: library.pull(environment), restore, f"{name}-pull"))
        process = Case("process", lambda: library.pull_process(environment), restore)
        cases.append(process)
    if not baselines.has_unzip():
        cases = [case for case in cases if case.label != "unzip"]
    timings = harness.measure(cases, repeat=ctx.repeat)
    rows = _rows(ctx, suite, size, timings)
    if ctx.syscalls and not library.missing("pull") and baselines.has_official_tools():
        restore()
        command, environ = library.pull_command(environment)
        ours = harness.syscall_counts(command, env=environ, cwd=library.root)
        startup = harness.syscall_counts([*command[:3], "--list"], env=environ, cwd=library.root)
        baseline_setup()
        command, environ = baselines.official_pull_command(*url_of, target, work)
        official = harness.syscall_counts(command, env=environ)
        rows += _syscall_rows(suite, size, _file_count(archive), ours, official, startup)
    downloaded.unlink(missing_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    return rows


def _syscall_rows(
    suite: str,
    size: str,
    files: int,
    ours: dict[str, int],
    official: dict[str, int],
    startup: dict[str, int],
) -> list[Row]:
    """One row per group of system calls: `invoke pull` against the official step; the
    note gives both per archive file, ours less what `invoke --list` makes at start-up."""
    return [
        Row(suite, f"syscalls: {group}", size, float(ours[group]), "official step",
            float(official[group]), unit="calls",
            note=f"{(ours[group] - startup[group]) / files:.2f} (start-up {startup[group]:,} "
                 f"left out) vs {official[group] / files:.2f} per file")
        for group in [*harness.SYSCALL_GROUPS, "total"]
    ]  # fmt: skip


def _file_count(archive: Path) -> int:
    with zipfile.ZipFile(archive) as handle:
        return max(1, sum(1 for info in handle.infolist() if not info.is_dir()))


def _rows(ctx: Context, suite: str, size: str, timings: dict[str, harness.Timing]) -> list[Row]:
    def why(piece: str) -> str:
        missing = ctx.library.missing(piece)
        return f"missing {missing}" if missing else ""

    cold = suite == "pull cold"
    # The goals of the pull-performance issue: apply within 1.2x `unzip -q` cold and 1.0x
    # warm; the whole pull within 0.75x cold and 0.3x warm of the official step, with
    # 0.5 s allowed for the interpreter when it runs as the `invoke pull` command.
    goal, whole_goal = (1.2, 0.75) if cold else (1.0, 0.3)
    get = timings.get
    unzip_name = "unzip -q" if "unzip" in timings else "unzip -q (not installed)"
    official_name = "official step" if "official" in timings else "official step (no curl)"
    return [
        Row.timed(suite, "download", size, get("download"), "urllib stream", get("urllib"),
                  note=why("download")),
        Row.timed(suite, "apply", size, get("apply"), unzip_name, get("unzip"), goal=goal,
                  note=why("apply")),
        Row.timed(suite, "apply", size, get("apply"), "zipfile.extractall", get("extractall"),
                  note=why("apply")),
        Row.timed(suite, "whole pull", size, get("pull"), official_name, get("official"),
                  goal=whole_goal, note=why("pull")),
        Row.timed(suite, "invoke pull", size, get("process"), official_name, get("official"),
                  goal=whole_goal, allowance=INTERPRETER_ALLOWANCE, note=why("pull")),
    ]  # fmt: skip


def _check(ctx: Context, environment: str, expected: Mapping[str, bytes], rows: list[Row]) -> None:
    """Run our pull once more and make sure it produced exactly the upstream files."""
    if ctx.library.missing("pull"):
        return
    ctx.library.pull(environment)
    problem = verify(ctx.folder(environment), expected)
    if problem:
        for row in rows:
            if row.case in {"whole pull", "invoke pull"}:
                row.note = problem


def _fetch_archive(ctx: Context, environment: str, name: str) -> Path:
    """Download the current snapshot once with plain HTTP: the bytes every case applies."""
    archive = ctx.scratch / name
    baselines.download(baselines.snapshot_url(ctx.api_url, workspace.TOKEN, environment),
                       archive)  # fmt: skip
    return archive


def _describe(files: Mapping[str, bytes], archive: Path) -> str:
    flows = len({path.split("/")[0] for path in files if not path.startswith("lib/")})
    megabytes = archive.stat().st_size / 1e6
    return f"{flows} flows, {len(files):,} files, {megabytes:.1f} MB zip"
