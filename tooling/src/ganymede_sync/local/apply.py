"""Apply a validated snapshot to an environment folder, all or nothing.

Two steps. ``plan_sync`` compares the snapshot with the folder (byte for byte, within
the pull's scope) and says what would be added, changed and removed, touching
nothing. ``apply_plan`` then writes every new and changed file into a staging folder
beside the target (same file system), and only once all of them are written and
verified swaps them in with renames, keeping the replaced files aside; any failure
or interruption puts every renamed file back and removes the staging folder, so the
environment folder is exactly as before. Unchanged files are never rewritten (their
mtimes stay), files a pull does not manage are never touched, folders emptied by
removals are cleaned, and the manifest is written last.

Knows nothing about HTTP or git; never prints.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ganymede_sync.errors import FolderWriteError, Interrupted, LocalChangesError
from ganymede_sync.local import stat_cache
from ganymede_sync.local.journal import (
    JOURNAL_NAME,
    Move,
    check_untracked,
    read_journal,
    undo,
    write_journal,
)
from ganymede_sync.local.stat_cache import StatCache
from ganymede_sync.remote.archive import Snapshot
from ganymede_sync.rules import flow_file
from ganymede_sync.rules.hashing import blob_id, sha256_bytes, sha256_chunks
from ganymede_sync.rules.layout import (
    Scope,
    flow_file_path,
    flow_of,
    is_code_path,
    is_flow_file,
    is_managed,
    walk_entries,
)
from ganymede_sync.state.manifest import (
    MANIFEST_MODE,
    Manifest,
    load_manifest,
    save_manifest,
    utc_now,
)
from ganymede_sync.state.scratch import reclaim, scratch_folder

logger = logging.getLogger(__name__)
_CHUNK = 1 << 20
_BYTECODE_CACHE = "__pycache__"
"""In a staging folder while its pull swaps files: the renames, for an undo after a crash."""
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


@dataclass
class SyncPlan:
    """What a pull would do to one environment folder."""

    folder: Path
    scope: Scope
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: dict[str, str] = field(default_factory=dict)
    """Paths whose local content already equals the snapshot -> sha256."""
    skipped: list[str] = field(default_factory=list)
    """Snapshot paths left alone (names a checkout cannot keep), local files included."""
    kept: dict[str, str | None] = field(default_factory=dict)
    """Local work left in place -> sha256 of Ganymede's (unchanged) version, None if it has none."""
    out_of_scope: int = 0
    """Snapshot files outside the scope (ignored)."""
    seen: dict[str, os.stat_result] = field(default_factory=dict, repr=False)
    """The ``lstat`` of each unchanged file, as taken when comparing it (``stat_cache``)."""
    as_pulled: dict[str, tuple[os.stat_result, str]] = field(default_factory=dict, repr=False)
    """Changed or removed files that were, when planned, exactly as the last pull left
    them (``stat_cache``) -> (their ``lstat`` then, the sha256 of their content):
    ``keep_local_work`` need not read them while they stay so."""

    @property
    def is_empty(self) -> bool:
        """Tell whether the folder already matches the snapshot."""
        return not (self.added or self.changed or self.removed)

    @property
    def overwritten(self) -> list[str]:
        """Return the local files this plan replaces or deletes (what could hold local work)."""
        return sorted(self.changed + self.removed)


LocalFiles = dict[str, os.stat_result]
"""Each managed file of a folder -> its ``lstat``, as one walk found it (``scan_local``)."""


def scan_local(folder: Path) -> LocalFiles:
    """Walk ``folder`` once; a pull does it while the archive downloads.

    ``plan_sync`` takes each file's status from the walk, and asks the file system again
    about everything that decides where it may write (folders on the way, a path the
    walk did not see as a file, a file that cannot be read as one any more).
    """
    return {path: entry.stat(follow_symlinks=False)
            for path, entry in walk_entries(folder, is_managed)}  # fmt: skip


@dataclass(frozen=True)
class SyncResult:
    """What a pull did: sorted repo paths, and whether the manifest was rewritten."""

    added: list[str]
    changed: list[str]
    removed: list[str]
    manifest: Manifest
    manifest_written: bool


