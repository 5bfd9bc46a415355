"""Decide what a deploy sends to Ganymede: pure functions of hashes, nothing read or sent.

``plan()`` compares three views of an environment folder (the local tree,
Ganymede's current snapshot, and the manifest of the last pull, plus the versions
of each file that this repository committed or sent since that pull) and
classifies every path. ``refusal_reasons()`` says why a plan cannot be sent. The
views are read by ``reading``; a plan is sent by ``sending``.

Never does: read a file, ask git or Ganymede anything, print.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace

from ganymede_sync.plans.checks import compile_problems
from ganymede_sync.plans.flow_changes import FlowPlan
from ganymede_sync.plans.flow_changes import problems as flow_problems
from ganymede_sync.rules import naming
from ganymede_sync.rules.hashing import blob_id, sha256_bytes
from ganymede_sync.rules.layout import flow_of, is_flow_file, is_lib_path, node_of


class Status(enum.Enum):
    """What a deploy does with one path; the value is what the plan table shows."""

    UNCHANGED = "unchanged"
    SEND = "send"
    NEW_LIB = "send (new lib file)"
    OVERWRITE = "send (overwrites a Ganymede edit: --force)"
    REMOTE_AHEAD = "changed in Ganymede: pull to update"
    CONFLICT = "conflict: changed here and in Ganymede"
    NEW_FLOW = "send (creates the flow)"
    NEW_NODE_CODE = "send (code of a node its flow.json adds)"
    NEW_NODE = "new node file: add the node to its flow.json"
    DELETED_LOCALLY = "deleted here, still in Ganymede (the API cannot delete)"


SENT_STATUSES = frozenset(
    {Status.SEND, Status.NEW_LIB, Status.OVERWRITE, Status.NEW_FLOW, Status.NEW_NODE_CODE}
)
REFUSED_STATUSES = frozenset({Status.CONFLICT, Status.NEW_NODE})


@dataclass(frozen=True)
class PlanEntry:
    """One path of the environment folder and what a deploy does with it."""

    path: str
    status: Status


@dataclass(frozen=True)
class DeployPlan:
    """Every path seen on either side, sorted, with the content of files to send."""

    entries: tuple[PlanEntry, ...]
    contents: Mapping[str, bytes] = field(default_factory=dict, repr=False, compare=False)
    """Local bytes of the files to send, kept so sending reads nothing twice."""
    remote_blobs: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    """Git blob id of Ganymede's version of each file to send (absent: Ganymede has none).

    The commit message of a deploy lists the commits made since that version.
    """
    flows: Mapping[str, FlowPlan] = field(default_factory=dict, repr=False, compare=False)
    """The structure and settings changes of each flow file to send, by its path."""
    prune_nodes: bool = field(default=False, compare=False)
    """Whether flow files may remove nodes from Ganymede's flows (``--prune-nodes``)."""
    selected: tuple[str, ...] = field(default=(), compare=False)
    """The flows this plan covers (``deploy --flow``); empty: the whole folder."""
    with_lib: bool = field(default=True, compare=False)
    """With ``selected``: whether ``lib/`` comes too (``--no-lib`` leaves it out)."""
    incoming: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False)
    """What Ganymede changed in each flow file that is changed there only (a pull brings it)."""

    @property
    def code(self) -> dict[str, bytes]:
        """The files to send through the commits endpoint: all but the flow files."""
        return {path: data for path, data in self.contents.items() if not is_flow_file(path)}

    def paths(self, *statuses: Status) -> list[str]:
        """Return the paths whose status is one of ``statuses``, sorted."""
        return [entry.path for entry in self.entries if entry.status in statuses]

    @property
    def to_send(self) -> list[str]:
        return self.paths(*SENT_STATUSES)

    @property
    def refused(self) -> list[str]:
        return self.paths(*REFUSED_STATUSES)

    def totals(self) -> dict[Status, int]:
        """Count paths per status, in the order of ``Status``, leaving out zeros."""
        counts = {status: 0 for status in Status}
        for entry in self.entries:
            counts[entry.status] += 1
        return {status: count for status, count in counts.items() if count}


