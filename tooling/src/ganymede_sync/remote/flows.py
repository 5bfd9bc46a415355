"""Fetch every flow's structure and settings from Ganymede as flow files.

One ``getFlowV2`` per flow, sent from a pool of ``WORKERS`` threads so that an environment of
hundreds of flows is read in about the time of its slowest requests, not their sum;
the client's own retries honour 429 and ``Retry-After``, and each request keeps its
deadline. Every answer is untrusted: its shape is checked (``flow_file``) and its
canonical form is bounded in size before it is kept.

Never writes, never prints.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import CancelledError, ThreadPoolExecutor
from typing import TYPE_CHECKING

from ganymede_sync.errors import ApiError, FlowFileProblem, LimitExceeded
from ganymede_sync.rules import flow_file
from ganymede_sync.rules.layout import flow_file_path, is_valid_flow_name
from ganymede_sync.rules.visible import visible
from ganymede_sync.settings.config import ENTRIES_LIMIT_SETTING

if TYPE_CHECKING:
    from ganymede_sync.remote.client import GanymedeClient

WORKERS = 16
"""Flow documents read at once: enough to hide a cloud API's latency (500 flows at 50 ms
in about 2 s), few enough to stay within its throttling (429s are waited out anyway)."""
MAX_FLOW_FILE_BYTES = 1 << 20
"""Largest flow file kept; a flow's tasks and settings are a few kilobytes."""


KnownFlows = Mapping[str, tuple[str, bytes]]
"""Flow id -> (version, flow file bytes) known from the last pull: what Ganymede held
then, kept in the repository."""


def fetch_flow_files(
    client: GanymedeClient,
    *,
    flow: str | None = None,
    max_flows: int = 200_000,
    known: KnownFlows | Callable[[], KnownFlows] | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, bytes], dict[str, str]]:
    """Return ``<flow>/flow.json`` -> canonical bytes for every flow (or only ``flow``), and
    flow id -> the version Ganymede lists.

    A flow that Ganymede lists at the version ``known`` records is not read again: its
    document is the one pulled then (the guess, written down in docs/flows.md: a flow's
    version changes with every save of its structure or settings). Flows whose id cannot
    name a folder are left out (their code is refused by name the same way); a flow
    deleted between the list and its read is left out too. Once ``stop`` is set (the caller
    failed meanwhile), the reads not yet sent are not sent and ``CancelledError`` is raised.
    ``known`` may be a function, called once the list has come (a pull reads the folder's
    flow files meanwhile). ``progress(done, total)`` is told of each document read, from
    the reading threads.
    """
    stop = stop or threading.Event()
    counted = _Counter(progress)

    def read(one: str) -> bytes | None:
        if stop.is_set():
            raise CancelledError
        data = _flow_file(client, one)
        counted.one_more()
        return data

    listed = _listed_flows(client, flow)
    if len(listed) > max_flows:
        raise LimitExceeded(
            f"Ganymede lists {len(listed)} flows, more than the {max_flows} entries a pull accepts",
            limit=max_flows,
            setting=ENTRIES_LIMIT_SETTING,
        )
    if callable(known):
        known = known()  # worked out meanwhile by the caller, needed only now
    known = known or {}
    reused = {one: known[one][1] for one, version in listed.items()
              if version is not None and one in known and known[one][0] == version}  # fmt: skip
    to_read = [one for one in listed if one not in reused]
    counted.start(len(to_read))
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="flow-read") as pool:
        answers = dict(zip(to_read, pool.map(read, to_read), strict=True))
    files = {**reused, **{one: data for one, data in answers.items() if data is not None}}
    versions = {one: version for one, version in listed.items()
                if version is not None and one in files}  # fmt: skip
    return {flow_file_path(one): data for one, data in sorted(files.items())}, versions


class _Counter:
    """Count the documents read, from any thread, and pass each new count on."""

    def __init__(self, progress: Callable[[int, int], None] | None) -> None:
        self.total = 0
        self._progress = progress
        self._done = 0
        self._lock = threading.Lock()

    def start(self, total: int) -> None:
        """Say how many documents are to be read (none: nothing is said)."""
        self.total = total
        if self._progress is not None and total:
            self._progress(0, total)

    def one_more(self) -> None:
        if self._progress is None:
            return
        with self._lock:
            self._done += 1
            self._progress(self._done, self.total)


def listed_versions(client: GanymedeClient) -> dict[str, str]:
    """Flow id -> the version Ganymede lists for it, for the flows listed with one."""
    return {flow: version for flow, version in _listed_flows(client, None).items() if version}


def _listed_flows(client: GanymedeClient, flow: str | None) -> dict[str, str | None]:
    """Flow id -> its listed version (None when the list gives none), sorted by id."""
    found: dict[str, str | None] = {}
    for record in client.list_flows():
        identifier = record.get("id") if isinstance(record, dict) else None
        if isinstance(identifier, str) and is_valid_flow_name(identifier):
            version = record.get("version")
            found[identifier] = str(version) if isinstance(version, (str, int)) else None
    if flow is not None:
        return {flow: found.get(flow)}
    return dict(sorted(found.items()))


def _flow_file(client: GanymedeClient, flow: str) -> bytes | None:
    try:
        document = client.get_flow(flow)
    except ApiError as error:
        if error.status == 404:
            return None
        raise
    try:
        data = flow_file.from_document(document).encode()
    except FlowFileProblem as problem:
        raise ApiError(
            f"Ganymede's document of flow '{visible(flow)}' is not one this tooling can keep: "
            f"{visible(str(problem))}; nothing was written"
        ) from None
    if len(data) > MAX_FLOW_FILE_BYTES:
        raise LimitExceeded(
            f"the document of flow '{visible(flow)}' is {len(data)} bytes, more than the "
            f"{MAX_FLOW_FILE_BYTES} a flow file may hold; nothing was written",
            limit=MAX_FLOW_FILE_BYTES,
            setting=None,
        )
    return data


ACTIVE_STATES = ("Queued", "Running")


def active_runs(client: GanymedeClient, flows: list[str]) -> dict[str, list[str]]:
    """Return flow -> ids of its runs still Queued or Running, for the flows that have any.

    Read with the same pool as the flow documents; a flow Ganymede does not know (one a
    deploy is about to create) has no runs.
    """
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="flow-runs") as pool:
        found = list(pool.map(lambda flow: _active(client, flow), flows))
    return {flow: ids for flow, ids in zip(flows, found, strict=True) if ids}


def _active(client: GanymedeClient, flow: str) -> list[str]:
    try:
        runs = client.flow_runs(flow)
    except ApiError as error:
        if error.status == 404:
            return []
        raise
    listed = runs if isinstance(runs, list) else []
    return [
        str(run.get("id"))
        for run in listed
        if isinstance(run, dict) and run.get("state") in ACTIVE_STATES
    ]