def plan_sync(
    folder: Path,
    snapshot: Snapshot,
    scope: Scope,
    *,
    skip: Set[str] = frozenset(),
    cache: StatCache = stat_cache.EMPTY,
    local: LocalFiles | None = None,
) -> SyncPlan:
    """Compare the snapshot with the folder within ``scope``; change nothing.

    A file exactly as ``cache`` records it, for an archive entry of the recorded size and
    CRC-32, is unchanged without being read (``stat_cache``); any other is compared byte
    for byte. Paths in ``skip`` are left as they are on both sides. Raises LocalChangesError
    when a local folder, file or link sits where the snapshot needs the other kind,
    since replacing it could lose work. ``local`` is the folder's walk when the caller
    made it already (``scan_local``).
    """
    plan = SyncPlan(folder=folder, scope=scope)
    covered = [path for path in snapshot.paths if scope.covers(path)]
    plan.out_of_scope = len(snapshot.paths) - len(covered)
    plan.skipped = sorted(path for path in covered if path in skip)
    wanted = [path for path in covered if path not in skip]
    if not folder.exists():
        plan.added = wanted
        return plan
    if local is None:
        local = scan_local(folder)
    known: dict[str, bool] = {}
    for path in wanted:
        if _parent_exists(folder, path, known):
            _classify(plan, snapshot, path, cache, local.get(path))
        else:
            plan.added.append(path)
    gone = [path for path in local
            if scope.covers(path) and path not in snapshot and path not in skip]  # fmt: skip
    # Asked again: only files are removed, and the walk may be older than the folder.
    plan.removed = sorted(path for path in gone if _is_file_now(os.path.join(folder, path)))
    for path in plan.removed:
        _note_as_pulled(plan, path, cache, local[path])
    return plan


def _note_as_pulled(plan: SyncPlan, path: str, cache: StatCache, status: os.stat_result) -> None:
    """Note ``path`` in ``plan.as_pulled`` when it is exactly as the last pull left it."""
    known = cache.known(path, status)
    if known is not None:
        plan.as_pulled[path] = status, known.sha256


def _classify(
    plan: SyncPlan, snapshot: Snapshot, path: str, cache: StatCache, walked: os.stat_result | None
) -> None:
    """Put ``path`` in the plan as added, changed or unchanged; ``walked`` is its status as
    the walk of the folder found it, if it did."""
    status = walked
    if status is None:
        try:
            status = os.lstat(os.path.join(plan.folder, path))
        except FileNotFoundError:
            plan.added.append(path)
            return
    known = cache.known(path, status)
    if known is not None:
        # The file is Ganymede's version of the last pull: its size and CRC-32 tell
        # whether Ganymede's version now is the same, without reading either.
        if known.size == snapshot.size(path) and known.crc == snapshot.crc(path):
            plan.unchanged[path] = known.sha256
            plan.seen[path] = status
        else:
            plan.changed.append(path)
            plan.as_pulled[path] = status, known.sha256
        return
    target = os.path.join(plan.folder, path)  # only now: most files end above, unread
    if _is_dir(status.st_mode):
        raise LocalChangesError(
            f"{plan.folder.name}/{path} is a folder where Ganymede has a file: "
            "move it away, then pull again"
        )
    try:
        if is_flow_file(path) and _is_regular(status.st_mode):
            digest = _same_flow(snapshot, path, target)
        elif not _is_regular(status.st_mode) or status.st_size != snapshot.size(path):
            plan.changed.append(path)
            return
        else:
            digest = _same_content(snapshot, path, target)
    except OSError:
        if walked is None:
            raise
        _classify(plan, snapshot, path, cache, None)  # changed since the walk: ask again
        return
    if digest is None:
        plan.changed.append(path)
    else:
        plan.unchanged[path] = digest
        plan.seen[path] = status


