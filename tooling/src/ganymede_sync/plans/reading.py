"""Read both sides of a deploy: the folder's files and Ganymede's snapshot, as hashes.

Reading streams every file through sha256 and keeps bytes only of local files that
differ from Ganymede's, the only ones a deploy can send, so memory does not grow
with the environment. ``plan_environment()`` adds git history and the record of
sent versions, then asks ``planning`` to classify; ``plan_offline()`` plans against
the last pull alone.

Never does: write anything, print, or send anything to Ganymede.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ganymede_sync.errors import ArchiveError, DeployRefused, FlowFileProblem
from ganymede_sync.local import gitops
from ganymede_sync.local.deploy_history import deployed_blobs
from ganymede_sync.local.deploy_record import recorded_deploys
from ganymede_sync.plans.flow_changes import FlowPlan, plan_flow
from ganymede_sync.plans.planning import DeployPlan, LocalFile, RemoteFile, Status, plan
from ganymede_sync.rules import flow_file
from ganymede_sync.rules.flow_file import FlowFile
from ganymede_sync.rules.hashing import blob_hasher, sha256_bytes
from ganymede_sync.rules.layout import flow_file_path, is_flow_file, walk_managed
from ganymede_sync.state.manifest import Manifest, load_manifest

if TYPE_CHECKING:
    from ganymede_sync.remote.archive import Snapshot
    from ganymede_sync.remote.client import GanymedeClient, ProgressCallback
    from ganymede_sync.settings.config import ArchiveLimits, Environment, Settings

WHOLE_READ_BYTES = 1 << 20
"""Files up to this size are read in one piece; bigger ones are hashed in pieces this size."""


def known_flows(
    environment: Environment, manifest: Manifest | None = None
) -> dict[str, tuple[str, bytes]]:
    """The flow files of the folder's last pull that are still as pulled, with the version
    Ganymede listed then: flow id -> (version, bytes). A read of Ganymede that lists the
    same version takes these bytes instead of asking for the flow's document again.

    ``manifest`` is the folder's, when the caller has read it already."""
    manifest = manifest or load_manifest(environment.manifest_path)
    if manifest is None:
        return {}
    known = {}
    for flow, version in manifest.flow_versions.items():
        path = flow_file_path(flow)
        recorded = manifest.files.get(path)
        try:
            data = (environment.path / path).read_bytes()
        except OSError:
            continue
        if recorded is not None and sha256_bytes(data) == recorded:
            known[flow] = (version, data)
    return known


def read_remote(
    client: GanymedeClient,
    limits: ArchiveLimits | None = None,
    progress: ProgressCallback | None = None,
    known: Mapping[str, tuple[str, bytes]] | None = None,
) -> tuple[dict[str, RemoteFile], dict[str, FlowFile]]:
    """Download Ganymede's current snapshot exactly as a pull does and hash every file.

    Members are streamed through the hashes, so no file's bytes outlive its reading;
    the flow files (small, and compared field by field) are returned read as well.
    """
    from ganymede_sync.remote.fetch import fetch_snapshot

    with fetch_snapshot(
        client, include_lib=True, limits=limits, progress=progress, known=known
    ) as snapshot:
        hashes = {path: _hash_member(snapshot, path) for path in snapshot.paths}
        flows = {p: flow_file.parse(snapshot.read(p)) for p in snapshot.paths if is_flow_file(p)}
    return hashes, flows


def read_remote_contents(
    client: GanymedeClient, paths: Iterable[str], limits: ArchiveLimits | None = None
) -> dict[str, bytes]:
    """Return Ganymede's current bytes of ``paths`` (those it holds), for ``status --diff``."""
    from ganymede_sync.remote.fetch import fetch_snapshot

    with fetch_snapshot(client, include_lib=True, limits=limits) as snapshot:
        return {path: snapshot.read(path) for path in paths if path in snapshot}


def _hash_member(snapshot: Snapshot, path: str) -> RemoteFile:
    """Hash one archive member, in pieces when it is big (limits apply as when pulling)."""
    size = snapshot.size(path)
    if size <= WHOLE_READ_BYTES:
        return RemoteFile.of(snapshot.read(path))
    sha256 = hashlib.sha256()
    # Git hashes a header with the size first: the declared size, checked below.
    blob = blob_hasher(size)
    produced = 0
    for chunk in snapshot.chunks(path):
        sha256.update(chunk)
        blob.update(chunk)
        produced += len(chunk)
    if produced != size:
        raise ArchiveError(
            f"archive entry '{path}' holds {produced} bytes but declares {size}: "
            "deploy again; nothing was sent"
        )
    return RemoteFile(sha256.hexdigest(), blob.hexdigest())


