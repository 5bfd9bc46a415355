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
from pathlib import Path
from typing import TYPE_CHECKING

from ganymede_sync.errors import ArchiveError, DeployRefused
from ganymede_sync.local import gitops
from ganymede_sync.local.deploy_record import recorded_deploys
from ganymede_sync.plans.planning import DeployPlan, LocalFile, RemoteFile, plan
from ganymede_sync.rules.hashing import blob_hasher, sha256_bytes
from ganymede_sync.rules.layout import walk_managed
from ganymede_sync.state.manifest import Manifest, load_manifest

if TYPE_CHECKING:
    from ganymede_sync.remote.archive import Snapshot
    from ganymede_sync.remote.client import GanymedeClient, ProgressCallback
    from ganymede_sync.settings.config import ArchiveLimits, Environment, Settings

WHOLE_READ_BYTES = 1 << 20
"""Files up to this size are read in one piece; bigger ones are hashed in pieces this size."""


def read_remote(
    client: GanymedeClient,
    limits: ArchiveLimits | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, RemoteFile]:
    """Download Ganymede's current snapshot exactly as a pull does and hash every file.

    Members are streamed through the hashes, so no file's bytes outlive its reading.
    """
    from ganymede_sync.remote.fetch import fetch_snapshot

    with fetch_snapshot(client, include_lib=True, limits=limits, progress=progress) as snapshot:
        return {path: _hash_member(snapshot, path) for path in snapshot.paths}


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
        local[path] = _read_local_file(file, theirs.sha256 if theirs else None)
    return local


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
    for path, blobs in recorded_deploys(settings, environment).items():
        ours.setdefault(path, set()).update(blobs)
    remote = read_remote(client, settings.archive_limits, progress)
    # Local files are read after the remote, to know which ones' bytes to keep.
    local = _without_ignored(read_local(environment.path, remote), settings, environment, remote)
    for path, data in (pending or {}).items():
        if data is None:
            local.pop(path, None)
        else:
            local[path] = LocalFile.of(data)
    return plan(local, remote, manifest.files, ours=ours, force=force)


def plan_offline(settings: Settings, environment: Environment) -> DeployPlan:
    """Plan against the last pull recorded in the manifest, without reading Ganymede.

    Needs no token, so it can run where no secret may go (pull requests). It cannot
    see edits made in Ganymede since that pull: a file changed only there shows as
    unchanged, and no conflict can show.
    """
    manifest = _require_manifest(environment)
    pulled = {path: RemoteFile(sha256, "") for path, sha256 in manifest.files.items()}
    local = _without_ignored(read_local(environment.path, pulled), settings, environment, pulled)
    return plan(local, pulled, manifest.files)


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
