"""Scratch folders owned by one live run, and the removal of those left by dead runs.

A pull stages files beside the environment folder and downloads archives into the
system's temporary folder. A run killed with ``kill -9`` (or a power cut, or a
closed laptop lid) never cleans up, so every scratch folder holds a lock file that
its run keeps locked while it lives: the operating system drops the lock when the
process dies, however it dies. The next run finds such folders by their prefix,
and whichever it can lock belong to nobody: it may repair from them, then removes
them.

Never touches anything but folders it created (by prefix) and never prints.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)
LOCK_NAME = ".lock"
_UNLOCKED_GRACE_SECONDS = 60
"""A folder without a lock file is being created or removed (it has lasted a moment only),
or a run died at that very moment this long ago."""

try:  # POSIX
    import fcntl

    def _lock(handle: IO[bytes]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

except ImportError:  # pragma: no cover - Windows
    import msvcrt

    def _lock(handle: IO[bytes]) -> bool:
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True


@contextlib.contextmanager
def scratch_folder(
    parent: Path, prefix: str, *, keep_if: Callable[[Path], bool] | None = None
) -> Iterator[Path]:
    """Create a locked scratch folder in ``parent``; remove it when the run is done with it.

    ``keep_if`` may ask to leave it in place, say when it still holds what the next
    run needs to repair something; that run then finds it unlocked.
    """
    folder, handle = _new_locked_folder(parent, prefix)
    try:
        yield folder
    finally:
        handle.close()
        if keep_if is None or not keep_if(folder):
            _remove(folder)


def _new_locked_folder(parent: Path, prefix: str) -> tuple[Path, IO[bytes]]:
    """Create a scratch folder and lock its lock file; return both.

    Another run reclaiming at that moment may take the new lock file first (it cannot
    yet tell the folder is ours) and then removes the folder: that folder is left to
    it, and another one made; so is a folder removed before its lock file was made.
    """
    while True:
        folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        try:
            handle = open(folder / LOCK_NAME, "wb")  # noqa: SIM115 - held for the folder's lifetime
        except FileNotFoundError:
            continue  # reclaimed while still empty (``_remove_if_empty``): make another
        if _lock(handle):
            return folder, handle
        handle.close()


def reclaim(parent: Path, prefix: str, repair: Callable[[Path], None] | None = None) -> int:
    """Remove the scratch folders in ``parent`` whose run is gone; return how many.

    ``repair`` is called with each one first, while this run holds its lock; when it
    raises OSError the folder is kept for a later try.
    """
    try:
        candidates = sorted(parent.glob(f"{prefix}*"))
    except OSError:
        return 0
    return sum(
        _reclaim_one(folder, repair)
        for folder in candidates
        if folder.is_dir() and not folder.is_symlink()
    )


def _reclaim_one(folder: Path, repair: Callable[[Path], None] | None) -> bool:
    if _remove_if_empty(folder):
        return True
    with _ownerless(folder) as free:
        if not free:
            return False
        try:
            if repair is not None:
                repair(folder)
        except OSError as error:
            logger.warning("could not repair from %s yet: %s", folder.name, error)
            return False
        if os.name != "nt":
            # Removed while locked, so no new run can lock it in between and lose it.
            _remove(folder)
            return True
    # Windows refuses to delete a file that is open: removed once unlocked.
    _remove(folder)
    return True


def _remove_if_empty(folder: Path) -> bool:
    """Remove ``folder`` if it holds nothing at all; tell whether it did.

    A run killed between creating its folder and its lock file, or between removing
    its lock file and its folder, leaves an empty folder that no lock can vouch for.
    Nothing can be lost with it, and ``rmdir`` removes only an empty folder, at once:
    a run that made it a moment ago and is about to add its lock file makes another.
    """
    try:
        folder.rmdir()
    except OSError:
        return False
    return True


def _remove(folder: Path) -> None:
    """Remove a scratch folder, its lock file last.

    A run killed while removing one leaves the lock file as long as anything else
    is left, so the next run can still tell the folder is nobody's and finish.
    """
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name == LOCK_NAME:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
    with contextlib.suppress(OSError):
        (folder / LOCK_NAME).unlink()
    # Also when there was no lock file: a run killed before it made one leaves none.
    with contextlib.suppress(OSError):
        folder.rmdir()


@contextlib.contextmanager
def _ownerless(folder: Path) -> Iterator[bool]:
    """Lock ``folder``'s lock file for the block; yield whether no live run owns it."""
    try:
        handle = open(folder / LOCK_NAME, "r+b")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        age = time.time() - _mtime(folder)
        yield age > _UNLOCKED_GRACE_SECONDS
        return
    except OSError:
        yield False
        return
    try:
        yield _lock(handle)
    finally:
        handle.close()


def _mtime(folder: Path) -> float:
    try:
        return os.stat(folder).st_mtime
    except OSError:
        return time.time()