def read_local(folder: Path, remote: Mapping[str, RemoteFile]) -> dict[str, LocalFile]:
    """Hash every managed file of ``folder``; keep the bytes only of those unlike ``remote``.

    A file equal to Ganymede's is never sent, so holding it would only make memory
    grow with the environment; the others are few, and sending needs them.
    """
    local = {}
    for path, file in walk_managed(folder):
        theirs = remote.get(path)
        if is_flow_file(path):
            local[path] = _read_flow_file(Path(file))
        else:
            local[path] = _read_local_file(file, theirs.sha256 if theirs else None)
    return local


def _read_flow_file(file: Path) -> LocalFile:
    """Read a flow file in its canonical form, so a change of layout alone is no change
    (a file that cannot be read as one is kept as it is: the plan refuses it)."""
    return LocalFile.of(flow_file.canonical(file.read_bytes()))


def flow_plans(
    local: Mapping[str, LocalFile],
    remote: Mapping[str, RemoteFile],
    remote_flows: Mapping[str, FlowFile],
    to_send: Iterable[str],
) -> dict[str, FlowPlan]:
    """Return the plan of each flow file to send: what it changes in Ganymede's flow."""
    plans = {}
    for path in to_send:
        if not is_flow_file(path):
            continue
        data = local[path].data or b""
        try:
            parsed, problem = flow_file.parse(data), None
        except FlowFileProblem as error:
            parsed, problem = None, str(error)
        flow = path.split("/", 1)[0]
        theirs = remote_flows.get(path)
        plans[path] = plan_flow(flow, parsed, theirs, problem, exists=path in remote)
    return plans


def declared_nodes(folder: Path, local: Mapping[str, LocalFile]) -> set[tuple[str, str]]:
    """Return (flow, node) of every task the folder's flow files hold (their bytes are
    always kept: ``_read_flow_file``)."""
    flow_files = {path: file.data or b"" for path, file in local.items() if is_flow_file(path)}
    return flow_file.declared_nodes(flow_files)


def _read_local_file(file: str | Path, remote_sha256: str | None) -> LocalFile:
    """Hash one file, keeping its bytes unless its sha256 is ``remote_sha256``."""
    with open(file, "rb") as handle:
        if os.fstat(handle.fileno()).st_size <= WHOLE_READ_BYTES:
            found = LocalFile.of(handle.read())
            return LocalFile(found.sha256) if found.sha256 == remote_sha256 else found
        digest = hashlib.sha256()
        while chunk := handle.read(WHOLE_READ_BYTES):
            digest.update(chunk)
    sha256 = digest.hexdigest()
    if sha256 == remote_sha256:
        return LocalFile(sha256)
    # A big changed file: read it again to keep it, making sure it is what was hashed.
    with open(file, "rb") as handle:
        data = handle.read()
    if sha256_bytes(data) != sha256:
        raise DeployRefused(f"{file} changed while the deploy read it: deploy again")
    return LocalFile(sha256, data)


def plan_environment(
    client: GanymedeClient,
    settings: Settings,
    environment: Environment,
    *,
    force: bool = False,
    progress: ProgressCallback | None = None,
    pending: Mapping[str, bytes | None] | None = None,
    prune_nodes: bool = False,
) -> DeployPlan:
    """Plan a deploy of ``environment``: read local files, git history and the remote.

    ``pending`` plans the folder as it will be once those files are written (path ->
    new bytes) or deleted (None), without touching it: a promotion shows its plan first.
    """
    manifest = _require_manifest(environment)
    repo = gitops.open_repository(settings.root)
    ours = (
        repo.committed_versions(environment.path, environment.manifest_path)
        if repo is not None
        else {}
    )
    for record in (
        recorded_deploys(settings, environment),
        deployed_blobs(settings, environment, settings.target(environment)),
    ):
        for path, blobs in record.items():
            ours.setdefault(path, set()).update(blobs)
    remote, remote_flows = read_remote(
        client, settings.archive_limits, progress, known=known_flows(environment, manifest)
    )
    # Local files are read after the remote, to know which ones' bytes to keep.
    local = _without_ignored(read_local(environment.path, remote), settings, environment, remote)
    _add_pending(local, pending or {})
    return _planned(environment, local, remote, remote_flows, manifest, ours, force, prune_nodes)


