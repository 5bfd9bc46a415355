"""A warm pull takes files exactly as it last saw them for unchanged, and nothing else."""

# ruff: noqa: F811 - the tests take the imported repo fixture

from __future__ import annotations

import copy
import json
import os

from conftest import API_KEY
from test_promote import (
    NODE,
    git,
    repo,  # noqa: F401 - the fixture of dev/ and prod/ pulled
)

from ganymede_sync.local import stat_cache
from ganymede_sync.local.apply import keep_local_work, plan_sync
from ganymede_sync.remote.client import GanymedeClient
from ganymede_sync.remote.fetch import fetch_snapshot
from ganymede_sync.rules.layout import Scope
from ganymede_sync.settings.config import load_settings
from ganymede_sync.state.manifest import load_manifest
from task_runner import run_task as run


def record(repo) -> dict:
    path = stat_cache.path_for(repo.root, "dev")
    return json.loads(path.read_text(encoding="utf-8"))["entries"]


def test_a_pull_records_what_it_found_unchanged_and_a_later_one_trusts_only_that(repo, capsys):
    assert run(capsys, "pull", "--env", "dev")[0] == 0
    entries = record(repo)
    assert NODE in entries and any(name.endswith("/flow.json") for name in entries)
    # Ganymede changes a file, keeping its size: its CRC differs, so the pull applies it.
    local = repo.root / "dev" / NODE
    before = local.read_bytes()
    changed = before.replace(b"def ", b"DEF ", 1)
    assert len(changed) == len(before) and changed != before
    repo.emu.write_file("dev", f"dags/{NODE}", changed)
    code, _, err = run(capsys, "pull", "--env", "dev")
    assert code == 0, err
    assert local.read_bytes() == changed


def test_a_local_edit_that_keeps_size_and_mtime_is_still_seen(repo, capsys):
    assert run(capsys, "pull", "--env", "dev")[0] == 0
    local = repo.root / "dev" / NODE
    status = os.lstat(local)
    edited = local.read_bytes().replace(b"def ", b"DEF ", 1)
    local.write_bytes(edited)
    os.utime(local, ns=(status.st_atime_ns, status.st_mtime_ns))  # mtime put back; ctime moves
    code, out, err = run(capsys, "pull", "--env", "dev")
    assert code == 0, err
    assert local.read_bytes() == edited  # the user's work, kept
    assert f"dev/{NODE}" in out  # and named as kept, not taken for Ganymede's
    git(repo.root, "checkout", "--", "dev")


def test_a_corrupt_or_foreign_record_is_ignored(repo, capsys):
    path = stat_cache.path_for(repo.root, "dev")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json", encoding="utf-8")
    assert run(capsys, "pull", "--env", "dev")[0] == 0
    assert stat_cache.load(path, "prod") is stat_cache.EMPTY
    assert stat_cache.load(path, "dev").entries


def test_an_entry_of_the_wrong_shape_is_no_entry(repo, capsys):
    assert run(capsys, "pull", "--env", "dev")[0] == 0
    path = stat_cache.path_for(repo.root, "dev")
    record = json.loads(path.read_text(encoding="utf-8"))
    status = os.lstat(repo.root / "dev" / NODE)
    good = record["entries"][NODE]
    record["entries"][NODE] = good[:5]  # no sha256
    path.write_text(json.dumps(record), encoding="utf-8")
    cache = stat_cache.load(path, "dev")
    assert cache.unchanged(NODE, status, good[0], good[4]) is None
    record["entries"][NODE] = [*good[:5], 7]  # a sha256 that is not text
    path.write_text(json.dumps(record), encoding="utf-8")
    assert stat_cache.load(path, "dev").unchanged(NODE, status, good[0], good[4]) is None
    record["entries"][NODE] = good
    path.write_text(json.dumps(record), encoding="utf-8")
    assert stat_cache.load(path, "dev").unchanged(NODE, status, good[0], good[4]) == good[5]
    assert run(capsys, "pull", "--env", "dev")[0] == 0


def test_a_recorded_file_that_both_sides_changed_is_a_conflict(repo, capsys):
    """Recorded files Ganymede changed are planned without a read; the user's edit
    (which moves ctime) still makes the file local work, and the pull refuses."""
    assert run(capsys, "pull", "--env", "dev")[0] == 0  # records every file
    local = repo.root / "dev" / NODE
    upstream = local.read_bytes().replace(b"def ", b"DEF ", 1)
    repo.emu.write_file("dev", f"dags/{NODE}", upstream)
    local.write_bytes(b"# mine\n")
    code, _, err = run(capsys, "pull", "--env", "dev")
    assert code != 0 and f"dev/{NODE}" in err
    assert local.read_bytes() == b"# mine\n"
    git(repo.root, "checkout", "--", "dev")


def test_a_recorded_file_edited_after_the_plan_is_read_again(repo, capsys):
    """The plan notes a recorded file without reading it; an edit made before the check
    for local work (a pull plans while it downloads) is still seen as the user's."""
    assert run(capsys, "pull", "--env", "dev")[0] == 0  # records every file
    environ = {"GANYMEDE_API_TOKEN": API_KEY, "GANYMEDE_API_URL": repo.emu.url}
    target = load_settings(repo.root, environ).environment("dev")
    local = target.path / NODE
    repo.emu.write_file("dev", f"dags/{NODE}", local.read_bytes() + b"# upstream\n")
    cache = stat_cache.load(stat_cache.path_for(repo.root, "dev"), "dev")
    with (
        GanymedeClient(repo.emu.url, API_KEY, "dev") as client,
        fetch_snapshot(client) as snapshot,
    ):
        plan = plan_sync(target.path, snapshot, Scope(), cache=cache)
        assert NODE in plan.changed and NODE in plan.as_pulled, "planned from the record"
        pulled = load_manifest(target.manifest_path).files
        assert keep_local_work(copy.deepcopy(plan), snapshot, pulled) == [], "not local work"
        local.write_bytes(local.read_bytes() + b"# mine\n")
        assert keep_local_work(plan, snapshot, pulled) == [NODE]
    git(repo.root, "checkout", "--", "dev")