def _is_file_now(path: str) -> bool:
    try:
        return _is_regular(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def keep_local_work(
    plan: SyncPlan,
    snapshot: Snapshot,
    pulled: Mapping[str, str],
    deployed: Mapping[str, Set[str]] | None = None,
) -> list[str]:
    """Take local work out of ``plan``; return the paths changed on both sides, sorted.

    A local file is work when its content is neither what the last pull recorded
    (``pulled``: path -> sha256) nor a version this clone deployed (``deployed``:
    path -> git blob ids), whether it is committed, uncommitted or git-ignored: the
    manifest, not git, tells what Ganymede gave. Work that Ganymede did not change
    since (or never had) is kept and listed in ``plan.kept``; work that Ganymede
    changed or deleted as well is a conflict, left in the plan for the caller to
    refuse or, with ``--force``, to overwrite.
    """
    deployed = deployed or {}
    conflicts = []
    for path in list(plan.changed) + list(plan.removed):
        base = pulled.get(path)
        if base is not None and _still_as_pulled(plan, path) == base:
            continue  # what Ganymede gave, not read again: nothing of the user's is lost
        local = _local_bytes(plan.folder / path, path)
        if local is not None and (
            sha256_bytes(local) == base or (path in deployed and blob_id(local) in deployed[path])
        ):
            continue  # what Ganymede gave (or was sent): nothing of the user's is lost
        ganymede = _snapshot_sha(snapshot, path) if path in snapshot else None
        if ganymede != base:
            conflicts.append(path)
            continue
        if path in plan.changed:
            plan.changed.remove(path)
        else:
            plan.removed.remove(path)
        plan.kept[path] = ganymede
    return sorted(conflicts)


def _still_as_pulled(plan: SyncPlan, path: str) -> str | None:
    """Return the sha256 of ``path``'s content when it is still exactly as planned from
    the record (``plan.as_pulled``): one ``lstat`` instead of a read. Else None."""
    noted = plan.as_pulled.get(path)
    if noted is None:
        return None
    then, sha256 = noted
    try:
        now = os.lstat(plan.folder / path)
    except OSError:
        return None
    return sha256 if stat_cache.identity(now) == stat_cache.identity(then) else None


def _local_bytes(target: Path, path: str) -> bytes | None:
    """Return a regular file's bytes (a flow file's in its canonical form, as the manifest
    and deploys record it), or None for anything else."""
    try:
        if not _is_regular(os.lstat(target).st_mode):
            return None
        data = target.read_bytes()
    except OSError:
        return None
    return flow_file.canonical(data) if is_flow_file(path) else data


def _same_flow(snapshot: Snapshot, path: str, target: str) -> str | None:
    """Return the sha256 of Ganymede's flow file when the local one is the same flow,
    whatever its layout (which stays the user's), else None."""
    theirs = snapshot.read(path)
    with open(target, "rb") as local:
        return sha256_bytes(theirs) if flow_file.canonical(local.read()) == theirs else None


def _snapshot_sha(snapshot: Snapshot, path: str) -> str:
    return sha256_chunks(snapshot.chunks(path))


@dataclass(frozen=True)
class MassRemoval:
    """Why a plan removes too much to apply without ``--force``."""

    problem: str
    """``would remove ...``, with the count."""
    over_share: bool
    """True when the share limit was hit (the caller names its setting), False when
    every flow in scope would go."""


def mass_removal(plan: SyncPlan, snapshot: Snapshot, max_share: float) -> MassRemoval | None:
    """Say why the plan removes too much to apply without ``--force``, or return None.

    An archive that holds no flow's code while the folder has some, or that removes
    more than ``max_share`` of the code files in scope, is more likely a broken export
    or the wrong environment than a wish to delete: the count is named. Code files
    alone are counted: flow files come from another endpoint, so a broken archive
    leaves them in place.
    """
    removed = [path for path in plan.removed if is_code_path(path)]
    if not removed:
        return None
    present = [*plan.changed, *plan.unchanged, *plan.kept]
    local = len(removed) + len([path for path in present if is_code_path(path)])
    flows_here = any(flow_of(path) for path in removed)
    if flows_here and not any(
        flow_of(path) and plan.scope.covers(path) and is_code_path(path) for path in snapshot.paths
    ):
        what = f"the code of all of flow '{plan.scope.flow}'" if plan.scope.flow else "every flow"
        problem = f"would remove {what} ({len(removed)} of {local} code files)"
        return MassRemoval(problem, over_share=False)
    if len(removed) > max_share * local:
        problem = f"would remove {len(removed)} of {local} code files, more than {max_share:.0%}"
        return MassRemoval(problem, over_share=True)
    return None


def _same_content(snapshot: Snapshot, path: str, target: str) -> str | None:
    """Return the sha256 when the local file equals the snapshot's, else None."""
    digest = hashlib.sha256()
    with open(target, "rb") as local:
        if snapshot.size(path) <= _CHUNK:
            data = snapshot.read(path)
            return sha256_bytes(data) if local.read(len(data) + 1) == data else None
        for chunk in snapshot.chunks(path):
            if local.read(len(chunk)) != chunk:
                return None
            digest.update(chunk)
        if local.read(1):
            return None
    return digest.hexdigest()


def _parent_exists(folder: Path, path: str, known: dict[str, bool]) -> bool:
    """Tell whether the folder of ``path`` exists; refuse a non-folder on the way.

    A file or link where the snapshot needs a folder is refused: replacing it could
    lose work, and following a link to a folder would write outside the repository.
    ``known`` holds the answers so far: a folder is known to exist only once every folder
    above it is, so a known parent answers at once (most files share theirs).
    """
    if known.get(path.rpartition("/")[0]):
        return True
    parts = path.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        parent = "/".join(parts[:depth])
        if parent not in known:
            try:
                mode = os.lstat(os.path.join(folder, parent)).st_mode
            except FileNotFoundError:
                known[parent] = False
            else:
                if not _is_dir(mode):
                    raise LocalChangesError(
                        f"{folder.name}/{parent} is a file or link where Ganymede has a "
                        "folder: move it away, then pull again"
                    )
                known[parent] = True
        if not known[parent]:
            return False
    return True


def next_manifest(
    old: Manifest | None,
    environment: str,
    scope: Scope,
    in_scope: dict[str, str],
    *,
    now: Callable[[], str] = utc_now,
    tenant: str | None = None,
    flow_versions: Mapping[str, str] | None = None,
) -> Manifest:
    """Return the manifest after a pull: entries outside the scope kept, the scope replaced.

    The old manifest is returned as is when nothing changed, so its time and bytes stay.
    """
    kept = {path: sha for path, sha in (old.files if old else {}).items() if not scope.covers(path)}
    files = {**kept, **in_scope}
    tenant = tenant or (old.tenant if old else None)
    versions = _next_versions(old, scope, files, flow_versions or {})
    same_target = old is not None and (old.environment, old.tenant) == (environment, tenant)
    if old is not None and old.files == files and same_target and old.flow_versions == versions:
        return old
    return Manifest(
        environment=environment,
        files=files,
        changed_at=now(),
        flow=scope.flow,
        include_lib=scope.include_lib,
        tenant=tenant,
        flow_versions=versions,
    )


def _next_versions(
    old: Manifest | None, scope: Scope, files: Mapping[str, str], listed: Mapping[str, str]
) -> dict[str, str]:
    """The flow versions to record: those listed for flows in scope, the old ones kept for
    the rest, and only for flows whose flow file the manifest records."""
    versions = dict(old.flow_versions) if old else {}
    for flow in list(versions):
        if scope.flow is None or scope.flow == flow:
            del versions[flow]
    versions.update(listed)
    return {flow: version for flow, version in sorted(versions.items())
            if flow_file_path(flow) in files}  # fmt: skip


def apply_plan(
    plan: SyncPlan,
    snapshot: Snapshot,
    *,
    manifest_path: Path,
    old_manifest: Manifest | None,
    environment: str,
    now: Callable[[], str] = utc_now,
    tenant: str | None = None,
) -> SyncResult:
    """Make the folder match the snapshot within the plan's scope, then write the manifest.

    All or nothing, even across ``kill -9``: on a failure or Ctrl-C the folder and
    manifest are put back as before; a killed run leaves a journal from which the
    next run of any task puts them back (``restore_interrupted``).
    """
    if plan.is_empty:
        kept = _kept(plan, old_manifest)
        manifest = next_manifest(
            old_manifest, environment, plan.scope, kept, now=now, tenant=tenant,
            flow_versions=snapshot.flow_versions,
        )  # fmt: skip
        written = save_manifest(manifest_path, manifest)
        return SyncResult([], [], [], manifest, written)
    parent = plan.folder.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        with (
            _interrupts_held() as interrupted,
            scratch_folder(parent, staging_prefix(plan.folder), keep_if=_has_journal) as staging,
        ):
            moves, hashes = _stage(plan, snapshot, staging, interrupted)
            checkpoint("staged")
            kept = _kept(plan, old_manifest)
            manifest = next_manifest(
                old_manifest,
                environment,
                plan.scope,
                {**kept, **hashes},
                now=now,
                tenant=tenant,
                flow_versions=snapshot.flow_versions,
            )
            written = _swap(plan, staging, moves, manifest_path, manifest, interrupted)
            _remove_empty_folders(plan.folder, plan.removed)
            checkpoint("cleaned")
    except OSError as error:
        raise FolderWriteError(
            f"could not update {plan.folder.name}/ ({error.strerror or error})",
            hint="it was left as it was; check permissions and free space",
            path=plan.folder.name,
        ) from None
    if interrupted():
        raise Interrupted(
            f"{plan.folder.name}/ had been fully updated from Ganymede "
            f"({len(plan.added)} added, {len(plan.changed)} changed, {len(plan.removed)} "
            "removed) and its manifest written"
        )
    return SyncResult(sorted(plan.added), sorted(plan.changed), plan.removed, manifest, written)


def record_stats(cache_path: Path | None, plan: SyncPlan, snapshot: Snapshot, folder: str) -> None:
    """Record the files this pull found unchanged (``stat_cache``), as it saw them, so the
    next pull need not read them again.

    No file is looked at again for it: files written by this pull are recorded by the
    next one, once it has compared them. Local work that was kept is left out.
    """
    entries = {
        path: stat_cache.Entry.of(status, snapshot.crc(path), plan.unchanged[path])
        for path, status in plan.seen.items()
        if path not in plan.kept
    }
    stat_cache.save(cache_path, folder, entries)


def replace_files(folder: Path, files: Mapping[str, bytes | None], manifest_path: Path) -> None:
    """Write (bytes) and delete (None) files of ``folder``, all or nothing, as a pull does.

    The same staging folder, journal and swap as a pull, so a run killed at any moment
    leaves the folder entirely as it was or entirely as asked, and the next task (each
    restores first) undoes a half-done swap and says so. The manifest (the record of
    the last pull) is left as it is. A promotion writes the target folder this way.
    """
    plan = SyncPlan(folder, Scope())
    for path, data in sorted(files.items()):
        present = os.path.lexists(folder / path)
        if (present and not (folder / path).is_file()) or (folder / path).is_symlink():
            # Moving it aside would take a folder of the user's (or a link) with it.
            raise FolderWriteError(
                f"could not write {folder.name}/{path} (a folder or a link is in the way)",
                path=f"{folder.name}/{path}",
            )
        if data is None:
            plan.removed.append(path)
        elif present:
            plan.changed.append(path)
        else:
            plan.added.append(path)
    if plan.is_empty:
        return
    manifest = load_manifest(manifest_path)
    if manifest is None:
        raise FolderWriteError(
            f"{folder.name}/ has no record of a pull ({manifest_path.name}): pull it first",
            path=folder.name,
        )
    contents = _Contents({path: data for path, data in files.items() if data is not None})
    try:
        with (
            _interrupts_held() as interrupted,
            scratch_folder(folder.parent, staging_prefix(folder), keep_if=_has_journal) as staging,
        ):
            moves, _ = _stage(plan, contents, staging, interrupted)
            checkpoint("staged")
            _swap(plan, staging, moves, manifest_path, manifest, interrupted)
            _remove_empty_folders(folder, plan.removed)
            checkpoint("cleaned")
    except OSError as error:
        raise FolderWriteError(
            f"could not write {folder.name}/ ({error.strerror or error})",
            hint="it was left as it was; check permissions and free space",
            path=folder.name,
        ) from None
    if interrupted():
        raise Interrupted(f"{folder.name}/ had been fully written")


class Readable(Protocol):
    """What staging reads files from: a snapshot, or files in memory (``_Contents``)."""

    def size(self, path: str) -> int: ...

    def read(self, path: str) -> bytes: ...

    def chunks(self, path: str) -> Iterator[bytes]: ...


class _Contents:
    """Files in memory, read the way ``_stage`` reads a snapshot's."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self._files = files

    def size(self, path: str) -> int:
        return len(self._files[path])

    def read(self, path: str) -> bytes:
        return self._files[path]

    def chunks(self, path: str) -> Iterator[bytes]:
        yield self._files[path]


def staging_prefix(folder: Path) -> str:
    """Return the name prefix of a pull's staging folders beside ``folder``."""
    return f".{folder.name}.pull-"


def restore_interrupted(folder: Path, manifest_path: Path) -> int:
    """Undo the swap of any pull of ``folder`` that died midway; return how many were undone.

    Every task runs this first. A staging folder whose run is gone either holds a
    journal (the run died while swapping: the moves it lists are undone, last first,
    so the folder and manifest are exactly as before that pull) or none (it died
    before swapping or after finishing: nothing to undo). Either way it is removed.
    One that git tracks, or whose journal moves anything else, was not made by a pull
    here: it is refused and left in place (``local.journal``).
    """
    undone = 0

    def restore(staging: Path) -> None:
        nonlocal undone
        check_untracked(staging, folder)
        record = staging / JOURNAL_NAME
        if record.exists():
            undo(read_journal(staging, folder, manifest_path))
            record.unlink()
            undone += 1

    reclaim(folder.parent, staging_prefix(folder), restore)
    return undone


def _has_journal(staging: Path) -> bool:
    return (staging / JOURNAL_NAME).exists()


def _kept(plan: SyncPlan, old: Manifest | None) -> dict[str, str]:
    """Return the manifest entries of files left in place: Ganymede's version of each.

    A skipped path keeps what the last pull recorded: this pull learnt nothing of it.
    """
    before = old.files if old else {}
    skipped = {path: before[path] for path in plan.skipped if path in before}
    kept = {path: sha for path, sha in plan.kept.items() if sha is not None}
    return {**skipped, **plan.unchanged, **kept}


def _stage(
    plan: SyncPlan, snapshot: Readable, staging: Path, interrupted: Callable[[], bool]
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Write every new and changed file into ``staging``; return the moves and the hashes.

    A file whose local folder exists is staged flat (``f<n>``) and moved alone; files
    under a folder missing locally are staged in a tree (``t<n>/...``) moved in one
    rename. The staging folder is left nearly empty: folders are slow to delete on
    some file systems, and a whole new flow costs one rename instead of one per file.
    Moves are (staged name, repo path), the repo path "" being the folder itself.
    """
    moves: list[tuple[str, str]] = []
    hashes: dict[str, str] = {}
    trees: dict[str, str] = {}
    exists: dict[str, bool] = {}
    made: set[str] = set()
    root = str(staging)
    for number, path in enumerate(sorted(plan.added + plan.changed)):
        top = _highest_missing(plan.folder, path, exists)
        if top == path:
            name = f"f{number}"
            moves.append((name, path))
            target = os.path.join(root, name)
        else:
            if top not in trees:
                trees[top] = f"t{len(trees)}"
                moves.append((trees[top], top))
            inner = path[len(top) + 1 :] if top else path
            target = os.path.join(root, trees[top], inner)
            _make_parents(target, made)
        hashes[path] = _write(snapshot, path, target)
        if interrupted():
            raise KeyboardInterrupt
    return moves, hashes


def _highest_missing(folder: Path, path: str, exists: dict[str, bool]) -> str:
    """Return the shortest prefix of ``path`` missing locally ("" when ``folder`` is)."""
    parts = ["", *path.split("/")]
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[1:depth])
        if prefix not in exists:
            exists[prefix] = os.path.lexists(os.path.join(folder, prefix))
        if not exists[prefix]:
            return prefix
    return path


def _make_parents(target: str, made: set[str]) -> None:
    """Create the folder of a staged file; ``made`` remembers the folders already made.

    Files come sorted, so once a folder is made its siblings follow: when the parent
    of a new folder is known to exist, one ``mkdir`` does. ``makedirs`` (a check per
    level) runs only for the first folder of each new subtree. Only ever called
    inside the pull's own staging folder.
    """
    parent = os.path.dirname(target)
    if parent in made:
        return
    above = os.path.dirname(parent)
    if above in made:
        # Made already on the way to a deeper folder; O_EXCL opens still check the files.
        with contextlib.suppress(FileExistsError):
            os.mkdir(parent)
    else:
        os.makedirs(parent, exist_ok=True)
        made.add(above)
    made.add(parent)


def _write(snapshot: Readable, path: str, target: str) -> str:
    """Stream one snapshot file to a new ``target``, hashing as it goes; return the sha256.

    ``O_EXCL`` refuses to follow or reuse anything already at ``target``.
    """
    digest = hashlib.sha256()
    descriptor = os.open(target, _NEW_FILE, 0o666)
    try:
        pieces = [snapshot.read(path)] if snapshot.size(path) <= _CHUNK else snapshot.chunks(path)
        for piece in pieces:
            view = memoryview(piece)
            while view:
                view = view[os.write(descriptor, view) :]
            digest.update(piece)
    finally:
        os.close(descriptor)
    return digest.hexdigest()


def _swap(
    plan: SyncPlan,
    staging: Path,
    moves: list[tuple[str, str]],
    manifest_path: Path,
    manifest: Manifest,
    interrupted: Callable[[], bool],
) -> bool:
    """Move replaced files aside and staged ones in, then the manifest; undo all on failure.

    The full list of renames is written to a journal before the first one, and the
    journal is deleted after the last one: that deletion is the moment the pull
    happens. The caller holds Ctrl-C back, so an undo is never cut short; one that
    arrives while swapping (``interrupted``) is honoured by undoing everything.
    Returns whether the manifest was rewritten.
    """
    # Paths as text: thousands of moves, each joined once.
    folder, aside = os.fspath(plan.folder), os.fspath(staging)
    journal: list[Move] = [
        (os.path.join(folder, path), os.path.join(aside, f"o{n}"))
        for n, path in enumerate(plan.overwritten)
    ]
    journal += [(os.path.join(aside, name), os.path.join(folder, path)) for name, path in moves]
    written = _stage_manifest(manifest_path, manifest, staging, journal)
    record = write_journal(staging, journal)
    checkpoint("journal")
    try:
        for source, destination in journal:
            os.replace(source, destination)
            checkpoint("move")
            if interrupted():
                raise KeyboardInterrupt
        record.unlink()
    except BaseException:
        try:
            undo(journal)
        except OSError as error:
            raise FolderWriteError(
                f"{plan.folder.name}/ was left half updated and could not be put back "
                f"({error.strerror or error})",
                hint="run the pull, or any task, again to restore it",
                path=plan.folder.name,
            ) from None
        record.unlink()
        raise
    checkpoint("committed")
    return written


def _stage_manifest(
    manifest_path: Path, manifest: Manifest, staging: Path, journal: list[Move]
) -> bool:
    """Stage the new manifest and add its renames to ``journal``; tell if it changes."""
    content = manifest.to_json().encode("utf-8")
    try:
        if manifest_path.read_bytes() == content:
            return False
        journal.append((manifest_path, staging / "manifest-old"))
    except FileNotFoundError:
        pass
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    staged = staging / "manifest-new"
    staged.write_bytes(content)
    os.chmod(staged, MANIFEST_MODE)
    journal.append((staged, manifest_path))
    return True


@contextlib.contextmanager
def _interrupts_held() -> Iterator[Callable[[], bool]]:
    """Hold Ctrl-C back for the block; yield a function that tells whether one came.

    Only the main thread receives signals; elsewhere nothing is held.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: received.append(number))
    try:
        yield lambda: bool(received)
    finally:
        signal.signal(signal.SIGINT, previous)


def _pass(point: str) -> None:
    """In use, every point of an apply is passed without stopping."""


checkpoint: Callable[[str], None] = _pass
"""Called at each named point of an apply: "staged", "journal", "move", "committed" and
"cleaned". The template's crash tests replace it inside a child process with one that
ends that process there, as ``kill -9`` would; no setting or variable can switch it."""


def _remove_empty_folders(folder: Path, removed: list[str]) -> None:
    """Remove the folders that removals left empty, up to (not including) ``folder``.

    A folder holding nothing but Python's byte-code cache counts as empty: the cache
    belonged to the removed modules, and keeping it would keep a removed flow's folder.
    """
    candidates = {
        "/".join(path.split("/")[:depth])
        for path in removed
        for depth in range(1, path.count("/") + 1)
    }
    for relative in sorted(candidates, key=lambda name: name.count("/"), reverse=True):
        target = folder / relative
        _remove_orphan_cache(target)
        try:
            target.rmdir()
        except OSError:
            logger.debug("kept %s: not empty", relative)


def _remove_orphan_cache(target: Path) -> None:
    """Delete ``target/__pycache__`` when it is all ``target`` holds and holds only .pyc files."""
    cache = target / _BYTECODE_CACHE
    try:
        if [entry.name for entry in target.iterdir()] != [_BYTECODE_CACHE]:
            return
        files = list(cache.iterdir())
        if all(_is_bytecode(entry) for entry in files):
            for entry in files:
                entry.unlink()
            cache.rmdir()
    except OSError as error:
        logger.debug("kept %s: %s", cache, error)


def _is_bytecode(entry: Path) -> bool:
    return entry.suffix == ".pyc" and not entry.is_symlink() and entry.is_file()


def _is_dir(mode: int) -> bool:
    return (mode & 0o170000) == 0o040000


def _is_regular(mode: int) -> bool:
    return (mode & 0o170000) == 0o100000
