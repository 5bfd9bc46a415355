"""A pull killed at any moment leaves its folder entirely old or entirely new.

Real processes against the emulator on 127.0.0.1: each trial starts a pull in a
child process (forked from a server that has imported the library once, to keep
the test short) and ends it abruptly, either at a named point of the apply chosen at
random (the child replaces ``local.apply.checkpoint`` with one that exits as ``kill -9``
would: no clean-up runs) or with a real SIGKILL at a random delay once the swap has begun. Then the
next task (the library call every task makes first, or ``invoke check`` /
``invoke status`` themselves) must bring the folder and its manifest back to
exactly the old or exactly the new state, and leave no staging folder or
temporary archive behind. Ctrl-C (once or twice) during and after the swap is
tested in-process with real SIGINT signals.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ganymede_sync.emulator import Emulator
from ganymede_sync.errors import Interrupted
from ganymede_sync.local import apply as sync_module
from ganymede_sync.local.apply import JOURNAL_NAME, restore_interrupted
from ganymede_sync.settings.config import load_settings
from ganymede_sync.state.manifest import load_manifest
from tests.tooling.pull_helpers import (
    API_KEY,
    commit_all,
    fast_client,
    make_repository,
    pull_with,
    run_invoke,
    settings_for,
    zip_bytes,
)

POINTS = ("staged", "journal", "move", "committed", "cleaned")
HOOK_KILLS = 20
SIGNAL_KILLS = 6
INVOKED = {1: "check", 3: "status"}
"""Trials whose recovery is left to a task run as a user runs it."""
FORKS = multiprocessing.get_context("forkserver")
FORKS.set_forkserver_preload(["ganymede_sync.runners.pull", "tests.test_pull_crash"])


def crash_at_nth(wanted: str) -> Callable[[str], None]:
    """A checkpoint that ends the process, as ``kill -9``, the n-th time ``<point>:<n>`` passes."""
    name, _, count = wanted.partition(":")
    passed = 0

    def checkpoint(point: str) -> None:
        nonlocal passed
        if point == name:
            passed += 1
            if passed == int(count or 1):
                os._exit(137)

    return checkpoint


def pull_in_child(root: str, url: str, temporary: str, crash_at: str) -> None:
    """The child's whole life: one pull, as ``invoke pull`` runs it."""
    tempfile.tempdir = temporary
    if crash_at:
        sync_module.checkpoint = crash_at_nth(crash_at)
    settings = load_settings(Path(root), {"GANYMEDE_API_URL": url, "GANYMEDE_API_TOKEN": API_KEY})
    pull_with(settings, "dev", environ={})


def archive_files(count: int, version: str, *, skip_every: int = 0) -> dict[str, bytes]:
    """An environment of ``count`` files in several flows and lib/ (``version`` in each)."""
    files = {}
    for number in range(count):
        if skip_every and number % skip_every == 0:
            continue
        flow = f"Flow_{number % 7}"
        path = f"lib/pkg/m{number}.py" if number % 5 == 0 else f"{flow}/N{number}/function.py"
        files[path] = f"VALUE = '{version}-{number}'\n".encode()
    if version == "new":
        files["New_Flow/Step/function.py"] = b"NEW = 1\n"
    return files


def state(root: Path) -> tuple[dict[str, bytes], dict[str, str] | None]:
    """The managed files of dev/ and the files its manifest records."""
    folder = root / "dev"
    files = {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file() and path.suffix in (".py", ".sql")
    }
    manifest = load_manifest(root / ".ganymede" / "dev.json")
    return files, manifest.files if manifest else None


