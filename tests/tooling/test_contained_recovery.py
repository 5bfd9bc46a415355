"""Crash recovery replays only what a pull of the folder could have written.

A staging folder and its journal are files a clone can hold: a merged pull request may
carry ``.dev.pull-x/journal.json``. Recovery must neither move anything outside the
environment folder and its manifest, nor replay a staging folder git tracks, and it
must say so in one line instead of printing a normal status.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from ganymede_sync.emulator import Emulator
from ganymede_sync.errors import JournalRefused
from ganymede_sync.local.apply import restore_interrupted
from tests.tooling.pull_helpers import (
    API_KEY,
    commit_all,
    make_repository,
    pulled_repository,
    run_git,
    run_invoke,
)

HOOK = "#!/bin/sh\necho owned > owned.txt\n"


def plant(root: Path, moves: list[list[str]], *, name: str = ".dev.pull-x") -> Path:
    """Leave a staging folder with a free lock and a journal of ``moves``, as a clone could."""
    staging = root / name
    staging.mkdir()
    (staging / ".lock").write_bytes(b"")
    (staging / "journal.json").write_text(json.dumps({"version": 1, "moves": moves}))
    return staging


def manifest(root: Path) -> Path:
    return root / ".ganymede" / "dev.json"


@pytest.mark.parametrize(
    "moves",
    [
        [[".git/hooks/post-checkout", "dev/lib/hook.sh"]],
        [["tasks.py", ".dev.pull-x/o0"]],
        [["dev/x.py", ".dev.pull-x/../../x.py"]],
        [["/etc/passwd", ".dev.pull-x/o0"]],
        [[".dev.pull-x/o0", "dev/../outside.py"]],
        [[".dev.pull-x/sub/o0", "dev/x.py"]],
        [["dev/a.py", "dev/b.py"]],
        [["ganymede.toml", ".dev.pull-x/o0"]],
    ],
    ids=[
        "hook",
        "tasks-out",
        "dotdot",
        "absolute",
        "dotdot-folder",
        "nested",
        "no-staging",
        "config",
    ],
)
def test_a_journal_that_leaves_its_places_moves_nothing(tmp_path: Path, moves: list[list[str]]):
    root = make_repository(tmp_path / "work", git=False)
    (root / "dev" / "lib").mkdir()
    (root / "dev" / "lib" / "hook.sh").write_text(HOOK)
    (root / "tasks.py").write_text("# tasks\n")
    before = sorted(str(path.relative_to(root)) for path in root.rglob("*"))
    staging = plant(root, moves)
    with pytest.raises(JournalRefused) as refused:
        restore_interrupted(root / "dev", manifest(root))
    message = str(refused.value)
    assert "was not written by a pull of dev/" in message
    assert "nothing was moved" in message and "delete .dev.pull-x/" in message
    assert "\n" not in message
    after = sorted(str(path.relative_to(root)) for path in root.rglob("*"))
    planted = [str(path.relative_to(root)) for path in [staging, *staging.iterdir()]]
    assert after == sorted(before + planted)
    assert (staging / "journal.json").exists(), "left in place for the user to see"


def test_a_journal_through_a_linked_folder_moves_nothing(tmp_path: Path):
    root = make_repository(tmp_path / "work", git=False)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.py").write_text("keep me\n")
    os.symlink(outside, root / "dev" / "linked")
    plant(root, [["dev/linked/victim.py", ".dev.pull-x/o0"]])
    with pytest.raises(JournalRefused):
        restore_interrupted(root / "dev", manifest(root))
    assert (outside / "victim.py").read_text() == "keep me\n"


def test_a_contained_journal_is_still_undone(tmp_path: Path):
    """The journal a killed pull writes is replayed as before: only hostile ones are refused."""
    root = make_repository(tmp_path / "work", git=False)
    staging = plant(
        root, [["dev/README.md", ".dev.pull-x/o0"], [".dev.pull-x/f0", "dev/README.md"]]
    )
    os.replace(root / "dev" / "README.md", staging / "o0")
    (root / "dev" / "README.md").write_text("half-pulled\n")
    assert restore_interrupted(root / "dev", manifest(root)) == 1
    assert (root / "dev" / "README.md").read_text() == "My notes about dev.\n"
    assert not staging.exists()


def test_a_committed_staging_folder_installs_no_hook_through_a_task(
    tmp_path: Path, emulator: Emulator
):
    """The attack as it arrives: merged into main, then any task runs in a fresh clone."""
    origin = pulled_repository(tmp_path / "origin", emulator)
    (origin / "dev" / "lib").mkdir(exist_ok=True)
    hook = origin / "dev" / "lib" / "hook.sh"
    hook.write_text(HOOK)
    hook.chmod(0o755)
    plant(origin, [[".git/hooks/post-checkout", "dev/lib/hook.sh"]])
    run_git(origin, "add", "--force", ".dev.pull-x")
    commit_all(origin, "Innocent-looking change")
    clone = tmp_path / "clone"
    run_git(tmp_path, "clone", "--quiet", str(origin), str(clone))
    api = {"GANYMEDE_API_URL": emulator.url, "GANYMEDE_API_TOKEN": API_KEY}
    done = run_invoke(clone, "check", "--env", "dev", **api)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    said = done.stdout + done.stderr
    assert ".dev.pull-x/ is tracked by git" in said and "git rm -r -- '.dev.pull-x'" in said
    assert not (clone / ".git" / "hooks" / "post-checkout").exists()
    assert (clone / "dev" / "lib" / "hook.sh").exists()
    assert (clone / ".dev.pull-x" / "journal.json").exists()


def test_a_tracked_staging_folder_without_journal_is_not_deleted(tmp_path: Path):
    """Removing it would delete committed files: it is refused like a replay."""
    root = make_repository(tmp_path / "work")
    staging = root / ".dev.pull-y"
    staging.mkdir()
    (staging / ".lock").write_bytes(b"")
    (staging / "notes.txt").write_text("committed by someone\n")
    run_git(root, "add", "--force", ".dev.pull-y")
    commit_all(root, "Odd folder")
    with pytest.raises(JournalRefused, match="is tracked by git"):
        restore_interrupted(root / "dev", manifest(root))
    assert (staging / "notes.txt").exists()


def test_a_staging_folder_left_before_its_lock_file_existed_is_removed_later(tmp_path):
    # A run killed between making its staging folder and its lock file leaves it empty.
    folder = tmp_path / "dev"
    folder.mkdir()
    staging = tmp_path / ".dev.pull-killed"
    staging.mkdir()
    old = time.time() - 3600
    os.utime(staging, (old, old))
    restore_interrupted(folder, tmp_path / ".ganymede" / "dev.json")
    assert not staging.exists()


def test_a_fresh_staging_folder_without_a_lock_file_is_left_to_its_run(tmp_path):
    folder = tmp_path / "dev"
    folder.mkdir()
    staging = tmp_path / ".dev.pull-starting"
    staging.mkdir()
    (staging / "f0").write_bytes(b"staged\n")
    restore_interrupted(folder, tmp_path / ".ganymede" / "dev.json")
    assert staging.is_dir()  # its run may be about to lock it
    # An empty one can hold nothing to lose: it goes, and its run makes another (test_scratch).
    (staging / "f0").unlink()
    restore_interrupted(folder, tmp_path / ".ganymede" / "dev.json")
    assert not staging.exists()
