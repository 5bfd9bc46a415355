"""Flow structure benchmark: every flow's document, read behind injected latency.

A pull reads one ``getFlowV2`` per flow beside the code archive. With the same latency
added to every API request (the emulator's ``slow`` fault, 50 ms by default: a request
to a cloud API from a CI runner), our bounded pool's fetch of N flow documents is timed
in the same rounds as the code archive download of that environment (signed URL +
archive), and checked against the goal: under 4 s at 500 flows.
"""

from __future__ import annotations

import json
import urllib.request

from benchmarks import harness, workspace
from benchmarks.context import Context
from benchmarks.harness import Case, Row

LATENCY_S = 0.05
GOAL_S = {500: 4.0}
"""The structure fetch's limit in seconds, by size (other sizes are information)."""


def run(ctx: Context, sizes: list[int]) -> None:
    for flows in sizes:
        environment = f"flows{flows}"
        ctx.seed(environment, flows)
        ctx.log(f"flow structure: {flows} flows behind {LATENCY_S * 1000:.0f} ms per request")
        ctx.rows.extend(_measure(ctx, environment, flows))


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
