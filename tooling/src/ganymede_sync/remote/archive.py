"""Untrusted ZIP archive in, validated snapshot entries out.

An archive comes from the network, so nothing in it is believed. Opening one checks
its whole central directory first (entry names, entry types, duplicates, declared
sizes) and refuses the archive, naming the entry, before anything is read; reading an
entry then enforces the size and compression-ratio limits on the bytes actually
produced, because declared sizes can lie. Entries other than managed ``.py``/``.sql``
files are ignored and counted.

Never writes files, never touches the network or git, never prints. Where entries
go in the repository is ``layout``'s business.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ganymede_sync.errors import ArchiveError, LimitExceeded
from ganymede_sync.rules import layout, naming
from ganymede_sync.settings.config import ArchiveLimits

_CHUNK = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")
_PLAIN_SEGMENT = r"[^./\\][^/\\]*"
_PLAINLY_SAFE = re.compile(rf"(?![A-Za-z]:)(?:{_PLAIN_SEGMENT}/)*{_PLAIN_SEGMENT}\.(?:py|sql)")
"""Relative names of plain segments (none empty, hidden, ``.`` or ``..``; no backslash)
ending in ``.py``/``.sql``: nearly every entry of a real archive. Whether a checkout can
hold the name (control characters, case twins...) is ``naming``'s rule, checked apart."""
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_UTF8_NAME = 0x800
_UNREADABLE = 0x1 | 0x20 | 0x40
"""Flag bits of entries left to zipfile (encrypted, patched data, strong encryption)."""
_DEFLATE_SLACK = 1024
"""A deflate stream is at most a few bytes per 64 KiB longer than the bytes it holds."""


# --- predicates on one entry -----------------------------------------------------
def is_absolute_name(name: str) -> bool:
    """Tell whether an entry name is an absolute path (``/etc/passwd``)."""
    return name.startswith("/")


def has_drive_letter(name: str) -> bool:
    """Tell whether an entry name starts with a Windows drive (``C:``)."""
    return bool(_DRIVE.match(name))


def has_backslash(name: str) -> bool:
    """Tell whether an entry name holds a backslash (a Windows separator in disguise)."""
    return "\\" in name


def has_traversal(name: str) -> bool:
    """Tell whether an entry name climbs out of its folder with ``..``."""
    return ".." in name.split("/")


def has_odd_segment(name: str) -> bool:
    """Tell whether an entry name has empty or ``.`` segments."""
    segments = name.rstrip("/").split("/")
    return any(part in ("", ".") for part in segments)


def unix_mode(info: zipfile.ZipInfo) -> int:
    """Return the Unix mode an entry declares (0 when the archive records none)."""
    return info.external_attr >> 16


def is_link(info: zipfile.ZipInfo) -> bool:
    """Tell whether an entry is a symbolic link."""
    return stat.S_ISLNK(unix_mode(info))


def is_plain_entry(info: zipfile.ZipInfo) -> bool:
    """Tell whether an entry is a regular file or folder (not a link, device or pipe)."""
    mode = unix_mode(info)
    return stat.S_IFMT(mode) in (0, stat.S_IFREG, stat.S_IFDIR)


def is_encrypted(info: zipfile.ZipInfo) -> bool:
    """Tell whether an entry is encrypted (it cannot be checked, so it is refused)."""
    return bool(info.flag_bits & 0x1)


BOUNDED_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
"""Compression methods whose output is read in bounded pieces.

zipfile inflates bzip2 and lzma without a cap on the output of one read, so a
few hundred bytes can allocate hundreds of megabytes before any limit is checked.
Ganymede's archives are deflated; nothing else is needed.
"""


def has_bounded_method(info: zipfile.ZipInfo) -> bool:
    return info.compress_type in BOUNDED_METHODS


def has_allowed_suffix(name: str) -> bool:
    """Tell whether an entry is code a pull keeps (``.py`` or ``.sql``)."""
    return name.endswith(layout.MANAGED_SUFFIXES)


def exceeds_ratio(size: int, compressed: int, limits: ArchiveLimits) -> bool:
    """Tell whether ``size`` bytes out of ``compressed`` bytes is a zip-bomb ratio."""
    return size > limits.ratio_floor_bytes and size > limits.max_ratio * max(compressed, 1)


def is_plainly_safe_name(name: str) -> bool:
    """Tell at once whether a name is a plain relative code path that no predicate refuses.

    One precompiled match instead of five predicates per entry: archives hold tens of
    thousands of entries. A name it does not recognise is not unsafe, only left to the
    predicates, which also say precisely what is wrong.
    """
    return _PLAINLY_SAFE.fullmatch(name) is not None


