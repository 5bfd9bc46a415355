"""Archive validation: every predicate alone, then whole archives, safe and hostile."""

from __future__ import annotations

import io
import stat
import tracemalloc
import zipfile
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ganymede_sync.errors import ArchiveError
from ganymede_sync.remote import archive
from ganymede_sync.remote.archive import open_snapshot
from ganymede_sync.settings.config import MIB, ArchiveLimits
from tests.tooling.pull_helpers import entry_with_mode, zip_bytes

LIMITS = ArchiveLimits()


# --- predicates ------------------------------------------------------------------
@pytest.mark.parametrize(("name", "expected"), [("/etc/x.py", True), ("a/b.py", False)])
def test_is_absolute_name(name, expected):
    assert archive.is_absolute_name(name) is expected


@pytest.mark.parametrize(
    ("name", "expected"), [("C:/x.py", True), ("c:x.py", True), ("a/C:", False)]
)
def test_has_drive_letter(name, expected):
    assert archive.has_drive_letter(name) is expected


@pytest.mark.parametrize(("name", "expected"), [("a\\b.py", True), ("a/b.py", False)])
def test_has_backslash(name, expected):
    assert archive.has_backslash(name) is expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [("../x.py", True), ("a/../../x.py", True), ("a/..b/x.py", False), ("a/b..py", False)],
)
def test_has_traversal(name, expected):
    assert archive.has_traversal(name) is expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a//b.py", True), ("./a.py", True), ("a/\nb.py", False), ("a/b/", False), ("a/b.py", False)],
)
def test_has_odd_segment(name, expected):
    assert archive.has_odd_segment(name) is expected


def test_is_link_reads_the_unix_mode():
    assert archive.is_link(entry_with_mode("a", stat.S_IFLNK | 0o777))
    assert not archive.is_link(entry_with_mode("a", stat.S_IFREG | 0o644))
    assert not archive.is_link(zipfile.ZipInfo("a"))


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (stat.S_IFREG | 0o644, True),
        (stat.S_IFDIR | 0o755, True),
        (0, True),
        (stat.S_IFIFO | 0o644, False),
        (stat.S_IFCHR | 0o644, False),
        (stat.S_IFLNK | 0o777, False),
    ],
)
def test_is_plain_entry(mode, expected):
    assert archive.is_plain_entry(entry_with_mode("a", mode)) is expected


def test_is_encrypted_reads_the_flag():
    info = zipfile.ZipInfo("a.py")
    assert not archive.is_encrypted(info)
    info.flag_bits |= 0x1
    assert archive.is_encrypted(info)


@pytest.mark.parametrize(
    ("name", "expected"), [("a.py", True), ("a.sql", True), ("a.txt", False), ("a.pyc", False)]
)
def test_has_allowed_suffix(name, expected):
    assert archive.has_allowed_suffix(name) is expected


def test_exceeds_ratio_only_for_large_entries():
    limits = ArchiveLimits(max_ratio=10, ratio_floor_bytes=1000)
    assert not archive.exceeds_ratio(999, 1, limits)
    assert archive.exceeds_ratio(2000, 100, limits)
    assert not archive.exceeds_ratio(2000, 200, limits)
    assert archive.exceeds_ratio(2000, 0, limits)


# --- whole archives --------------------------------------------------------------
def write(tmp_path, data: bytes):
    path = tmp_path / "snapshot.zip"
    path.write_bytes(data)
    return path


def refusal(tmp_path, data: bytes, limits: ArchiveLimits = LIMITS) -> str:
    with pytest.raises(ArchiveError) as caught, open_snapshot(write(tmp_path, data), limits=limits):
        pass
    return str(caught.value)


