"""Decide what a deploy sends to Ganymede, then send exactly that.

Deciding is pure: ``plan()`` compares three views of an environment folder (the
local tree, Ganymede's current snapshot, and the manifest of the last pull, plus
the versions of each file that this repository committed since that pull) and
classifies every path. It works from hashes: reading streams every file through
sha256 and keeps bytes only of local files that differ from Ganymede's, the only
ones a deploy can send, so memory does not grow with the environment. Doing is
small: ``send()`` turns a plan into one PUT. ``deploy_environment()`` wires both to
the client, git history and validation.

Never does: write to the working tree (the only file it writes is a record of
sent versions inside the git folder), print, decide anything from commit
messages, or retry a PUT that may have reached Ganymede without reading the
remote state again first.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ganymede_sync import gitops, naming
from ganymede_sync.check import compile_problems
from ganymede_sync.config import AUTHOR_EMAIL_VARIABLE
from ganymede_sync.errors import ArchiveError, ConfigError, DeployRefused, UncertainDeliveryError
from ganymede_sync.layout import is_lib_path, walk_managed
from ganymede_sync.manifest import Manifest, load_manifest, sha256_bytes

if TYPE_CHECKING:
    from ganymede_sync.archive import Snapshot
    from ganymede_sync.client import GanymedeClient, ProgressCallback
    from ganymede_sync.config import ArchiveLimits, Environment, Settings

logger = logging.getLogger(__name__)

MAX_REPLANS = 3
"""How often a deploy re-reads the remote after an answer that never came."""

WHOLE_READ_BYTES = 1 << 20
"""Files up to this size are read in one piece; bigger ones are hashed in pieces this size."""


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
    remote_blobs: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    """Git blob id of Ganymede's version of each file to send (absent: Ganymede has none).

    The commit message of a deploy lists the commits made since that version.
    """

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


def blob_id(data: bytes) -> str:
    """Return git's blob id of ``data``, so content compares with git history directly."""
    header = b"blob %d\0" % len(data)
    return hashlib.sha1(header + data, usedforsecurity=False).hexdigest()


def plan(
    local: Mapping[str, LocalFile],
    remote: Mapping[str, RemoteFile],
    base: Mapping[str, str],
    *,
    ours: Mapping[str, Set[str]] | None = None,
    force: bool = False,
) -> DeployPlan:
    """Classify every path seen locally, remotely or at the last pull.

    ``base`` maps paths to the sha256 recorded by the last pull; ``ours`` maps paths
    to git blob ids of versions this repository committed since then. A remote
    file equal to its base or to one of ``ours`` has not been edited in Ganymede,
    so local changes may replace it; anything else is someone else's edit. Every
    local file that differs from Ganymede's must come with its bytes: the plan
    keeps those of the files to send.
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
    if not is_lib_path(path):
        return Status.NEW_NODE
    if base is not None:
        # Deleted in Ganymede, changed here: sending would silently undo that deletion.
        return Status.OVERWRITE if force else Status.CONFLICT
    return Status.NEW_LIB


# --- doing ----------------------------------------------------------------------
@dataclass(frozen=True)
class DeployOutcome:
    """What a deploy did: the final plan, the paths Ganymede received, its answer."""

    plan: DeployPlan
    sent: tuple[str, ...]
    dry_run: bool
    answer: str = ""
    replanned: bool = False
    """True when an answer never came and the remote was read again to decide."""


def read_remote(
    client: GanymedeClient,
    limits: ArchiveLimits | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, RemoteFile]:
    """Download Ganymede's current snapshot exactly as a pull does and hash every file.

    Members are streamed through the hashes, so no file's bytes outlive its reading.
    """
    from ganymede_sync.snapshot import fetch_snapshot

    with fetch_snapshot(client, include_lib=True, limits=limits, progress=progress) as snapshot:
        return {path: _hash_member(snapshot, path) for path in snapshot.paths}


def read_remote_contents(
    client: GanymedeClient, paths: Iterable[str], limits: ArchiveLimits | None = None
) -> dict[str, bytes]:
    """Return Ganymede's current bytes of ``paths`` (those it holds), for ``status --diff``."""
    from ganymede_sync.snapshot import fetch_snapshot

    with fetch_snapshot(client, include_lib=True, limits=limits) as snapshot:
        return {path: snapshot.read(path) for path in paths if path in snapshot}