@dataclass(frozen=True)
class RemoteFile:
    """A file of Ganymede's snapshot, known by its hashes alone (its bytes are never kept)."""

    sha256: str
    """Compared with the local file and with the manifest of the last pull."""
    blob: str
    """Git blob id, compared with the versions this repository committed."""

    @classmethod
    def of(cls, data: bytes) -> RemoteFile:
        return cls(sha256_bytes(data), blob_id(data))


@dataclass(frozen=True)
class LocalFile:
    """A managed file of the folder: its sha256, and its bytes when a deploy may send it."""

    sha256: str
    data: bytes | None = field(default=None, repr=False, compare=False)
    """None for a file equal to Ganymede's: it is never sent, so its bytes are not kept."""

    @classmethod
    def of(cls, data: bytes) -> LocalFile:
        return cls(sha256_bytes(data), data)


def plan(
    local: Mapping[str, LocalFile],
    remote: Mapping[str, RemoteFile],
    base: Mapping[str, str],
    *,
    ours: Mapping[str, Set[str]] | None = None,
    force: bool = False,
    declared: Set[tuple[str, str]] = frozenset(),
) -> DeployPlan:
    """Classify every path seen locally, remotely or at the last pull.

    ``base`` maps paths to the sha256 recorded by the last pull; ``ours`` maps paths
    to git blob ids of versions this repository committed since then. A remote
    file equal to its base or to one of ``ours`` has not been edited in Ganymede,
    so local changes may replace it; anything else is someone else's edit. Every
    local file that differs from Ganymede's must come with its bytes: the plan
    keeps those of the files to send. ``declared`` holds the (flow, node) pairs of
    the local flow files' tasks: code of such a node is sent even when Ganymede has
    none yet, since the flow file's update creates the node first.
    """
    ours = ours or {}
    nothing: Set[str] = frozenset()
    entries = []
    contents = {}
    remote_blobs = {}
    for path in sorted(set(local) | set(remote) | set(base)):
        status = _classify(
            path, local.get(path), remote.get(path), base.get(path), ours.get(path, nothing), force
        )
        if status is Status.NEW_NODE and node_of(path) in declared:
            status = Status.NEW_NODE_CODE
        if status is None:
            continue
        entries.append(PlanEntry(path, status))
        if status in SENT_STATUSES:
            contents[path] = _kept_bytes(path, local[path])
            if path in remote and remote[path].blob:
                remote_blobs[path] = remote[path].blob
    return DeployPlan(tuple(entries), contents, remote_blobs)


def _kept_bytes(path: str, local: LocalFile) -> bytes:
    if local.data is None:
        raise ValueError(f"the bytes of {path}, a file to send, were not kept")
    return local.data


def _classify(
    path: str,
    local: LocalFile | None,
    remote: RemoteFile | None,
    base: str | None,
    ours: Set[str],
    force: bool,
) -> Status | None:
    """Return the status of one path, or None for a file gone on both sides."""
    if local is None:
        if remote is None:
            return None
        known = base is not None or remote.blob in ours
        return Status.DELETED_LOCALLY if known else Status.REMOTE_AHEAD
    if remote is None:
        return _classify_absent_remotely(path, local.sha256, base, force)
    if local.sha256 == remote.sha256:
        return Status.UNCHANGED
    if remote.sha256 == base or remote.blob in ours:
        return Status.SEND
    if base is not None and local.sha256 == base:
        return Status.REMOTE_AHEAD
    return Status.OVERWRITE if force else Status.CONFLICT


def _classify_absent_remotely(path: str, local: str, base: str | None, force: bool) -> Status:
    """Classify a local file (``local``: its sha256) that Ganymede does not have (any more)."""
    if base is not None and local == base:
        # Deleted in Ganymede since the last pull and untouched here: a pull removes it.
        return Status.REMOTE_AHEAD
    if is_flow_file(path) and base is None:
        return Status.NEW_FLOW
    if not is_lib_path(path) and not is_flow_file(path):
        return Status.NEW_NODE
    if base is not None:
        # Deleted in Ganymede, changed here: sending would silently undo that deletion.
        return Status.OVERWRITE if force else Status.CONFLICT
    return Status.NEW_LIB