def name_problem(name: str) -> str | None:
    """Say what makes an entry name unsafe, or return None when it is fine."""
    if is_plainly_safe_name(name):
        return None
    checks = (
        (is_absolute_name, "is an absolute path"),
        (has_drive_letter, "starts with a drive letter"),
        (has_backslash, "contains a backslash"),
        (has_traversal, "climbs out of the folder with '..'"),
        (has_odd_segment, "has an empty or '.' segment"),
    )
    return next((reason for check, reason in checks if check(name)), None)


def entry_problem(info: zipfile.ZipInfo) -> str | None:
    """Say what makes an entry unsafe from its central-directory record, or None."""
    problem = name_problem(info.filename)
    if problem:
        return problem
    if is_link(info):
        return "is a symbolic link"
    if not is_plain_entry(info):
        return "is not a regular file"
    if is_encrypted(info):
        return "is encrypted"
    if not has_bounded_method(info):
        return "uses a compression method other than stored or deflated"
    return None


def over_limit(
    name: str, size: int, compressed: int, limits: ArchiveLimits, *, declared: bool
) -> LimitExceeded | None:
    """Return the refusal of an entry of ``size`` bytes over a per-file limit, or None.

    ``declared``: the size is what the central directory says, not what was read.
    """
    if size > limits.max_file_bytes:
        what = f"declares {size} bytes, over the" if declared else "is over the"
        problem = f"{what} {limits.max_file_bytes}-byte limit ({limits.FILE_SETTING})"
        return _limit_refusal(name, problem, limits.max_file_bytes, limits.FILE_SETTING)
    if exceeds_ratio(size, compressed, limits):
        problem = f"has a compression ratio over the limit (zip bomb? {limits.RATIO_SETTING})"
        return _limit_refusal(name, problem, limits.max_ratio, limits.RATIO_SETTING)
    return None


# --- reading one small entry ----------------------------------------------------
class SmallEntryReader:
    """Read small stored or deflated entries in one pass, checked as zipfile checks them.

    A ``ZipExtFile`` per entry costs more than inflating a 2 KB file. The same checks,
    without it: the local header's signature, its name equal to the central
    directory's, the data ending before the next entry begins (overlapping entries
    are a zip-bomb technique), inflating capped one byte past the declared size,
    then the size and the CRC.

    What it buys, measured (``dev.py bench --only pull``, 2 CPUs, CPython 3.11): reading
    every entry through ``ZipFile.open`` instead made the apply step of a pull 22-32%
    slower cold (2000 flows: 2.65 s -> 3.24 s, 1.8x -> 2.5x ``unzip -q``, over the 2x
    goal) and 14-26% slower warm (up to 3.1x ``unzip -q``, over the 3x goal).
    """

    def __init__(self, raw: BinaryIO, infos: list[zipfile.ZipInfo]) -> None:
        self._raw = raw
        offsets = sorted({info.header_offset for info in infos})
        file_size = raw.seek(0, os.SEEK_END)
        # Each entry ends where the next begins, the last one at the end of the file.
        self._ends = dict(zip(offsets, [*offsets[1:], file_size], strict=False))

    def check_bounds(self, info: zipfile.ZipInfo) -> None:
        """Check an entry's local header and that its data ends before the next entry.

        Every entry is checked, whichever reader inflates it: overlapping entries
        amplify a large one as much as a small one. Leaves the file at the entry's data.
        """
        raw = self._raw
        raw.seek(info.header_offset)
        header = raw.read(_LOCAL_HEADER.size)
        if len(header) != _LOCAL_HEADER.size or not header.startswith(_LOCAL_SIGNATURE):
            raise zipfile.BadZipFile("bad local file header")
        fields = _LOCAL_HEADER.unpack(header)
        flags, name_length, extra_length = fields[3], fields[10], fields[11]
        name = raw.read(name_length).decode("utf-8" if flags & _UTF8_NAME else "cp437")
        if name != info.orig_filename:
            raise zipfile.BadZipFile("file name in directory and local header differ")
        start = raw.seek(extra_length, os.SEEK_CUR)
        if start + info.compress_size > self._ends.get(info.header_offset, start):
            raise zipfile.BadZipFile("overlaps the next entry (possible zip bomb)")

    def read(self, info: zipfile.ZipInfo) -> bytes | None:
        """Return an entry's content, or None for one left to zipfile (large, encrypted...).

        Raises BadZipFile, EOFError or ValueError (an undecodable name) on a damaged entry.
        """
        if not _small_and_plain(info):
            return None
        self.check_bounds(info)
        data = self._raw.read(info.compress_size)
        if len(data) != info.compress_size:
            raise EOFError("entry data cut short")
        stored = info.compress_type == zipfile.ZIP_STORED
        content = data if stored else _inflate(data, info.file_size)
        if len(content) != info.file_size or zlib.crc32(content) != info.CRC:
            raise zipfile.BadZipFile("size or CRC-32 differs from the central directory")
        return content


