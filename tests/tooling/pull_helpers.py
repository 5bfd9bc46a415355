"""Helpers of the tooling tests: small repositories, tooling copies, archives, tree snapshots."""

from __future__ import annotations

import dataclasses
import functools
import io
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

from ganymede_sync.emulator import Emulator
from ganymede_sync.remote.client import ClientFactory, open_client
from ganymede_sync.runners.pull import PullOptions, PullResult, run_pull
from ganymede_sync.settings.config import Settings, load_settings
from ganymede_sync.settings.release import PIN_FOLDER

REPOSITORY = Path(__file__).resolve().parents[2]
"""This repository: its tasks.py is what the end-to-end tests run."""
API_KEY = "test-token"

CONFIG = """\
[ganymede]
subdomain = "acme"

[environments.dev]
ganymede_environment = "dev"

[environments.prod]
ganymede_environment = "prod"
"""


def make_repository(root: Path, *, git: bool = True) -> Path:
    """Create a minimal repository: ganymede.toml, dev/README.md, and a first commit."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "ganymede.toml").write_text(CONFIG, encoding="utf-8")
    (root / "dev").mkdir()
    (root / "dev" / "README.md").write_text("My notes about dev.\n", encoding="utf-8")
    if git:
        run_git(root, "init", "--quiet", "--initial-branch=main")
        commit_all(root, "Start")
    return root


def copy_tooling(root: Path, *names: str) -> Path:
    """Copy this repository's tasks.py, its pinned tooling and ``names`` into ``root``.

    The tests that run the real tasks in a repository of their own share it, so all of
    them get the same wiring and pin; the code that runs is the installed ``ganymede_sync``.
    """
    root.mkdir(parents=True, exist_ok=True)
    for name in ("tasks.py", *names):
        shutil.copy2(REPOSITORY / name, root / name)
    shutil.copytree(REPOSITORY / PIN_FOLDER, root / PIN_FOLDER, dirs_exist_ok=True)
    return root


def run_git(root: Path, *args: str) -> str:
    """Run git in ``root`` and return its output."""
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout


def commit_all(root: Path, message: str) -> None:
    """Commit everything in ``root``."""
    run_git(root, "add", "--all")
    run_git(root, "commit", "--quiet", "--allow-empty", "-m", message)


def settings_for(root: Path, url: str, *, token: str = API_KEY, **variables: str) -> Settings:
    """Load the repository's settings pointed at an emulator."""
    return load_settings(root, {"GANYMEDE_API_URL": url, "GANYMEDE_API_TOKEN": token, **variables})


class Sleeps(list):
    """An injectable ``sleep`` that records the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def fast_client(sleeps: Sleeps | None = None, **options: object) -> ClientFactory:
    """A client factory for tests: no real waiting, short timeouts."""
    options.setdefault("timeout", 5.0)
    return functools.partial(
        open_client, sleep=sleeps if sleeps is not None else Sleeps(), **options
    )


RUNNER_KEYWORDS = ("connect", "progress", "flows_progress", "environ")
"""Keywords of ``run_pull`` itself; every other keyword of ``pull_with`` is a ``PullOptions``."""


def pull_with(settings: Settings, folder: str, **options: object) -> PullResult:
    """Run ``run_pull`` with its options as keywords (``limits``: the settings' archive limits)."""
    if "limits" in options:
        settings = dataclasses.replace(settings, archive_limits=options.pop("limits"))
    runner = {key: options.pop(key) for key in RUNNER_KEYWORDS if key in options}
    return run_pull(settings, folder, PullOptions(**options), **runner)  # type: ignore[arg-type]


def tree_state(root: Path) -> dict[str, tuple[str, bytes, int]]:
    """Return every path under ``root`` with its kind, content and mtime (ignoring .git)."""
    state: dict[str, tuple[str, bytes, int]] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if relative == ".git" or relative.startswith(".git/"):
            continue
        status = path.lstat()
        if stat.S_ISLNK(status.st_mode):
            state[relative] = ("link", os.readlink(path).encode(), 0)
        elif path.is_dir():
            state[relative] = ("dir", b"", 0)
        else:
            state[relative] = ("file", path.read_bytes(), status.st_mtime_ns)
    return state


def files_under(folder: Path) -> dict[str, bytes]:
    """Return every file under ``folder`` as POSIX relative path -> content."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def zip_bytes(*entries: tuple[str | zipfile.ZipInfo, bytes], deflate: bool = True) -> bytes:
    """Build an archive in memory from (name or ZipInfo, content) pairs."""
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def entry_with_mode(name: str, mode: int) -> zipfile.ZipInfo:
    """Return a ZipInfo declaring a Unix file type and mode (a link, a pipe...)."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def run_invoke(root: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run this repository's tasks with ``root`` as the working folder, as a user would."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GANYMEDE_") and key not in ("CI", "GITHUB_ACTIONS")
    }
    environ.update(variables)
    return subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(REPOSITORY), *args],
        cwd=root,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def pull_dev(root: Path, emulator: Emulator, **options: object) -> PullResult:
    """Pull folder dev/ of ``root`` from ``emulator``, with a client that never waits long."""
    options.setdefault("connect", fast_client())
    return pull_with(settings_for(root, emulator.url), "dev", **options)


def pulled_repository(root: Path, emulator: Emulator) -> Path:
    """Create a repository whose dev/ holds the emulator's flows, pulled and committed."""
    make_repository(root)
    pull_dev(root, emulator)
    commit_all(root, "First pull")
    return root