@pytest.fixture
def setting(tmp_path):
    """A pristine repository pulled at the old state, and both states' exact content."""
    emulator = Emulator(tmp_path / "emulator", api_key=API_KEY, environments=("dev",))
    emulator.start()
    old, new = archive_files(120, "old"), archive_files(120, "new", skip_every=9)
    pristine = make_repository(tmp_path / "pristine")
    emulator.add_fault("archive", data=zip_bytes(*old.items()))
    pull_with(settings_for(pristine, emulator.url), "dev", connect=fast_client())
    commit_all(pristine, "Old state")
    reference = tmp_path / "reference"
    shutil.copytree(pristine, reference, symlinks=True)
    emulator.add_fault("archive", data=zip_bytes(*new.items()))
    pull_with(settings_for(reference, emulator.url), "dev", connect=fast_client())
    states = {"old": state(pristine), "new": state(reference)}
    assert states["old"] != states["new"]
    yield emulator, pristine, states, zip_bytes(*new.items())
    emulator.stop()


def child(root: Path, emulator: Emulator, temporary: Path, crash_at: str = "") -> Any:
    arguments = (str(root), emulator.url, str(temporary), crash_at)
    process = FORKS.Process(target=pull_in_child, args=arguments, daemon=True)
    process.start()
    return process


def recover(root: Path, emulator: Emulator, trial: int) -> str:
    """Run what the next task runs first: the library call, or ``invoke check``/``status``."""
    if trial not in INVOKED:
        restore_interrupted(root / "dev", root / ".ganymede" / "dev.json")
        return "library"
    task = INVOKED[trial]
    api = {"GANYMEDE_API_URL": emulator.url, "GANYMEDE_API_TOKEN": API_KEY}
    done = run_invoke(root, task, "--env", "dev", **api)
    said = "restored dev/ first: 1 earlier pull(s) had been killed"
    honest = said in done.stdout and "Traceback" not in done.stderr
    return f"invoke {task}" if honest else done.stdout + done.stderr


def leftovers(root: Path) -> list[str]:
    return [path.name for path in root.iterdir() if path.name.startswith(".dev.pull-")]