def _small_and_plain(info: zipfile.ZipInfo) -> bool:
    if info.file_size > _CHUNK or info.flag_bits & _UNREADABLE:
        return False
    if info.compress_type == zipfile.ZIP_STORED:
        return info.compress_size == info.file_size
    return (
        info.compress_type == zipfile.ZIP_DEFLATED
        and info.compress_size <= info.file_size + _DEFLATE_SLACK
    )


def _inflate(data: bytes, size: int) -> bytes:
    """Inflate a raw deflate stream, producing at most one byte more than ``size``."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    content = inflater.decompress(data, size + 1)
    if not inflater.eof:
        raise zipfile.BadZipFile("deflate stream cut short or longer than declared")
    return content


# --- the validated archive -----------------------------------------------------
class Snapshot:
    """The managed files of a validated archive, read with limits enforced."""

    def __init__(
        self,
        archive: zipfile.ZipFile,
        entries: dict[str, zipfile.ZipInfo],
        ignored: int,
        limits: ArchiveLimits,
        reader: SmallEntryReader | None = None,
    ) -> None:
        self._archive = archive
        self._reader = reader
        self._entries = entries
        self._limits = limits
        self._total = 0
        self._documents: dict[str, bytes] = {}
        self._document_crcs: dict[str, int] = {}
        self._invalid: dict[str, str] | None = None
        self.flow_versions: dict[str, str] = {}
        """Flow id -> the version Ganymede listed for the flow files added."""
        self.paths: list[str] = sorted(entries)
        """Repository paths of the managed files, sorted."""
        self.ignored = ignored
        """Number of file entries left out (not ``.py``/``.sql``, or not managed)."""

    @property
    def invalid(self) -> dict[str, str]:
        """Paths that break the naming rule -> why: a pull writes none of them.

        Worked out once, over the archive's paths and the flow files together."""
        if self._invalid is None:
            self._invalid = naming.name_problems(self.paths)
        return self._invalid

    def add_documents(
        self, documents: Mapping[str, bytes], versions: Mapping[str, str] | None = None
    ) -> None:
        """Add files that are not in the archive but read beside it (the flow files, with
        the flow versions listed), so everything downstream sees one snapshot."""
        clash = sorted(set(documents) & set(self._entries))
        if clash:
            raise ArchiveError(_refusal(clash[0], "is a flow file, which an archive never holds"))
        self._documents.update(documents)
        self._document_crcs.update({path: zlib.crc32(data) for path, data in documents.items()})
        self.flow_versions.update(versions or {})
        self.paths = sorted([*self._entries, *self._documents])
        self._invalid = None

    def __contains__(self, path: object) -> bool:
        return path in self._entries or path in self._documents

    def crc(self, path: str) -> int:
        """Return the CRC-32 the archive declares for ``path`` (of a flow file: its own)."""
        if path in self._documents:
            return self._document_crcs[path]
        return self._entries[path].CRC

    def size(self, path: str) -> int:
        """Return the size the archive declares for ``path`` (a hint: reading verifies)."""
        if path in self._documents:
            return len(self._documents[path])
        return self._entries[path].file_size

    def chunks(self, path: str, *, whole: bool = False) -> Iterator[bytes]:
        """Yield the content of ``path`` in pieces, refusing it as soon as a limit is passed."""
        if path in self._documents:
            yield self._documents[path]
            return
        info = self._entries[path]
        produced = 0
        try:
            for chunk in self._pieces(info, whole):
                produced += len(chunk)
                self._total += len(chunk)
                self._check_streamed(info, produced)
                yield chunk
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError) as error:
            raise ArchiveError(
                f"archive entry {_show(info.filename)} is corrupt or truncated ({error}): "
                "pull again; nothing was written"
            ) from None

    def _pieces(self, info: zipfile.ZipInfo, whole: bool) -> Iterator[bytes]:
        """Yield an entry's bytes: small ones in one checked read, others through zipfile.

        zipfile reads in ``_CHUNK`` pieces even for a small entry the one-pass reader
        declined: ``read(-1)`` would inflate all the compressed data at once, however
        little the entry declares (a 100 KB deflate stream holds 100 MB of zeros).
        A declared size of at most ``_CHUNK`` still comes back in one piece. Every
        entry's bounds are checked first (``SmallEntryReader.check_bounds``).
        """
        content = self._reader.read(info) if whole and self._reader is not None else None
        if content is not None:
            if content:
                yield content
            return
        if self._reader is not None:
            self._reader.check_bounds(info)
        with self._archive.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                yield chunk

    def read(self, path: str) -> bytes:
        """Return the whole content of ``path`` (code files are small; limits still apply)."""
        if path in self._documents:
            return self._documents[path]
        if self._entries[path].file_size > _CHUNK:
            return b"".join(self.chunks(path))
        # One read for a small entry, stopping past the declared size and checking the
        # CRC; the limits are still checked on what it actually produced.
        return next(self.chunks(path, whole=True), b"")

    def _check_streamed(self, info: zipfile.ZipInfo, produced: int) -> None:
        limits = self._limits
        refusal = over_limit(info.filename, produced, info.compress_size, limits, declared=False)
        if refusal is None and self._total > limits.max_total_bytes:
            problem = (
                f"brings the archive over the {limits.max_total_bytes}-byte total limit "
                f"({limits.TOTAL_SETTING})"
            )
            refusal = _limit_refusal(
                info.filename, problem, limits.max_total_bytes, limits.TOTAL_SETTING
            )
        if refusal is not None:
            raise refusal