def test_a_valid_archive_lists_managed_files_and_counts_the_rest(tmp_path):
    data = zip_bytes(
        ("f/n/function.py", b"print(1)\n"),
        ("f/n/query.sql", b"select 1\n"),
        ("f/n/notes.txt", b"x"),
        ("lib/pkg/mod.py", b"x = 1\n"),
        ("f/", b""),
        ("f/function.py", b"too shallow"),
    )
    with open_snapshot(write(tmp_path, data)) as snapshot:
        assert snapshot.paths == ["f/n/function.py", "f/n/query.sql", "lib/pkg/mod.py"]
        assert snapshot.ignored == 2
        assert snapshot.read("f/n/query.sql") == b"select 1\n"
        assert "lib/pkg/mod.py" in snapshot


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("../evil/n/function.py", "'..'"),
        ("f/../../evil.py", "'..'"),
        ("/etc/cron.d/x.py", "absolute"),
        ("C:/Windows/x.py", "drive letter"),
        ("f\\n\\function.py", "backslash"),
        ("f//function.py", "empty"),
    ],
)
def test_unsafe_names_are_refused_naming_the_entry(tmp_path, name, words):
    message = refusal(tmp_path, zip_bytes(("ok/n/function.py", b"x"), (name, b"x")))
    assert name.replace("\\", "\\") in message or repr(name)[1:-1] in message
    assert words in message


def test_symbolic_links_are_refused(tmp_path):
    link = entry_with_mode("f/n/function.py", stat.S_IFLNK | 0o777)
    message = refusal(tmp_path, zip_bytes((link, b"/etc/passwd")))
    assert "'f/n/function.py' is a symbolic link" in message


def test_links_are_refused_even_with_an_ignored_suffix(tmp_path):
    link = entry_with_mode("f/n/notes.txt", stat.S_IFLNK | 0o777)
    assert "symbolic link" in refusal(tmp_path, zip_bytes((link, b"/etc")))


def test_pipes_and_devices_are_refused(tmp_path):
    pipe = entry_with_mode("f/n/function.py", stat.S_IFIFO | 0o644)
    assert "not a regular file" in refusal(tmp_path, zip_bytes((pipe, b"")))


def test_duplicate_entries_are_refused(tmp_path):
    with pytest.warns(UserWarning):
        data = zip_bytes(("f/n/function.py", b"a"), ("f/n/function.py", b"b"))
    assert "appears twice" in refusal(tmp_path, data)


def test_entries_differing_only_in_case_are_named_not_refused(tmp_path):
    data = zip_bytes(("f/n/function.py", b"a"), ("F/n/function.py", b"b"), ("g/n/x.py", b""))
    with open_snapshot(write(tmp_path, data)) as snapshot:
        assert sorted(snapshot.invalid) == ["F/n/function.py", "f/n/function.py"]
        assert "letter case" in snapshot.invalid["F/n/function.py"]


def test_a_path_used_as_file_and_folder_is_refused(tmp_path):
    data = zip_bytes(("f/n/x.py", b"a"), ("f/n/x.py/y.py", b"b"))
    assert "both a file and a folder" in refusal(tmp_path, data)


