"""The tooling ships as one reproducible wheel that generated repositories pin by sha256.

The template commits the wheel (``{{cookiecutter.repo_name}}/.ganymede-sync/``) so that a
repository generated straight from the template works on day one; these tests prove it
is exactly the source in ``tooling/``, that the build is reproducible, and that a
generated repository holds the user's code and the pin, not the tooling's source.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

import dev
from tests.conftest import TEMPLATE, bake_repository

PINNED = TEMPLATE / "{{cookiecutter.repo_name}}" / ".ganymede-sync"
REBUILD = "the committed wheel is not tooling/ as it is now: run python3 dev.py build"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from ``tooling/`` now."""
    return dev.build_wheel(Path(sys.executable), tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake_repository(tmp_path_factory.mktemp("generated"))


def committed_wheel() -> Path:
    (wheel,) = PINNED.glob("ganymede_sync-*.whl")
    return wheel


def test_the_committed_wheel_is_the_source_in_tooling(built: Path):
    wheel = committed_wheel()
    assert wheel.name == built.name, REBUILD
    assert wheel.read_bytes() == built.read_bytes(), REBUILD
    pins = (PINNED / "requirements.txt").read_text(encoding="utf-8")
    assert pins == dev.pin_lines(wheel), REBUILD


def test_the_build_is_reproducible_whatever_the_checkout(built: Path, tmp_path: Path):
    """Other timestamps, other file modes (a umask of 002), another folder: same bytes."""
    copy = tmp_path / "tooling"
    shutil.copytree(dev.TOOLING, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for path in copy.rglob("*"):
        if path.is_file():
            path.chmod(0o664)
            os.utime(path, (1_900_000_000, 1_900_000_000))
    again = dev.build_wheel(Path(sys.executable), tmp_path / "out", copy)
    assert again.read_bytes() == built.read_bytes()


def test_the_version_is_declared_once_and_names_the_wheel(built: Path):
    source = (dev.TOOLING / "src" / "ganymede_sync" / "__init__.py").read_text(encoding="utf-8")
    (version,) = re.findall(r'^__version__ = "([^"]+)"$', source, re.MULTILINE)
    assert built.name == f"ganymede_sync-{version}-py3-none-any.whl"


def test_the_wheel_holds_no_test_switch_and_registers_no_plugin(built: Path):
    """Crash points are not switchable from outside; the pytest plugin is loaded once.

    The flow-test plugin is registered by the generated tests/conftest.py: an entry point
    as well would load it twice, which pytest refuses.
    """
    with zipfile.ZipFile(built) as archive:
        names = archive.namelist()
        sources = {
            name: archive.read(name).decode("utf-8") for name in names if name.endswith(".py")
        }
        entry_points = [name for name in names if name.endswith("entry_points.txt")]
        assert not entry_points or "pytest11" not in archive.read(entry_points[0]).decode()
    assert "ganymede_sync/emulator/__main__.py" in names, "the demo needs the emulator"
    assert "ganymede_sync/py.typed" in names, "a user's mypy reads the package's types"
    assert not [name for name in names if "/tests/" in name or name.endswith(".pyc")]
    for name, text in sources.items():
        assert "CRASH_AT" not in text, name
        if "/emulator/" not in name:
            assert "os._exit" not in text, name


def test_a_generated_repository_holds_no_tooling_source(repo: Path):
    python = sorted(path.relative_to(repo).as_posix() for path in repo.rglob("*.py"))
    assert [path for path in python if not path.startswith("tests/")] == ["tasks.py"]
    assert not (repo / "ganymede_sync").exists()
    (wheel,) = (repo / ".ganymede-sync").glob("*.whl")
    assert wheel.read_bytes() == committed_wheel().read_bytes(), "copied byte for byte"


def test_tasks_py_is_wiring_the_users_style_leaves_alone(repo: Path, tmp_path: Path):
    """Whatever line length the user picks for their code, ruff leaves tasks.py as it is."""
    ruff = Path(sys.executable).with_name("ruff")
    for length in ("79", "88", "100", "120"):
        for command in (["format", "--check"], ["check", "--select", "E,W,F,I,UP"]):
            done = subprocess.run(
                [str(ruff), *command, "--no-cache", "--line-length", length, "tasks.py"],
                cwd=repo,
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, (length, done.stdout + done.stderr)


def test_dependabot_leaves_the_tooling_to_cruft(repo: Path):
    config = yaml.safe_load((repo / ".github" / "dependabot.yml").read_text(encoding="utf-8"))
    (pip,) = [entry for entry in config["updates"] if entry["package-ecosystem"] == "pip"]
    assert ".ganymede-sync/**" in pip["exclude-paths"]
    locked = re.findall(
        r"^([a-z0-9][a-z0-9._-]*)==",
        (repo / ".ganymede-sync" / "dependencies.txt").read_text(encoding="utf-8"),
        re.MULTILINE,
    )
    # A package pinned per Python version (pyflakes) is locked twice and ignored once.
    assert sorted(item["dependency-name"] for item in pip["ignore"]) == sorted(set(locked))


def test_the_users_locks_are_theirs(repo: Path):
    """cruft never updates them (Dependabot does); they start within the tooling's pins."""
    skip = (repo / "pyproject.toml").read_text(encoding="utf-8")
    for name in ("requirements-dev.in", "requirements-dev.txt", "requirements-flows.txt"):
        assert f'"{name}"' in skip
    dependencies = pins_of(repo / ".ganymede-sync" / "dependencies.txt")
    for name in ("requirements-dev.txt", "requirements-flows.txt"):
        shared = pins_of(repo / name).items() & dependencies.keys()
        assert all(dependencies[package] == version for package, version in shared), name


def pins_of(path: Path) -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    return dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==([^ ;\\\n]+)", text, re.MULTILINE))


def tampered_copy(repo: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "tampered"
    shutil.copytree(repo, copy)
    (wheel,) = (copy / ".ganymede-sync").glob("*.whl")
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0xFF
    wheel.write_bytes(bytes(data))
    return copy


def test_pip_refuses_a_tampered_wheel(repo: Path, tmp_path: Path):
    """The wheel's own pin line, checked with no index at all: the tooling needs none."""
    from ganymede_sync.settings import release

    pin = release.read_pin(repo)
    assert pin is not None
    wheel_only = tmp_path / "wheel-only.txt"
    wheel_only.write_text(f"./{pin.path} --hash=sha256:{pin.sha256}\n", encoding="utf-8")
    install = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--no-index"]
    install += ["--require-hashes", "-r", str(wheel_only)]
    intact = subprocess.run(install, cwd=repo, capture_output=True, text=True)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    tampered = subprocess.run(
        install, cwd=tampered_copy(repo, tmp_path), capture_output=True, text=True
    )
    assert tampered.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in tampered.stdout + tampered.stderr


def test_doctor_names_a_tampered_wheel_with_a_fix(repo: Path, tmp_path: Path):
    from ganymede_sync.runners import doctor

    copy = tampered_copy(repo, tmp_path)
    (check, *_) = doctor.run_checks(copy, environ={})
    assert check.name == "tooling" and not check.ok
    assert re.search(r"\.ganymede-sync/ganymede_sync-\S+\.whl has sha256 \w+", check.detail)
    assert "git restore .ganymede-sync/" in check.fix
    (check, *_) = doctor.run_checks(repo, environ={})
    assert check.ok and "ganymede-sync" in check.detail


def check_with_minimum(repo: Path, tmp_path: Path, minimum: str) -> subprocess.CompletedProcess:
    """Run ``invoke check`` in a copy of ``repo`` whose ganymede.toml asks for ``minimum``."""
    copy = tmp_path / "repo"
    shutil.copytree(repo, copy)
    config = copy / "ganymede.toml"
    config.write_text(f"minimum_tooling_version = {minimum}\n" + config.read_text("utf-8"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("GANYMEDE_")}
    command = [sys.executable, "-m", "invoke", "check"]
    return subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True)


@pytest.mark.parametrize(
    ("minimum", "message"),
    [
        ('"99.0"', "this repository needs ganymede-sync 99.0 or newer; "),
        ('"latest"', "minimum_tooling_version = 'latest' is not a version like \"1.2.0\""),
        ("2", "minimum_tooling_version must be a string like"),
    ],
)
def test_a_repository_asking_for_newer_tooling_is_refused_in_one_line(
    repo: Path, tmp_path: Path, minimum: str, message: str
):
    done = check_with_minimum(repo, tmp_path, minimum)
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: {message}"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_an_older_minimum_passes(repo: Path, tmp_path: Path):
    done = check_with_minimum(repo, tmp_path, '"0.1"')
    assert done.returncode == 0, done.stderr