def _hash_member(snapshot: Snapshot, path: str) -> RemoteFile:
    """Hash one archive member, in pieces when it is big (limits apply as when pulling)."""
    size = snapshot.size(path)
    if size <= WHOLE_READ_BYTES:
        return RemoteFile.of(snapshot.read(path))
    sha256 = hashlib.sha256()
    # Git hashes a header with the size first: the declared size, checked below.
    blob = hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False)
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


def recorded_deploys(settings: Settings, environment: Environment) -> dict[str, set[str]]:
    """Return the blob ids this clone sent since the last pull, uncommitted files included.

    Git history knows what was committed; this record (in the git folder, never
    committed) also knows what was deployed straight from the working tree, so a
    second local deploy without a commit in between is no false conflict.
    """
    record = _read_record(settings, environment)
    if record.get("manifest") != _manifest_blob(environment):
        return {}
    files = record.get("files", {})
    return {path: set(blobs) for path, blobs in files.items() if isinstance(blobs, list)}


def record_deploy(
    settings: Settings, environment: Environment, contents: Mapping[str, bytes]
) -> None:
    """Remember the versions just sent, for ``recorded_deploys``."""
    target = _record_path(settings, environment)
    if target is None or not contents:
        return
    files = {path: sorted(blobs) for path, blobs in recorded_deploys(settings, environment).items()}
    for path, data in contents.items():
        files[path] = sorted({*files.get(path, []), blob_id(data)})
    record = {"manifest": _manifest_blob(environment), "files": files}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _read_record(settings: Settings, environment: Environment) -> dict:
    target = _record_path(settings, environment)
    try:
        record = json.loads(target.read_text(encoding="utf-8")) if target else {}
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _record_path(settings: Settings, environment: Environment) -> Path | None:
    """Where this clone keeps the record of ``environment``; None outside a repository."""
    repo = gitops.open_repository(settings.root)
    if repo is None:
        return None
    return repo.local_state_path(f"deployed-{environment.folder}.json")


def _manifest_blob(environment: Environment) -> str | None:
    try:
        return blob_id(environment.manifest_path.read_bytes())
    except OSError:
        return None


def refusal_reasons(deploy_plan: DeployPlan, folder: str) -> list[str]:
    """Return why ``deploy_plan`` cannot be sent, all reasons at once (empty: it can)."""
    reasons = []
    conflicts = deploy_plan.paths(Status.CONFLICT)
    if conflicts:
        reasons.append(
            f"changed here and in Ganymede since the last pull: {_listing(folder, conflicts)} "
            "(merge Ganymede's edits with git as README.md shows under 'When a deploy reports "
            "a conflict', or deploy with --force to overwrite Ganymede)"
        )
    new_nodes = deploy_plan.paths(Status.NEW_NODE)
    if new_nodes:
        reasons.append(
            f"new node files that Ganymede does not have: {_listing(folder, new_nodes)} "
            "(nodes are created in Ganymede's Flow Editor: create the node there, then pull)"
        )
    sent = set(deploy_plan.to_send)
    everywhere = naming.name_problems(entry.path for entry in deploy_plan.entries)
    misnamed = {path: why for path, why in everywhere.items() if path in sent}
    if misnamed:
        reasons.append(
            f"names that a later pull could not write: {naming.listing(folder, misnamed)} "
            "(rename them here, then deploy again)"
        )
    broken = compile_problems(folder, deploy_plan.contents)
    if broken:
        reasons.append("Python that does not compile: " + ", ".join(str(p) for p in broken))
    return reasons


def misnamed_in_ganymede(deploy_plan: DeployPlan) -> dict[str, str]:
    """Return the paths Ganymede holds that break the naming rule -> why (a pull refuses them)."""
    local_only = set(deploy_plan.paths(Status.NEW_NODE, Status.NEW_LIB))
    return naming.name_problems(e.path for e in deploy_plan.entries if e.path not in local_only)


def build_file_map(contents: Mapping[str, bytes]) -> dict[str, str]:
    """Encode every file once, in one pass: the PUT's ``fileMap``."""
    return {path: base64.b64encode(data).decode("ascii") for path, data in contents.items()}


def send(
    client: GanymedeClient,
    deploy_plan: DeployPlan,
    *,
    author_email: str,
    message: str,
    dry_run: bool = False,
) -> str:
    """Send the files of ``deploy_plan`` in one PUT; a dry run is the same request."""
    return client.put_commits(
        build_file_map(deploy_plan.contents),
        author_email=author_email,
        message=message,
        dry_run=dry_run,
    )