def test_a_killed_pull_never_leaves_a_mixed_folder(setting, tmp_path):
    emulator, pristine, states, new_archive = setting
    seed = int(os.environ.get("CRASH_TEST_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)  # noqa: S311 - kill points, not secrets
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    tried, mixed, outcomes = [], [], {"old": 0, "new": 0}
    root = tmp_path / "work"
    for trial in range(HOOK_KILLS + SIGNAL_KILLS):
        started = time.monotonic()
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(pristine, root, symlinks=True)
        emulator.add_fault("archive", data=new_archive)
        if trial in INVOKED:
            where = "move:5"  # the task run next must say it restored the folder
            process = child(root, emulator, temporary, where)
            process.join(timeout=60)
        elif trial < HOOK_KILLS:
            # Half the kills fall between two renames, where a folder could be mixed.
            point = "move" if rng.random() < 0.5 else rng.choice(POINTS)
            where = f"{point}:{rng.randint(1, 200) if point == 'move' else 1}"
            process = child(root, emulator, temporary, where)
            process.join(timeout=60)
        else:
            process = child(root, emulator, temporary)
            where = _kill_during_swap(process, root, rng)
        assert process.exitcode in (0, 137, -signal.SIGKILL), (where, process.exitcode)
        how = recover(root, emulator, trial)
        assert how in ("library", "invoke check", "invoke status"), how
        found = state(root)
        tried.append(f"{where} -> {how} ({time.monotonic() - started:.1f}s)")
        if found == states["old"]:
            outcomes["old"] += 1
        elif found == states["new"]:
            outcomes["new"] += 1
        else:
            mixed.append(where)
        assert leftovers(root) == [], where
    print(f"\ncrash test (seed {seed}): {len(tried)} kills, {len(mixed)} mixed, {outcomes}")
    print("\n".join(tried))
    assert mixed == []
    assert outcomes["old"] and outcomes["new"]
    # Archives of the killed runs are removed by the next run that downloads one, and so
    # are bare archives that earlier versions left in the temporary folder long ago.
    bare = temporary / "ganymede-snapshot-abc123.zip"
    bare.write_bytes(new_archive)
    os.utime(bare, (time.time() - 7200, time.time() - 7200))
    emulator.add_fault("archive", data=new_archive)
    process = child(root, emulator, temporary)
    process.join(timeout=60)
    assert process.exitcode == 0
    assert list(temporary.iterdir()) == []


def _kill_during_swap(process: Any, root: Path, rng: random.Random) -> str:
    """SIGKILL the child a random moment after its journal appears (or when it ends)."""
    deadline = time.monotonic() + 60
    while process.is_alive() and time.monotonic() < deadline:
        if any((root / name / JOURNAL_NAME).exists() for name in leftovers(root)):
            delay = rng.uniform(0, 0.02)
            time.sleep(delay)
            process.kill()
            process.join()
            return f"SIGKILL {delay * 1000:.1f} ms into the swap"
        time.sleep(0.0005)
    process.join()
    return "SIGKILL too late (the pull had finished)"


# --- Ctrl-C ----------------------------------------------------------------------------
@pytest.fixture
def ctrl_c(monkeypatch):
    """Send real SIGINTs to this process at a named point of the apply."""
    sent = []

    def at(point_wanted: str, times: int, after: int = 1):
        seen = {"count": 0}

        def checkpoint(point: str) -> None:
            if point != point_wanted:
                return
            seen["count"] += 1
            if seen["count"] == after:
                for _ in range(times):
                    os.kill(os.getpid(), signal.SIGINT)
                    sent.append(point)

        monkeypatch.setattr(sync_module, "checkpoint", checkpoint)

    return at


@pytest.mark.parametrize("times", [1, 2])
def test_ctrl_c_during_the_swap_puts_everything_back(setting, ctrl_c, times, tmp_path):
    emulator, pristine, states, new_archive = setting
    emulator.add_fault("archive", data=new_archive)
    ctrl_c("move", times, after=20)
    with pytest.raises(KeyboardInterrupt):
        pull_with(settings_for(pristine, emulator.url), "dev", connect=fast_client())
    assert state(pristine) == states["old"] and leftovers(pristine) == []


def test_ctrl_c_once_the_folder_is_updated_says_so(setting, ctrl_c):
    emulator, pristine, states, new_archive = setting
    emulator.add_fault("archive", data=new_archive)
    ctrl_c("committed", 2)
    with pytest.raises(Interrupted, match="had been fully updated"):
        pull_with(settings_for(pristine, emulator.url), "dev", connect=fast_client())
    assert state(pristine) == states["new"] and leftovers(pristine) == []


@pytest.mark.parametrize(
    ("task", "stream"),
    [
        (("diff", "--env", "dev", "--against", "prod"), "stdout"),
        (("promote", "--from", "dev", "--to", "prod"), "stdout"),
        (("doctor", "--env", "dev"), "stdout"),
        (("changed-environments",), "stderr"),
        (("sync-request", "--env", "dev"), "stderr"),
        (("test", "--env", "dev"), "stdout"),
    ],
    ids=lambda value: value[0] if isinstance(value, tuple) else value,
)
def test_every_task_restores_a_killed_pull_first_and_says_so(setting, tmp_path, task, stream):
    """Whatever task comes next reads the folder as it was, never half-swapped.

    Tasks whose standard output a program reads (JSON, $GITHUB_OUTPUT lines) say it on
    standard error instead, so their output stays exactly what the program expects.
    """
    emulator, pristine, states, new_archive = setting
    root = tmp_path / "work"
    shutil.copytree(pristine, root, symlinks=True)
    emulator.add_fault("archive", data=new_archive)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    process = child(root, emulator, temporary, "move:5")
    process.join(timeout=60)
    assert process.exitcode == 137
    api = {"GANYMEDE_API_URL": emulator.url, "GANYMEDE_API_TOKEN": API_KEY}
    done = run_invoke(root, *task, **api)
    said = "restored dev/ first: 1 earlier pull(s) had been killed"
    assert said in getattr(done, stream), done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert state(root) == states["old"]
    assert leftovers(root) == []