@contextmanager
def open_snapshot(zip_path: Path, *, limits: ArchiveLimits | None = None) -> Iterator[Snapshot]:
    """Open an archive, validate every entry, and yield its managed files.

    Raises ArchiveError naming the first unsafe entry; nothing has been read by then.
    """
    limits = limits or ArchiveLimits()
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ArchiveError(
            f"the downloaded archive is corrupt or truncated ({error}): pull again; "
            "nothing was written"
        ) from None
    with archive:
        infos = archive.infolist()
        entries, ignored = validate_entries(infos, limits)
        with open(zip_path, "rb") as raw:
            yield Snapshot(archive, entries, ignored, limits, SmallEntryReader(raw, infos))


def validate_entries(
    infos: list[zipfile.ZipInfo], limits: ArchiveLimits
) -> tuple[dict[str, zipfile.ZipInfo], int]:
    """Check every central-directory record; return managed repo path -> record, ignored count."""
    if len(infos) > limits.max_entries:
        raise LimitExceeded(
            f"the archive holds {len(infos)} entries, over the limit of {limits.max_entries} "
            f"({limits.ENTRIES_SETTING})",
            hint="nothing was written",
            limit=limits.max_entries,
            setting=limits.ENTRIES_SETTING,
        )
    _refuse_duplicates(infos)
    total = 0
    entries: dict[str, zipfile.ZipInfo] = {}
    ignored = 0
    for info in infos:
        problem = entry_problem(info)
        if problem:
            raise ArchiveError(_refusal(info.filename, problem))
        refusal = over_limit(info.filename, info.file_size, info.compress_size, limits,
                             declared=True)  # fmt: skip
        if refusal is not None:
            raise refusal
        total += info.file_size
        if total > limits.max_total_bytes:
            problem = (
                f"brings the total over the {limits.max_total_bytes}-byte limit "
                f"({limits.TOTAL_SETTING})"
            )
            raise _limit_refusal(
                info.filename, problem, limits.max_total_bytes, limits.TOTAL_SETTING
            )
        if info.is_dir():
            continue
        if stat.S_ISDIR(unix_mode(info)):
            if has_allowed_suffix(info.filename):
                # Skipping it would make a pull delete the local file without a word.
                raise ArchiveError(_refusal(info.filename, "is a file name marked as a folder"))
            continue
        path = layout.repo_path_from_archive(info.filename)
        if path is None or not has_allowed_suffix(path) or not layout.is_code_path(path):
            ignored += 1
            continue
        entries[path] = info
    _refuse_file_folder_clashes(entries)
    return entries, ignored


def _refuse_duplicates(infos: list[zipfile.ZipInfo]) -> None:
    """Refuse two entries with the same name: which one a pull should write is unknowable.

    Names equal only up to letter case or Unicode form are ``naming``'s concern: the
    pull names them so they can be fixed in Ganymede, and can update everything else.
    """
    seen: set[str] = set()
    for info in infos:
        key = info.filename.rstrip("/")
        if key in seen:
            raise ArchiveError(_refusal(info.filename, "appears twice in the archive"))
        seen.add(key)


def _refuse_file_folder_clashes(entries: dict[str, zipfile.ZipInfo]) -> None:
    """Refuse a file whose path is also used as a folder by another entry."""
    folders = {path.rsplit("/", i)[0] for path in entries for i in range(1, path.count("/") + 1)}
    clash = next((path for path in sorted(entries) if path in folders), None)
    if clash:
        raise ArchiveError(_refusal(entries[clash].filename, "is both a file and a folder"))


def _refusal(name: str, problem: str) -> str:
    return f"unsafe archive: entry {_show(name)} {problem}; nothing was written"


def _limit_refusal(name: str, problem: str, limit: float, setting: str) -> LimitExceeded:
    """Refuse entry ``name`` for a limit; ``problem`` names the setting that raises it."""
    return LimitExceeded(_refusal(name, problem), limit=limit, setting=setting)


def _show(name: str) -> str:
    return naming.show(name)
