"""Decide what a deploy sends to Ganymede, then send exactly that.

Deciding is pure: ``plan()`` compares three views of an environment folder (the
local tree, Ganymede's current snapshot, and the manifest of the last pull, plus
the versions of each file that this repository committed since that pull) and
classifies every path. Doing is small: ``send()`` turns a plan into one PUT.
``deploy_environment()`` wires both to the client, git history and validation.

Never does: write to the working tree, print, decide anything from commit
messages, or retry a PUT that may have reached Ganymede without reading the
remote state again first.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import logging
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ganymede_sync.errors import ConfigError, DeployRefused

if TYPE_CHECKING:
    from ganymede_sync.client import GanymedeClient
    from ganymede_sync.config import Environment, Settings

logger = logging.getLogger(__name__)

MAX_REPLANS = 3
"""How often a deploy re-reads the remote after an answer that never came."""


class Status(enum.Enum):
    """What a deploy does with one path; the value is what the plan table shows."""

    UNCHANGED = "unchanged"
    SEND = "send"
    NEW_LIB = "send (new lib file)"
    OVERWRITE = "send (overwrites a Ganymede edit: --force)"
    REMOTE_AHEAD = "changed in Ganymede: pull to update"
    CONFLICT = "conflict: changed here and in Ganymede"
    NEW_NODE = "new node file: create the node in the Flow Editor"
    DELETED_LOCALLY = "deleted here, still in Ganymede (the API cannot delete)"


SENT_STATUSES = frozenset({Status.SEND, Status.NEW_LIB, Status.OVERWRITE})
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


def sha256_hex(data: bytes) -> str:
    """Return the hex sha256 of ``data``: the manifest's way to name content."""
    return hashlib.sha256(data).hexdigest()


def blob_id(data: bytes) -> str:
    """Return git's blob id of ``data``, so content compares with git history directly."""
    header = b"blob %d\0" % len(data)
    return hashlib.sha1(header + data, usedforsecurity=False).hexdigest()


def plan(
    local: Mapping[str, bytes],
    remote: Mapping[str, bytes],
    base: Mapping[str, str],
    *,
    ours: Mapping[str, Set[str]] | None = None,
    force: bool = False,
) -> DeployPlan:
    """Classify every path seen locally, remotely or at the last pull.

    ``base`` maps paths to the sha256 recorded by the last pull; ``ours`` maps paths
    to git blob ids of versions this repository committed since then. A remote
    file equal to its base or to one of ``ours`` has not been edited in Ganymede,
    so local changes may replace it; anything else is someone else's edit.
    """
    ours = ours or {}
    entries = []
    contents = {}
    for path in sorted(set(local) | set(remote) | set(base)):
        status = _classify(
            path, local.get(path), remote.get(path), base.get(path), ours.get(path, ()), force
        )
        if status is None:
            continue
        entries.append(PlanEntry(path, status))
        if status in SENT_STATUSES:
            contents[path] = local[path]
    return DeployPlan(tuple(entries), contents)


def _classify(
    path: str,
    local: bytes | None,
    remote: bytes | None,
    base: str | None,
    ours: Iterable[str],
    force: bool,
) -> Status | None:
    """Return the status of one path, or None for a file gone on both sides."""
    if local is None:
        if remote is None:
            return None
        known = base is not None or blob_id(remote) in set(ours)
        return Status.DELETED_LOCALLY if known else Status.REMOTE_AHEAD
    if remote is None:
        return _classify_absent_remotely(path, local, base, force)
    if local == remote:
        return Status.UNCHANGED
    if sha256_hex(remote) == base or blob_id(remote) in set(ours):
        return Status.SEND
    if base is not None and sha256_hex(local) == base:
        return Status.REMOTE_AHEAD
    return Status.OVERWRITE if force else Status.CONFLICT


def _classify_absent_remotely(path: str, local: bytes, base: str | None, force: bool) -> Status:
    """Classify a local file that Ganymede does not have (any more)."""
    if base is not None and sha256_hex(local) == base:
        # Deleted in Ganymede since the last pull and untouched here: a pull removes it.
        return Status.REMOTE_AHEAD
    if not is_lib_path(path):
        return Status.NEW_NODE
    if base is not None:
        # Deleted in Ganymede, changed here: sending would silently undo that deletion.
        return Status.OVERWRITE if force else Status.CONFLICT
    return Status.NEW_LIB

