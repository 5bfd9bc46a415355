"""The journal of a folder swap: written before the first rename, replayed only if contained.

A pull stages its files in a scratch folder beside the environment folder, writes the
list of renames it is about to make to ``journal.json`` in that scratch folder, then
makes them. A run killed midway leaves the journal; the next task undoes its renames.

A journal is also a file anybody can commit, so replaying one is running a list of
renames a clone handed us. Only a journal that could have been written by a pull of
this folder is replayed: the staging folder is not tracked by git, and every rename
goes between that staging folder (one level down) and the environment folder or its
manifest, without ``..``, absolute paths, or a symbolic link on the way. Anything
else is refused before the first rename and left in place, with what to delete.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath

from ganymede_sync.errors import JournalRefused
from ganymede_sync.local.gitops import open_repository
from ganymede_sync.rules.naming import printable, show

JOURNAL_NAME = "journal.json"

Move = tuple["str | os.PathLike[str]", "str | os.PathLike[str]"]
"""One rename, (source, destination): paths as text or ``Path``."""


def write_journal(staging: Path, moves: list[Move]) -> Path:
    """Write ``moves`` to the journal of ``staging`` in one atomic step, flushed to disk.

    Paths are relative to the folder that holds the staging folder, so a repository
    moved (or mounted elsewhere) after a crash is still restored.
    """
    record = staging / JOURNAL_NAME
    base = staging.parent
    relative = [[_relative(path, base) for path in move] for move in moves]
    temporary = record.with_suffix(".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(json.dumps({"version": 1, "moves": relative}))  # the C encoder
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, record)
    return record


def _relative(path: str | os.PathLike[str], base: Path) -> str:
    """``path`` relative to ``base``: a string cut when it lies inside (every move of a
    pull does, thousands of times), else ``os.path.relpath``."""
    text, prefix = os.fspath(path), os.fspath(base) + os.sep
    return text[len(prefix) :] if text.startswith(prefix) else os.path.relpath(path, base)


def check_untracked(staging: Path, folder: Path) -> None:
    """Refuse a staging folder that git tracks: a clone handed it over, no pull made it."""
    repository = open_repository(staging.parent)
    if repository is not None and repository.is_tracked(staging):
        name = printable(staging.name)
        raise JournalRefused(
            f"{name}/ is tracked by git, so no pull of {folder.name}/ made it; "
            "nothing in it was replayed",
            hint=f"remove it from the repository (git rm -r -- {show(staging.name)}) and commit",
            path=staging.name,
        )


def read_journal(staging: Path, folder: Path, manifest_path: Path) -> list[Move]:
    """Return the renames of ``staging``'s journal, each checked to stay in its place.

    Raises ``JournalRefused`` (nothing moved) when the journal is unreadable or one
    rename leaves the staging folder, the environment folder and its manifest.
    """
    record = staging / JOURNAL_NAME
    try:
        moves = json.loads(record.read_text(encoding="utf-8"))["moves"]
        pairs = [(str(source), str(destination)) for source, destination in moves]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise _refused(staging, folder, "its journal.json is unreadable") from None
    base = staging.parent
    manifest = os.path.relpath(manifest_path, base)
    for source, destination in pairs:
        if not _contained(source, destination, staging, folder, manifest):
            move = f"{show(source)} -> {show(destination)}"
            raise _refused(staging, folder, f"the move {move} leaves {folder.name}/")
    return [(base / source, base / destination) for source, destination in pairs]


def undo(moves: list[Move]) -> None:
    """Put back every rename of ``moves`` that happened, last first.

    A rename happened when its destination exists and its source does not; one
    that did not is skipped, so undoing twice (a crash during an undo) is safe.
    """
    for source, destination in reversed(moves):
        if os.path.lexists(destination) and not os.path.lexists(source):
            os.replace(destination, source)


def _contained(source: str, destination: str, staging: Path, folder: Path, manifest: str) -> bool:
    """Tell whether one side is a staged entry, the other in the folder or its manifest."""
    for staged, placed in ((source, destination), (destination, source)):
        if _is_staged(staged, staging) and _is_placed(placed, staging.parent, folder, manifest):
            return True
    return False


def _is_staged(path: str, staging: Path) -> bool:
    parts = _plain_parts(path)
    return parts is not None and len(parts) == 2 and parts[0] == staging.name


def _is_placed(path: str, base: Path, folder: Path, manifest: str) -> bool:
    parts = _plain_parts(path)
    if parts is None:
        return False
    if path == manifest:
        return not _through_link(base, _plain_parts(manifest) or ())
    return parts[0] == folder.name and not _through_link(base, parts)


def _plain_parts(path: str) -> tuple[str, ...] | None:
    """The parts of a relative path without ``.``, ``..`` or a drive; None for any other."""
    pure = PurePosixPath(path.replace(os.sep, "/"))
    if pure.is_absolute() or os.path.isabs(path) or os.path.splitdrive(path)[0]:
        return None
    parts = pure.parts
    if not parts or any(part in ("", ".", "..") for part in parts):
        return None
    return parts


def _through_link(base: Path, parts: tuple[str, ...]) -> bool:
    """Tell whether a folder on the way to ``parts`` (not the entry itself) is a link."""
    current = base
    for part in parts[:-1]:
        current = current / part
        if current.is_symlink():
            return True
    return False


def _refused(staging: Path, folder: Path, reason: str) -> JournalRefused:
    name = printable(staging.name)
    return JournalRefused(
        f"{name}/ was not written by a pull of {folder.name}/: {reason}; nothing was moved",
        hint=f"delete {name}/ (no pull of {folder.name}/ is running: its lock is free)",
        path=staging.name,
    )