def test_encrypted_entries_are_refused(tmp_path):
    data = bytearray(zip_bytes(("f/n/function.py", b"x"), deflate=False))
    data[6] |= 0x1
    central = data.rindex(b"PK\x01\x02")
    data[central + 8] |= 0x1
    path = write(tmp_path, bytes(data))
    with pytest.raises(ArchiveError, match="encrypted"), open_snapshot(path):
        pass


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_entries_compressed_without_a_bounded_reader_are_refused(tmp_path, method):
    """bzip2 and lzma inflate without a cap: 241 bytes of bzip2 can hold 200 MB of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as built:
        built.writestr("f/n/function.py", b"\0" * (4 * MIB), compress_type=method)
    tracemalloc.start()
    try:
        message = refusal(tmp_path, buffer.getvalue())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "'f/n/function.py' uses a compression method other than stored or deflated" in message
    assert peak < MIB


@pytest.mark.parametrize(("method", "bounded"), [(zipfile.ZIP_STORED, True),
                                                  (zipfile.ZIP_DEFLATED, True),
                                                  (zipfile.ZIP_BZIP2, False)])  # fmt: skip
def test_has_bounded_method(method, bounded):
    info = zipfile.ZipInfo("a.py")
    info.compress_type = method
    assert archive.has_bounded_method(info) is bounded


def test_an_entry_over_the_size_limit_is_refused(tmp_path):
    data = zip_bytes(("f/n/function.py", b"x" * 2000))
    message = refusal(tmp_path, data, ArchiveLimits(max_file_bytes=1000))
    assert "'f/n/function.py' declares 2000 bytes" in message


def test_an_archive_over_the_total_limit_is_refused(tmp_path):
    data = zip_bytes(*((f"f/n{i}/function.py", b"y" * 600) for i in range(3)))
    message = refusal(tmp_path, data, ArchiveLimits(max_total_bytes=1000))
    assert "total" in message


def test_a_zip_bomb_is_refused_before_anything_is_read(tmp_path):
    data = zip_bytes(("f/n/function.py", b"\0" * (8 << 20)))
    assert len(data) < 20_000
    assert "compression ratio" in refusal(tmp_path, data)


def test_too_many_entries_are_refused(tmp_path):
    data = zip_bytes(*((f"f/n/{i}.txt", b"") for i in range(11)))
    assert "11 entries" in refusal(tmp_path, data, ArchiveLimits(max_entries=10))


def test_garbage_is_refused_as_corrupt(tmp_path):
    assert "corrupt or truncated" in refusal(tmp_path, b"this is not a zip file" * 10)


def test_a_truncated_archive_is_refused(tmp_path):
    data = zip_bytes(("f/n/function.py", b"print(1)\n" * 100))
    assert "corrupt or truncated" in refusal(tmp_path, data[: len(data) // 2])


def test_damaged_content_is_refused_naming_the_entry(tmp_path):
    content = bytes(range(256)) * 40
    data = bytearray(zip_bytes(("f/n/function.py", content), deflate=False))
    offset = data.index(content[:64]) + 100
    data[offset] ^= 0xFF
    with (
        open_snapshot(write(tmp_path, bytes(data))) as snapshot,
        pytest.raises(ArchiveError, match=r"'f/n/function\.py' is corrupt"),
    ):
        snapshot.read("f/n/function.py")


def test_an_understated_size_is_caught_while_reading(tmp_path):
    """A central directory that lies about the size never yields unchecked bytes."""
    content = b"print('hello')\n" * 100
    data = bytearray(zip_bytes(("f/n/function.py", content), deflate=False))
    central = data.rindex(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    with open_snapshot(write(tmp_path, bytes(data))) as snapshot:
        assert snapshot.size("f/n/function.py") == 10
        with pytest.raises(ArchiveError, match="corrupt"):
            snapshot.read("f/n/function.py")


def test_limits_hold_while_streaming_across_entries(tmp_path):
    """The running total counts bytes actually produced, entry after entry."""
    data = zip_bytes(("a/n/function.py", b"1" * 700), ("b/n/function.py", b"2" * 700))
    path = write(tmp_path, data)
    with open_snapshot(path, limits=ArchiveLimits(max_total_bytes=1500)) as snapshot:
        snapshot.read("a/n/function.py")
        snapshot.read("b/n/function.py")
        with pytest.raises(ArchiveError, match="total limit"):
            snapshot.read("a/n/function.py")


def test_names_with_control_characters_are_shown_on_one_line(tmp_path):
    message = refusal(tmp_path, zip_bytes(("f/n/x\n.py", b"x"), ("/f/n/y\r.py", b"y")))
    assert "\n" not in message and "\r" not in message and "absolute" in message
    with open_snapshot(write(tmp_path, zip_bytes(("f/n/x\n.py", b"x")))) as snapshot:
        assert snapshot.invalid == {"f/n/x\n.py": "holds a control character"}


# --- the fast path for plainly safe names ------------------------------------------
_NAME_CHARS = st.sampled_from([*"ab.:/\\C_-é", "py", "sql", "..", "\x00", "\n", "\x7f"])
_PREDICATES = (
    archive.is_absolute_name,
    archive.has_drive_letter,
    archive.has_backslash,
    archive.has_traversal,
    archive.has_odd_segment,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_NAME_CHARS, max_size=14).map("".join))
def test_a_name_recognised_as_plainly_safe_passes_every_predicate(name):
    if archive.is_plainly_safe_name(name):
        assert not any(check(name) for check in _PREDICATES)
        assert archive.name_problem(name) is None
        assert archive.has_allowed_suffix(name)


_SEGMENT = st.text(alphabet=st.characters(blacklist_characters="/\\", codec="utf-8"), min_size=1)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(_SEGMENT.filter(lambda part: not part.startswith(".")), min_size=1, max_size=4),
    st.sampled_from([".py", ".sql"]),
)
def test_plain_code_paths_take_the_fast_path_unless_a_predicate_objects(segments, suffix):
    name = "/".join(segments) + suffix
    refused = any(check(name) for check in _PREDICATES)
    assert archive.is_plainly_safe_name(name) is not refused


@pytest.mark.parametrize(
    "name", ["../x.py", "a/../b.py", "/a/b.py", "C:/a.py", "a\\b.py", "a//b.py", "a/./b.py"]
)
def test_unsafe_names_never_take_the_fast_path(name):
    assert not archive.is_plainly_safe_name(name)
    assert archive.name_problem(name)


# --- the one-pass reader of small entries ------------------------------------------
CODE = b"def run(x):\n    return x * 2\n" * 40


def central_offset(data: bytes, field: int) -> int:
    """Offset of a field of the (only) central-directory record."""
    return data.rindex(b"PK\x01\x02") + field


def read_refusal(tmp_path, data: bytes) -> str:
    with open_snapshot(write(tmp_path, data)) as snapshot, pytest.raises(ArchiveError) as caught:
        snapshot.read("f/n/function.py")
    return str(caught.value)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=3000), st.booleans())
def test_small_entries_read_exactly_as_zipfile_reads_them(content, deflate):
    data = zip_bytes(("f/n/function.py", content), deflate=deflate)
    stream = io.BytesIO(data)
    with zipfile.ZipFile(stream) as plain:
        info = plain.infolist()[0]
        reader = archive.SmallEntryReader(stream, plain.infolist())
        assert reader.read(info) == plain.read(info) == content


@pytest.mark.parametrize("deflate", [True, False])
def test_a_local_header_naming_another_file_is_refused(tmp_path, deflate):
    data = bytearray(zip_bytes(("f/n/function.py", CODE), deflate=deflate))
    data[30:45] = b"f/n/evil_xx.py"[:15].ljust(15, b"_")
    assert "corrupt" in read_refusal(tmp_path, bytes(data))


def test_an_entry_without_a_local_header_is_refused(tmp_path):
    data = bytearray(zip_bytes(("f/n/function.py", CODE)))
    data[0:4] = b"XXXX"
    assert "corrupt" in read_refusal(tmp_path, bytes(data))


@pytest.mark.parametrize("declared", [10, len(CODE) - 1, len(CODE) + 1])
def test_a_deflated_entry_of_another_size_than_declared_is_refused(tmp_path, declared):
    data = bytearray(zip_bytes(("f/n/function.py", CODE)))
    offset = central_offset(bytes(data), 24)
    data[offset : offset + 4] = declared.to_bytes(4, "little")
    assert "corrupt" in read_refusal(tmp_path, bytes(data))


def test_a_deflated_entry_with_a_wrong_crc_is_refused(tmp_path):
    data = bytearray(zip_bytes(("f/n/function.py", CODE)))
    offset = central_offset(bytes(data), 16)
    data[offset] ^= 0xFF
    assert "corrupt" in read_refusal(tmp_path, bytes(data))


def test_a_deflate_stream_cut_short_is_refused(tmp_path):
    data = bytearray(zip_bytes(("f/n/function.py", CODE)))
    size_at = central_offset(bytes(data), 20)
    compressed = int.from_bytes(data[size_at : size_at + 4], "little")
    data[size_at : size_at + 4] = (compressed - 5).to_bytes(4, "little")
    assert "corrupt" in read_refusal(tmp_path, bytes(data))


def test_entries_the_one_pass_reader_leaves_alone_are_read_by_zipfile(tmp_path):
    big = bytes(range(256)) * 5000
    data = zip_bytes(("f/n/function.py", CODE), ("lib/big.py", big), deflate=False)
    with zipfile.ZipFile(io.BytesIO(data)) as plain:
        reader = archive.SmallEntryReader(io.BytesIO(data), plain.infolist())
        assert reader.read(plain.getinfo("lib/big.py")) is None
    with open_snapshot(write(tmp_path, data)) as snapshot:
        assert snapshot.read("lib/big.py") == big and snapshot.read("f/n/function.py") == CODE


def test_inflating_stops_just_past_the_declared_size(tmp_path):
    """A small declared size never lets a bomb inflate whole in memory."""
    data = bytearray(zip_bytes(("f/n/function.py", bytes(32 * MIB))))
    offset = central_offset(bytes(data), 24)
    data[offset : offset + 4] = MIB.to_bytes(4, "little")
    path = write(tmp_path, bytes(data))
    del data
    with open_snapshot(path) as snapshot:
        tracemalloc.start()
        try:
            with pytest.raises(ArchiveError, match="corrupt"):
                snapshot.read("f/n/function.py")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 4 * MIB


def overlapping(content: bytes) -> bytes:
    """Two stored entries of ``content``, the first declared to span the second as well.

    The first entry's size, compressed size and CRC are those of everything up to the
    central directory, so read as declared it holds the second entry too.
    """
    first, second = ("a/n/function.py", content), ("b/n/function.py", content)
    data = bytearray(zip_bytes(first, second, deflate=False))
    start = 30 + len(first[0])
    record = data.index(b"PK\x01\x02")
    span = bytes(data[start:record])
    data[record + 16 : record + 20] = zlib.crc32(span).to_bytes(4, "little")
    data[record + 20 : record + 24] = len(span).to_bytes(4, "little")
    data[record + 24 : record + 28] = len(span).to_bytes(4, "little")
    return bytes(data)


def test_an_entry_whose_data_overlaps_the_next_one_is_refused(tmp_path):
    """Entries sharing data multiply what a small archive inflates to (a zip bomb)."""
    with open_snapshot(write(tmp_path, overlapping(CODE))) as snapshot:
        assert snapshot.read("b/n/function.py") == CODE
        with pytest.raises(ArchiveError, match="overlaps the next entry"):
            snapshot.read("a/n/function.py")


def test_a_large_entry_whose_data_overlaps_the_next_one_is_refused(tmp_path):
    """Entries over 1 MiB go through zipfile, and are bounded all the same."""
    big = b"x = 1\n" * (300 * 1024)  # 1.8 MiB: past the one-pass reader
    with open_snapshot(write(tmp_path, overlapping(big))) as snapshot:
        assert snapshot.read("b/n/function.py") == big
        with pytest.raises(ArchiveError, match="overlaps the next entry"):
            snapshot.read("a/n/function.py")
        with pytest.raises(ArchiveError, match="overlaps the next entry"):
            b"".join(snapshot.chunks("a/n/function.py"))


def test_an_empty_archive_is_a_snapshot_without_files(tmp_path):
    with open_snapshot(write(tmp_path, zip_bytes())) as snapshot:
        assert snapshot.paths == [] and snapshot.ignored == 0
