"""Deploy planning: every classification of a path, from content alone."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from deploy_workspace import plan_of_contents as plan
from ganymede_sync.plans import planning, reading
from ganymede_sync.plans.planning import LocalFile, RemoteFile, Status
from ganymede_sync.plans.reading import WHOLE_READ_BYTES
from ganymede_sync.rules.hashing import blob_id
from ganymede_sync.rules.hashing import sha256_bytes as sha256_hex

NODE = "flow/node/function.py"
LIB = "lib/helpers.py"
OLD, MINE, THEIRS = b"x = 1\n", b"x = 2\n", b"x = 3\n"


def base_of(**files: bytes) -> dict[str, str]:
    return {path: sha256_hex(data) for path, data in files.items()}


def status_of(local, remote, base, *, ours=None, force=False, path=NODE) -> Status | None:
    result = plan(local, remote, base, ours=ours, force=force)
    found = [entry.status for entry in result.entries if entry.path == path]
    return found[0] if found else None


def test_blob_id_matches_git_hash_object(tmp_path):
    data = b"print('h\xc3\xa9')\n"
    (tmp_path / "file").write_bytes(data)
    expected = subprocess.run(
        ["git", "hash-object", str(tmp_path / "file")], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert blob_id(data) == expected


def test_sha256_hex_is_the_manifest_hash():
    assert sha256_hex(b"abc") == hashlib.sha256(b"abc").hexdigest()


def test_same_content_everywhere_is_unchanged():
    assert status_of({NODE: OLD}, {NODE: OLD}, base_of(**{NODE: OLD})) is Status.UNCHANGED


def test_local_equal_to_remote_is_unchanged_even_when_both_moved_from_the_base():
    assert status_of({NODE: MINE}, {NODE: MINE}, base_of(**{NODE: OLD})) is Status.UNCHANGED


def test_local_change_over_an_untouched_remote_is_sent():
    result = plan({NODE: MINE}, {NODE: OLD}, {NODE: sha256_hex(OLD)})
    assert result.to_send == [NODE]
    assert result.contents == {NODE: MINE}


def test_remote_change_with_untouched_local_is_remote_ahead():
    assert status_of({NODE: OLD}, {NODE: THEIRS}, {NODE: sha256_hex(OLD)}) is Status.REMOTE_AHEAD


def test_changes_on_both_sides_are_a_conflict():
    assert status_of({NODE: MINE}, {NODE: THEIRS}, {NODE: sha256_hex(OLD)}) is Status.CONFLICT


def test_force_turns_a_conflict_into_an_overwrite_that_is_sent():
    result = plan({NODE: MINE}, {NODE: THEIRS}, {NODE: sha256_hex(OLD)}, force=True)
    assert [entry.status for entry in result.entries] == [Status.OVERWRITE]
    assert result.to_send == [NODE]


def test_force_never_sends_a_remote_ahead_file():
    assert (
        status_of({NODE: OLD}, {NODE: THEIRS}, {NODE: sha256_hex(OLD)}, force=True)
        is Status.REMOTE_AHEAD
    )


def test_remote_equal_to_one_of_our_committed_versions_is_ours_not_a_conflict():
    ours = {NODE: {blob_id(MINE)}}
    newer = b"x = 4\n"
    assert status_of({NODE: newer}, {NODE: MINE}, base_of(**{NODE: OLD}), ours=ours) is Status.SEND


def test_our_versions_of_another_path_do_not_count():
    ours = {"flow/other/function.py": {blob_id(THEIRS)}}
    assert status_of({NODE: MINE}, {NODE: THEIRS}, base_of(**{NODE: OLD}), ours=ours) is (
        Status.CONFLICT
    )


def test_new_node_file_absent_remotely_is_refused():
    result = plan({NODE: MINE}, {}, {})
    assert result.refused == [NODE]
    assert result.entries[0].status is Status.NEW_NODE
    assert result.to_send == []


def test_new_lib_file_is_sent():
    result = plan({LIB: MINE}, {}, {})
    assert result.entries[0].status is Status.NEW_LIB
    assert result.to_send == [LIB]


def test_nested_lib_file_is_a_lib_file():
    assert status_of({"lib/a/b.sql": MINE}, {}, {}, path="lib/a/b.sql") is Status.NEW_LIB


def test_file_deleted_locally_is_reported_not_refused():
    result = plan({}, {NODE: OLD}, {NODE: sha256_hex(OLD)})
    assert result.entries[0].status is Status.DELETED_LOCALLY
    assert result.refused == [] and result.to_send == []


def test_our_deployed_lib_file_deleted_locally_is_deleted_locally():
    assert status_of({}, {LIB: MINE}, {}, ours={LIB: {blob_id(MINE)}}, path=LIB) is (
        Status.DELETED_LOCALLY
    )


def test_file_created_in_ganymede_since_the_pull_is_remote_ahead():
    assert status_of({}, {NODE: THEIRS}, {}) is Status.REMOTE_AHEAD


def test_file_deleted_in_ganymede_and_untouched_here_is_remote_ahead():
    assert status_of({NODE: OLD}, {}, base_of(**{NODE: OLD})) is Status.REMOTE_AHEAD
    assert status_of({LIB: OLD}, {}, base_of(**{LIB: OLD}), path=LIB) is Status.REMOTE_AHEAD


def test_lib_file_deleted_in_ganymede_and_changed_here_is_a_conflict():
    assert status_of({LIB: MINE}, {}, base_of(**{LIB: OLD}), path=LIB) is Status.CONFLICT
    assert status_of({LIB: MINE}, {}, base_of(**{LIB: OLD}), path=LIB, force=True) is (
        Status.OVERWRITE
    )


def test_node_deleted_in_ganymede_and_changed_here_is_a_new_node_file():
    """Ganymede would refuse to recreate it, whatever --force says."""
    assert status_of({NODE: MINE}, {}, base_of(**{NODE: OLD}), force=True) is Status.NEW_NODE


def test_conflict_without_a_base_when_both_sides_created_the_file():
    assert status_of({NODE: MINE}, {NODE: THEIRS}, {}) is Status.CONFLICT


def test_file_gone_on_both_sides_is_left_out():
    assert plan({}, {}, base_of(**{NODE: OLD})).entries == ()


def test_entries_are_sorted_and_totals_count_each_status():
    local = {"b/n/function.py": MINE, "a/n/function.py": OLD, LIB: MINE}
    remote = {"b/n/function.py": OLD, "a/n/function.py": OLD}
    base = base_of(**{"b/n/function.py": OLD, "a/n/function.py": OLD})
    result = plan(local, remote, base)
    assert [entry.path for entry in result.entries] == sorted(local)
    assert result.totals() == {Status.UNCHANGED: 1, Status.SEND: 1, Status.NEW_LIB: 1}


def test_plan_needs_no_bytes_of_files_equal_to_ganymede():
    result = planning.plan(
        {NODE: LocalFile(sha256_hex(OLD)), LIB: LocalFile.of(MINE)},
        {NODE: RemoteFile.of(OLD), LIB: RemoteFile.of(OLD)},
        base_of(**{NODE: OLD, LIB: OLD}),
    )
    assert [entry.status for entry in result.entries] == [Status.UNCHANGED, Status.SEND]
    assert result.contents == {LIB: MINE}


def test_a_file_to_send_whose_bytes_were_not_kept_is_refused_loudly():
    with pytest.raises(ValueError, match=NODE):
        planning.plan(
            {NODE: LocalFile(sha256_hex(MINE))}, {NODE: RemoteFile.of(OLD)}, base_of(**{NODE: OLD})
        )


def test_reading_the_folder_keeps_only_files_unlike_ganymede(tmp_path):
    big = b"".join(b"row_%d = %d\n" % (n, n * 7919 % 100_003) for n in range(120_000))
    assert len(big) > 2 * WHOLE_READ_BYTES
    files = {NODE: OLD, "flow/other/function.py": MINE, LIB: big, "lib/big_changed.py": big}
    for path, data in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    remote = {
        NODE: RemoteFile.of(OLD),
        "flow/other/function.py": RemoteFile.of(THEIRS),
        LIB: RemoteFile.of(big),
        "lib/big_changed.py": RemoteFile.of(big + b"# more\n"),
    }
    local = reading.read_local(tmp_path, remote)
    assert {path: found.sha256 for path, found in local.items()} == base_of(**files)
    kept = {path: found.data for path, found in local.items() if found.data is not None}
    assert kept == {"flow/other/function.py": MINE, "lib/big_changed.py": big}


@pytest.mark.parametrize("status", list(Status))
def test_every_status_has_words_for_the_table(status):
    assert status.value and status.value == status.value.strip()