def only_flows(
    deploy_plan: DeployPlan, flows: Sequence[str], *, with_lib: bool = True
) -> DeployPlan:
    """Return the part of ``deploy_plan`` about some flows: their nodes' files and flow
    files, and ``lib/`` (which every flow imports) unless ``with_lib`` is false."""
    chosen = frozenset(flows)

    def kept(path: str) -> bool:
        return flow_of(path) in chosen or (with_lib and is_lib_path(path))

    return replace(
        deploy_plan,
        entries=tuple(entry for entry in deploy_plan.entries if kept(entry.path)),
        contents={path: data for path, data in deploy_plan.contents.items() if kept(path)},
        remote_blobs={p: blob for p, blob in deploy_plan.remote_blobs.items() if kept(p)},
        flows={path: plan for path, plan in deploy_plan.flows.items() if kept(path)},
        incoming={path: lines for path, lines in deploy_plan.incoming.items() if kept(path)},
        selected=tuple(sorted(chosen)),
        with_lib=with_lib,
    )


def narrowed_like(deploy_plan: DeployPlan, model: DeployPlan) -> DeployPlan:
    """Narrow ``deploy_plan`` (a re-plan) to the flows ``model`` covers, if it covers some."""
    if not model.selected:
        return deploy_plan
    return only_flows(deploy_plan, model.selected, with_lib=model.with_lib)


def refusal_reasons(deploy_plan: DeployPlan, folder: str) -> list[str]:
    """Return why ``deploy_plan`` cannot be sent, all reasons at once (empty: it can)."""
    reasons = []
    conflicts = deploy_plan.paths(Status.CONFLICT)
    if conflicts:
        fields = [
            f"{folder}/{path} differs from Ganymede's in: {'; '.join(flow.lines)}"
            for path in conflicts
            if (flow := deploy_plan.flows.get(path)) and flow.lines
        ]
        reasons.append(
            f"changed here and in Ganymede since the last pull: {folder_paths(folder, conflicts)} "
            "(merge Ganymede's edits with git as docs/pull-and-deploy.md shows under 'When a "
            "deploy reports a conflict', or deploy with --force to overwrite Ganymede)"
            + "".join(f"; {line}" for line in fields)
        )
    new_nodes = deploy_plan.paths(Status.NEW_NODE)
    if new_nodes:
        reasons.append(
            f"new node files that Ganymede does not have: {folder_paths(folder, new_nodes)} "
            "(add each node to the tasks of its flow's flow.json, so the deploy creates it)"
        )
    reasons += flow_problems(deploy_plan.flows, folder, prune_nodes=deploy_plan.prune_nodes)
    sent = set(deploy_plan.to_send)
    everywhere = naming.name_problems(entry.path for entry in deploy_plan.entries)
    misnamed = {path: why for path, why in everywhere.items() if path in sent}
    if misnamed:
        reasons.append(
            f"names that a later pull could not write: {naming.listing(folder, misnamed)} "
            "(rename them here, then deploy again)"
        )
    broken = compile_problems(folder, deploy_plan.code)
    if broken:
        reasons.append("Python that does not compile: " + ", ".join(str(p) for p in broken))
    return reasons


def misnamed_in_ganymede(deploy_plan: DeployPlan) -> dict[str, str]:
    """Return the paths Ganymede holds that break the naming rule -> why (a pull refuses them)."""
    local_only = set(
        deploy_plan.paths(Status.NEW_NODE, Status.NEW_LIB, Status.NEW_NODE_CODE, Status.NEW_FLOW)
    )
    return naming.name_problems(e.path for e in deploy_plan.entries if e.path not in local_only)


def folder_paths(folder: str, paths: Iterable[str]) -> str:
    return ", ".join(f"{folder}/{path}" for path in paths)