def deploy_environment(
    client: GanymedeClient,
    settings: Settings,
    environment: Environment,
    deploy_plan: DeployPlan,
    *,
    author_email: str,
    message: str,
    dry_run: bool = False,
    force: bool = False,
) -> DeployOutcome:
    """Validate ``deploy_plan`` and send it, never applying anything twice.

    When the PUT's answer is lost (timeout, dropped connection), Ganymede may have
    committed it: read the remote again and send only what is still missing.
    """
    current = deploy_plan
    delivered: tuple[str, ...] = ()
    for attempt in range(MAX_REPLANS + 1):
        reasons = refusal_reasons(current, environment.folder)
        if reasons:
            where = settings.target(environment)
            raise DeployRefused(f"nothing was sent to {where}: " + "; ".join(reasons))
        if not current.to_send:
            return DeployOutcome(current, delivered, dry_run, replanned=attempt > 0)
        if not dry_run:
            # Recorded before sending: a run killed while waiting for the answer must not
            # make the next one take its own arrived versions for edits made in Ganymede.
            record_deploy(settings, environment, current.contents)
        try:
            answer = send(
                client, current, author_email=author_email, message=message, dry_run=dry_run
            )
        except UncertainDeliveryError:
            if dry_run or attempt == MAX_REPLANS:
                raise
            logger.warning("no answer to the deploy of %s: reading Ganymede again", environment)
            sent_plan = current
            current = plan_environment(client, settings, environment, force=force)
            arrived = set(sent_plan.to_send) & set(current.paths(Status.UNCHANGED))
            record_deploy(settings, environment, {p: sent_plan.contents[p] for p in arrived})
            delivered = tuple(sorted({*delivered, *arrived}))
            continue
        sent = tuple(sorted({*delivered, *current.to_send}))
        return DeployOutcome(current, sent, dry_run, answer, replanned=attempt > 0)
    raise AssertionError("unreachable")  # pragma: no cover


def resolve_author_email(option: str | None, settings: Settings) -> str:
    """Pick the commit author: the option, else ``AUTHOR_EMAIL_VARIABLE``, else HEAD's author."""
    if option:
        return option
    if settings.author_email:
        return settings.author_email
    head = _head_commit(settings)
    if head and head.author_email:
        return head.author_email
    raise ConfigError(
        "no author email for the Ganymede commit: pass --author-email or set "
        f"{AUTHOR_EMAIL_VARIABLE} to the email of your Ganymede user"
    )


LISTED_COMMITS = 3
"""A default commit message names this many commits, then counts the rest."""


def resolve_message(
    option: str | None,
    settings: Settings,
    environment: Environment,
    deploy_plan: DeployPlan,
    uncommitted: Iterable[str] = (),
) -> str:
    """Pick the Ganymede commit message: the option, else the commits being deployed.

    The default names the commits that changed the files to send since the version
    Ganymede holds (its last deploy or pull), never an unrelated ``HEAD``. Files
    sent with uncommitted changes are always named, so Ganymede's history says so.
    """
    uncommitted = list(uncommitted)
    text = option or _deployed_commits(settings, environment, deploy_plan)
    if uncommitted:
        listing = _listing(environment.folder, uncommitted)
        if not text:
            return f"Uncommitted changes to {listing}"
        return f"{text} [with uncommitted changes to {listing}]"
    if text:
        return text
    head = _head_commit(settings)
    at = f" at {head.short_sha}" if head else ""
    return f"Deploy {environment.folder}/{at} from the self-managed repository"


def _deployed_commits(settings: Settings, environment: Environment, deploy_plan: DeployPlan) -> str:
    since = {path: deploy_plan.remote_blobs.get(path) for path in deploy_plan.to_send}
    repo = gitops.open_repository(settings.root)
    commits = repo.commits_since(environment.path, since) if repo is not None else []
    if not commits:
        return ""
    named = "; ".join(f"{c.subject} ({c.short_sha})" for c in commits[:LISTED_COMMITS])
    more = len(commits) - LISTED_COMMITS
    return f"{named}; and {more} earlier commit(s)" if more > 0 else named


def _head_commit(settings: Settings) -> gitops.HeadCommit | None:
    repo = gitops.open_repository(settings.root)
    return repo.head_commit() if repo is not None else None


def _listing(folder: str, paths: Iterable[str]) -> str:
    return ", ".join(f"{folder}/{path}" for path in paths)
