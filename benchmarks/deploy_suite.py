"""Deploy benchmarks: plan and payload for N changed files out of a large environment.

The plan includes everything a deploy decides before sending (scanning the folder,
fetching and reading the remote snapshot, the manifest and git history, compiling
the Python it would send); the payload is the serialised PUT body of that plan.
Both are compared with reading, base64-encoding and serialising the same N files
in one pass; the plan also with the least work any correct plan does (download,
read both sides whole, compare). The growth exponent over N shows whether the
cost stays linear.
"""

from __future__ import annotations

from benchmarks import baselines, harness, synthetic, workspace
from benchmarks.context import Context
from benchmarks.harness import Case, Row

LINEAR = 1.2
"""Largest fitted exponent still called linear (noise bends small fits a little)."""


def run(ctx: Context, changed_sizes: list[int], total: int) -> None:
    environment = "deploy"
    flows = max(1, (total - synthetic.LIB_FILES) // (2 * synthetic.NODES_PER_FLOW))
    files = synthetic.environment_files(flows)
    ctx.log(f"deploy: {len(files)} files, changed {changed_sizes}")
    workspace.write_pipeline(ctx.pipeline(environment), files, message="Synthetic flows")
    pulled = ctx.pulled_state(environment, files)
    measured: dict[str, list[float]] = {"plan": [], "payload": [], "one-pass": []}
    for count in changed_sizes:
        ctx.restore(pulled)
        paths = _change(ctx, environment, sorted(files), count)
        timings, note = _measure(ctx, environment, paths)
        for label, values in measured.items():
            if label in timings:
                values.append(timings[label].median)
        ctx.rows.extend(_rows(ctx, f"{count:,} of {len(files):,} files", timings, note))
    ctx.restore(pulled)
    ctx.rows.extend(_growth_rows(changed_sizes, measured))


def _change(ctx: Context, environment: str, paths: list[str], count: int) -> list[str]:
    """Edit `count` files spread over the folder and commit them, as a merge would."""
    step = max(1, len(paths) // count)
    chosen = paths[::step][:count]
    folder = ctx.folder(environment)
    for path in chosen:
        (folder / path).write_bytes(synthetic.edited(path, 1000 + count))
    ctx.commit_all(f"Change {count} files")
    return chosen


def _measure(
    ctx: Context, environment: str, paths: list[str]
) -> tuple[dict[str, harness.Timing], str]:
    library = ctx.library
    folder = ctx.folder(environment)
    scratch = ctx.scratch / "diff.zip"

    def diff() -> None:
        url = baselines.snapshot_url(ctx.api_url, workspace.TOKEN, environment)
        baselines.plain_diff(url, scratch, folder)

    cases = [
        Case("one-pass", lambda: baselines.one_pass_payload(folder, paths)),
        Case("plain diff", diff),
    ]
    note = ""
    if library.missing("plan") is None:
        plan = library.plan(environment)
        sent = len(plan.to_send)
        if sent != len(paths):
            note = f"WRONG RESULT: plan sends {sent} files, {len(paths)} changed"
        name = f"deploy-{len(paths)}"
        cases += [
            Case("plan", lambda: library.plan(environment), profile=f"{name}-plan"),
            Case("payload", lambda: library.payload(plan), profile=f"{name}-payload"),
        ]
    return harness.measure(cases, repeat=ctx.repeat), note


def _rows(ctx: Context, size: str, timings: dict[str, harness.Timing], note: str) -> list[Row]:
    missing = ctx.library.missing("plan")
    note = f"missing {missing}" if missing else note

    def row(label: str, case: str, baseline: str, name: str, goal: float | None) -> Row:
        return Row.timed("deploy", case, size, timings.get(label), name, timings[baseline],
                         goal=goal, note=note)  # fmt: skip

    return [
        row("plan", "plan (incl. remote)", "plain diff", "urllib + read both + compare", None),
        row("plan", "plan (incl. remote)", "one-pass", "read+b64+json", None),
        row("payload", "payload", "one-pass", "read+b64+json", 2.0),
    ]


def _growth_rows(sizes: list[int], measured: dict[str, list[float]]) -> list[Row]:
    """Fit time ~ N^k over the changed-file counts, for ours and the baseline."""
    rows = []
    span = f"N = {sizes[0]:,}..{sizes[-1]:,}"
    for label, values in measured.items():
        exponent = None
        if len(values) == len(sizes) and len(sizes) >= 2:
            exponent = harness.growth_exponent(sizes, values)
        limit = LINEAR if label != "one-pass" else None
        rows.append(Row("deploy", f"growth exponent: {label}", span, exponent, unit="k",
                        limit=limit, note="time ~ N^k; 1 = linear"))  # fmt: skip
    return rows
