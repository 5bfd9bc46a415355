"""Scratch folders: a dead run's are removed by the next run, a live run's never are."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ganymede_sync.state import scratch
from ganymede_sync.state.scratch import LOCK_NAME, reclaim, scratch_folder

PREFIX = ".dev.pull-"


def test_a_live_runs_folder_is_kept_and_a_dead_runs_removed(tmp_path: Path):
    with scratch_folder(tmp_path, PREFIX) as live:
        (live / "staged").write_bytes(b"x")
        dead = tmp_path / f"{PREFIX}dead"
        dead.mkdir()
        (dead / LOCK_NAME).touch()  # nobody holds its lock: its run is gone
        (dead / "staged").write_bytes(b"x")
        assert reclaim(tmp_path, PREFIX) == 1
        assert live.is_dir() and not dead.exists()
    assert list(tmp_path.iterdir()) == []


def test_an_empty_folder_left_without_a_lock_is_removed_at_once(tmp_path: Path):
    """Killed between making the folder and its lock file, or between removing the two."""
    empty = tmp_path / f"{PREFIX}empty"
    empty.mkdir()
    assert reclaim(tmp_path, PREFIX) == 1
    assert not empty.exists()


def test_a_young_folder_without_a_lock_but_with_content_is_left_for_later(tmp_path: Path):
    young = tmp_path / f"{PREFIX}young"
    young.mkdir()
    (young / "staged").write_bytes(b"x")
    assert reclaim(tmp_path, PREFIX) == 0 and young.is_dir()
    old = time.time() - 3600
    os.utime(young, (old, old))
    assert reclaim(tmp_path, PREFIX) == 1 and not young.exists()


def test_a_run_whose_new_folder_is_reclaimed_before_its_lock_makes_another(
    tmp_path: Path, monkeypatch
):
    """Another run may remove a folder while it is still empty: the new run goes on."""
    made: list[Path] = []
    real_mkdtemp = scratch.tempfile.mkdtemp

    def mkdtemp_then_reclaimed(**options: str) -> str:
        folder = real_mkdtemp(**options)
        made.append(Path(folder))
        if len(made) == 1:
            assert reclaim(tmp_path, PREFIX) == 1  # another run's reclaim, right then
        return folder

    monkeypatch.setattr(scratch.tempfile, "mkdtemp", mkdtemp_then_reclaimed)
    with scratch_folder(tmp_path, PREFIX) as folder:
        assert folder == made[1] and (folder / LOCK_NAME).is_file()
        assert not made[0].exists()
