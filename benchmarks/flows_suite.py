"""Flow structure benchmarks: every flow's document read, and a deploy that sends settings.

A pull reads one ``getFlowV2`` per flow beside the code archive. With the same latency
added to every API request (the emulator's ``slow`` fault, 50 ms by default: a request
to a cloud API from a CI runner), our bounded pool's fetch of N flow documents is timed
in the same rounds as the code archive download of that environment (signed URL +
archive), and checked against the goal: under 4 s at 500 flows.

A deploy of a tenth of the flows, each with a settings edit in its flow file and an
edited node, is timed whole (plan, code commit, settings) against the least any such
deploy sends: one PUT of the code and one settings PATCH per flow, with no plan.
"""

from __future__ import annotations

import itertools
import json
import urllib.request
from collections.abc import Mapping

from benchmarks import baselines, harness, synthetic, workspace
from benchmarks.context import Context
from benchmarks.harness import Case, Row

LATENCY_S = 0.05
GOAL_S = {500: 4.0}
"""The structure fetch's limit in seconds, by size (other sizes are information)."""


DEPLOYED_SHARE = 10
"""One flow in this many gets a settings edit and a code edit in the deploy case."""


def run(ctx: Context, sizes: list[int]) -> None:
    for flows in sizes:
        environment = f"flows{flows}"
        files = ctx.seed(environment, flows)
        ctx.log(f"flow structure: {flows} flows behind {LATENCY_S * 1000:.0f} ms per request")
        ctx.rows.extend(_measure(ctx, environment, flows))
        ctx.log(f"flow structure: deploy of {max(1, flows // DEPLOYED_SHARE)} flows' settings")
        ctx.rows.extend(_deploy(ctx, environment, files, flows))


def _deploy(ctx: Context, environment: str, files: Mapping[str, bytes], flows: int) -> list[Row]:
    """Time a deploy of settings and code edits against a plain PUT and PATCHes."""
    library = ctx.library
    changed = max(1, flows // DEPLOYED_SHARE)
    size = f"{changed} of {flows} flows: settings + 1 node each"
    if library.missing("deploy") or library.missing("pull"):
        return [
            Row(
                "flow structure",
                "deploy settings + code",
                size,
                None,
                note=f"missing {library.missing('deploy') or library.missing('pull')}",
            )
        ]
    ctx.pulled_state(environment, files)
    folder = ctx.folder(environment)
    chosen = sorted({path.split("/")[0] for path in files if not path.startswith("lib/")})
    chosen = chosen[:: max(1, len(chosen) // changed)][:changed]
    code = [min(path for path in files if path.startswith(f"{flow}/")) for flow in chosen]
    variants = itertools.count(1)
    latest: dict[str, dict[str, object]] = {}

    def edit() -> None:
        """Untimed: a new schedule and node edit for every chosen flow, committed."""
        variant = next(variants)
        schedule = {"schedule_interval": f"{variant % 60} 4 * * *"}
        for flow, path in zip(chosen, code, strict=True):
            flow_file = folder / flow / "flow.json"
            value = json.loads(flow_file.read_text(encoding="utf-8"))
            value["settings"].update(schedule)
            flow_file.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", "utf-8")
            (folder / path).write_bytes(synthetic.edited(path, variant))
        ctx.commit_all(f"Edit {changed} flows")
        latest.update({flow: dict(schedule) for flow in chosen})

    sent: dict[str, int] = {}

    def ours() -> None:
        sent["count"] = len(library.deploy(environment))

    def plain() -> None:
        baselines.plain_deploy(ctx.api_url, workspace.TOKEN, environment, folder, code,
                               latest, workspace.AUTHOR)  # fmt: skip

    timings = harness.measure(
        [Case("deploy", ours, edit, "flow-deploy"), Case("plain", plain, edit)],
        repeat=ctx.repeat,
    )
    wanted = 2 * changed  # each flow's flow file and its edited node
    got = sent.get("count")
    note = "" if got == wanted else f"WRONG: sent {got} files, {wanted} changed"
    return [Row.timed("flow structure", "deploy settings + code", size, timings["deploy"],
                      "PUT + PATCH per flow", timings["plain"], note=note)]  # fmt: skip


def _measure(ctx: Context, environment: str, flows: int) -> list[Row]:
    library = ctx.library
    size = f"{flows} flows, +{LATENCY_S * 1000:.0f} ms/request"
    if library.missing("flow_files"):
        return [Row(suite="flow structure", case="fetch", size=size, ours=None,
                    baseline_name="archive download", baseline=None,
                    note=f"missing {library.missing('flow_files')}")]  # fmt: skip
    downloaded = ctx.scratch / "flows-archive.zip"
    fetched: dict[str, int] = {}

    def structure() -> None:
        fetched["files"] = len(library.flow_files(environment))

    cases = [
        Case("structure", structure, lambda: _slow(ctx, flows + 1), "flow-structure"),
        Case("archive", lambda: library.download(environment, downloaded), lambda: _slow(ctx, 2)),
    ]
    timings = harness.measure(cases, repeat=ctx.repeat)
    _clear(ctx)
    downloaded.unlink(missing_ok=True)
    got = fetched.get("files")
    note = "" if got == flows else f"WRONG: fetched {got} flow files of {flows}"
    return [
        Row.timed("flow structure", "fetch every flow", size, timings["structure"],
                  "code archive download", timings["archive"], limit=GOAL_S.get(flows),
                  note=note),
    ]  # fmt: skip


def _slow(ctx: Context, requests: int) -> None:
    """Make the next ``requests`` API requests wait ``LATENCY_S`` first (untimed setup)."""
    _clear(ctx)
    fault = {"kind": "slow", "seconds": LATENCY_S, "count": requests}
    _admin(ctx, "POST", json.dumps(fault).encode())


def _clear(ctx: Context) -> None:
    _admin(ctx, "DELETE", None)


def _admin(ctx: Context, method: str, body: bytes | None) -> None:
    request = urllib.request.Request(  # noqa: S310 - the emulator this run started
        ctx.api_url + "/_emulator/faults",
        data=body,
        method=method,
        headers={"api-key": workspace.TOKEN, "content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        answer.read()