def _add_pending(local: dict[str, LocalFile], pending: Mapping[str, bytes | None]) -> None:
    for path, data in pending.items():
        if data is None:
            local.pop(path, None)
        else:
            local[path] = LocalFile.of(flow_file.canonical(data) if is_flow_file(path) else data)


def _planned(
    environment: Environment,
    local: Mapping[str, LocalFile],
    remote: Mapping[str, RemoteFile],
    remote_flows: Mapping[str, FlowFile],
    manifest: Manifest,
    ours: Mapping[str, set[str]],
    force: bool,
    prune_nodes: bool,
) -> DeployPlan:
    declared = declared_nodes(environment.path, local)
    drafted = plan(local, remote, manifest.files, ours=ours, force=force, declared=declared)
    shown = [*drafted.to_send, *drafted.paths(Status.CONFLICT)]
    flows = flow_plans(local, remote, remote_flows, shown)
    incoming = incoming_changes(local, remote_flows, drafted.paths(Status.REMOTE_AHEAD))
    return replace(drafted, flows=flows, prune_nodes=prune_nodes, incoming=incoming)


def incoming_changes(
    local: Mapping[str, LocalFile], remote_flows: Mapping[str, FlowFile], paths: Iterable[str]
) -> dict[str, tuple[str, ...]]:
    """Say what Ganymede changed in flow files changed there only: what a pull brings."""
    incoming = {}
    for path in paths:
        theirs, ours = remote_flows.get(path), local.get(path)
        if not is_flow_file(path) or theirs is None or ours is None or ours.data is None:
            continue
        try:
            mine = flow_file.parse(ours.data)
        except FlowFileProblem:
            continue
        # Described as if Ganymede's version were sent over ours: its changes, in order.
        lines = plan_flow(path.split("/", 1)[0], theirs, mine, None, exists=True).lines
        incoming[path] = tuple(f"in Ganymede: {line}" for line in lines)
    return incoming


def plan_offline(
    settings: Settings, environment: Environment, *, prune_nodes: bool = False
) -> DeployPlan:
    """Plan against the last pull recorded in the manifest, without reading Ganymede.

    Needs no token, so it can run where no secret may go (pull requests). It cannot
    see edits made in Ganymede since that pull: a file changed only there shows as
    unchanged, and no conflict can show.
    """
    manifest = _require_manifest(environment)
    pulled = {path: RemoteFile(sha256, "") for path, sha256 in manifest.files.items()}
    local = _without_ignored(read_local(environment.path, pulled), settings, environment, pulled)
    return _planned(environment, local, pulled, _pulled_flows(settings, environment, manifest),
                    manifest, {}, False, prune_nodes)  # fmt: skip


def _pulled_flows(
    settings: Settings, environment: Environment, manifest: Manifest
) -> dict[str, FlowFile]:
    """Return the flow files as the last pull wrote them, from the commit that recorded
    that pull; one not found there is left out (its changes cannot be listed offline)."""
    repo = gitops.open_repository(settings.root)
    wanted = {environment.path / path: path for path in manifest.files if is_flow_file(path)}
    if repo is None or not wanted:
        return {}
    found = repo.pulled_versions(environment.manifest_path, wanted)
    return {
        wanted[file]: flow_file.parse(data)
        for file, data in found.items()
        if sha256_bytes(data) == manifest.files[wanted[file]]
    }


def _without_ignored(
    local: dict[str, LocalFile],
    settings: Settings,
    environment: Environment,
    remote: Mapping[str, RemoteFile],
) -> dict[str, LocalFile]:
    """Drop git-ignored files that Ganymede does not have: they are the user's alone.

    A ``*_local.py`` holding a password must never be sent, nor even listed.
    """
    repo = gitops.open_repository(settings.root)
    ignored = repo.ignored_paths(environment.path) if repo is not None else set()
    for path in ignored - set(remote):
        local.pop(path, None)
    return local


def _require_manifest(environment: Environment) -> Manifest:
    manifest = load_manifest(environment.manifest_path)
    if manifest is None:
        raise DeployRefused(
            f"no pull of '{environment.folder}' is recorded "
            f"({environment.manifest_path.parent.name}/{environment.manifest_path.name} "
            f"is missing): run invoke pull --env {environment.folder} first"
        )
    return manifest
