"""What each pulled file looked like on disk, so a warm pull need not read it again.

Each pull records the files it found unchanged with their ``lstat`` identity
(size, mtime and ctime in nanoseconds, inode) and the CRC-32 and sha256 of Ganymede's
version (the archive entry's; for a flow file, of the document read beside it), in a
JSON file inside the git folder (this clone's own, never committed). The next pull
takes a file for unchanged, without reading it or its archive entry, only when its
``lstat`` identity is exactly as recorded (any write changes ctime, which no tool can
set back) and Ganymede's version has the recorded size and CRC-32; anything else
is compared byte for byte, as without the record. Like git's index, a file whose
mtime falls in the second the record was written is not trusted on a filesystem
that keeps whole seconds only ("racy" entries).

The record is advisory: missing, stale, corrupt or from another folder, it is ignored.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ganymede_sync.local import gitops

FORMAT = 1
MAX_BYTES = 64 * 1024 * 1024
_SECOND_NS = 1_000_000_000


class Entry(NamedTuple):
    """One file as the last pull left it (a tuple: it is stored as a JSON list)."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    crc: int
    sha256: str

    @classmethod
    def of(cls, status: os.stat_result, crc: int, sha256: str) -> Entry:
        return cls(*identity(status), crc, sha256)


def identity(status: os.stat_result) -> tuple[int, int, int, int]:
    """What makes a file the same one as before: size, mtime and ctime (ns), inode.

    Any write moves ctime, which no tool can set back."""
    return status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino


class Known(NamedTuple):
    """A file exactly as recorded: its content is Ganymede's version of then, which had
    this size, CRC-32 and sha256."""

    size: int
    crc: int
    sha256: str


def _as_recorded(
    recorded: Sequence[object], status: os.stat_result, written_ns: int
) -> Known | None:
    """Return what ``recorded`` (an ``Entry``, or its stored list, checked here rather than
    when loaded: most are looked at once) says of a file with ``status``, when that file
    is exactly the one recorded, else None."""
    if len(recorded) != len(Entry._fields):
        return None
    *recorded_identity, crc, sha256 = recorded
    same_file = identity(status) == tuple(recorded_identity)
    if not same_file or not isinstance(crc, int) or not isinstance(sha256, str):
        return None
    # Equal to the file's, so a number: whole seconds are racy near the record's writing.
    mtime = status.st_mtime_ns
    racy = mtime % _SECOND_NS == 0 and mtime >= written_ns - 2 * _SECOND_NS
    return None if racy else Known(status.st_size, crc, sha256)


@dataclass(frozen=True)
class StatCache:
    """The record of one folder: its entries by path (as stored), and when it was written."""

    folder: str
    written_ns: int
    entries: Mapping[str, Sequence[object]]

    def unchanged(self, path: str, status: os.stat_result, size: int, crc: int) -> str | None:
        """Return the recorded sha256 when ``path`` is exactly as recorded and Ganymede's
        version still has the recorded ``size`` and ``crc``, else None."""
        known = self.known(path, status)
        return known.sha256 if known and known.size == size and known.crc == crc else None

    def known(self, path: str, status: os.stat_result) -> Known | None:
        """Return what the record says of ``path`` when the file with ``status`` is exactly
        the one recorded (whatever Ganymede holds now), else None."""
        recorded = self.entries.get(path)
        if not isinstance(recorded, (list, tuple)):
            return None
        return _as_recorded(recorded, status, self.written_ns)


EMPTY = StatCache("", 0, {})


def path_for(root: Path, folder: str) -> Path | None:
    """Where this clone keeps the record of ``folder``; None outside a git repository."""
    repo = gitops.open_repository(root)
    return repo.local_state_path(f"files-{folder}.json") if repo is not None else None


def load(path: Path | None, folder: str) -> StatCache:
    """Read the record of ``folder``; an unusable one is empty."""
    if path is None:
        return EMPTY
    try:
        if path.stat().st_size > MAX_BYTES:
            return EMPTY
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or data.get("folder") != folder:
            return EMPTY
        entries = data["entries"]
        if not isinstance(entries, dict):
            return EMPTY
        return StatCache(folder, int(data["written_ns"]), entries)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return EMPTY


def save(path: Path | None, folder: str, entries: Mapping[str, Entry]) -> None:
    """Write the record of ``folder``: through a temporary file and a rename; a failure
    only loses the record."""
    if path is None:
        return
    document = {
        "format": FORMAT, "folder": folder, "written_ns": time.time_ns(),
        "entries": entries,
    }  # fmt: skip
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError:
        return
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(document, separators=(",", ":")))  # the C encoder
        os.replace(temporary, path)
    except OSError:
        Path(temporary).unlink(missing_ok=True)
