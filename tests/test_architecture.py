"""The generated tooling keeps its architecture: import contracts and type checks.

The dependency rules of the design (the library never imports Invoke or tasks; only
``client`` imports httpx; only ``gitops`` imports git; the emulator imports nothing of
the client side) are import-linter contracts, and mypy checks the package. Both run on
a generated repository, so they see exactly what users get.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import bake_repository

PACKAGE = "ganymede_sync"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake_repository(tmp_path_factory.mktemp("architecture"))


def client_side_modules(repo: Path) -> list[str]:
    """Every module and package of the tooling except the emulator, found on disk."""
    names = []
    for path in sorted((repo / PACKAGE).iterdir()):
        if path.name in ("emulator", "__init__.py", "__pycache__"):
            continue
        if path.suffix == ".py" or (path / "__init__.py").is_file():
            names.append(f"{PACKAGE}.{path.stem}")
    return names


def contracts(repo: Path) -> str:
    """The import contracts, in import-linter's INI format."""
    client_side = "\n    ".join(client_side_modules(repo))
    return f"""\
[importlinter]
root_packages =
    {PACKAGE}
include_external_packages = True

[importlinter:contract:no-invoke]
name = The library never imports Invoke or the tasks
type = forbidden
source_modules = {PACKAGE}
forbidden_modules =
    invoke
    tasks

[importlinter:contract:httpx-in-client]
name = Only the client imports httpx
type = forbidden
source_modules = {PACKAGE}
forbidden_modules = httpx
ignore_imports = {PACKAGE}.client -> httpx
allow_indirect_imports = True

[importlinter:contract:git-in-gitops]
name = Only gitops imports git
type = forbidden
source_modules = {PACKAGE}
forbidden_modules = git
ignore_imports = {PACKAGE}.gitops -> git
allow_indirect_imports = True

[importlinter:contract:emulator-alone]
name = The emulator imports nothing of the client side
type = forbidden
source_modules = {PACKAGE}.emulator
forbidden_modules =
    {client_side}
    httpx
    git
"""


def run(command: list[str], repo: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(repo), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)


def test_import_contracts_hold(repo: Path, tmp_path: Path):
    config = tmp_path / "importlinter.ini"
    config.write_text(contracts(repo), encoding="utf-8")
    linter = Path(sys.executable).with_name("lint-imports")
    result = run([str(linter), "--config", str(config), "--no-cache"], repo)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "4 kept, 0 broken" in result.stdout


def test_a_broken_contract_is_reported(repo: Path, tmp_path: Path):
    """The check can fail: an emulator module that imports the client breaks a contract."""
    spy = repo / PACKAGE / "emulator" / "spy.py"
    spy.write_text("from ganymede_sync import client\n", encoding="utf-8")
    try:
        config = tmp_path / "importlinter.ini"
        config.write_text(contracts(repo), encoding="utf-8")
        linter = Path(sys.executable).with_name("lint-imports")
        result = run([str(linter), "--config", str(config), "--no-cache"], repo)
    finally:
        spy.unlink()
    assert result.returncode != 0
    assert "The emulator imports nothing of the client side BROKEN" in result.stdout


def test_mypy_finds_no_error_in_the_tooling(repo: Path, tmp_path: Path):
    command = [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")]
    # pandas ships no types, and tomli is installed only on Python 3.10.
    command += ["--python-version", "3.10", "--ignore-missing-imports"]
    result = run([*command, PACKAGE, "tasks.py"], repo)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
