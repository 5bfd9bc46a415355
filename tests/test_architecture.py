"""The tooling package keeps its architecture: import contracts and type checks.

The package is layered (``LAYERS``, top first: tasks, runners, ui, results, plans,
local, remote, state, settings, rules, errors), and a module imports only the layers
below its own. Beside the layers stand the design's other rules: only
``ganymede_sync.tasks`` imports Invoke, and nothing imports it; only ``remote.client``
(Ganymede, with its token) and ``remote.webhook`` (a chat webhook, never the token)
import httpx; only ``local.gitops`` imports git; ``plans.planning`` decides from
hashes without reading anything; the emulator imports nothing of the client side.
All are import-linter contracts, and mypy checks the package. Both run on a copy of
the package's source (``tooling/src``), the very files its wheel holds. A source scan
adds what imports cannot show: no module but ``gitops`` runs git or reads GitPython's
objects.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import TEMPLATE

PACKAGE = "ganymede_sync"
LAYERS = (
    "tasks",
    "runners",
    "ui",
    "results",
    "plans",
    "local",
    "remote",
    "state",
    "settings",
    "rules",
    "errors",
)
"""The package's layers, top first: each may import only those below it. The
emulator and the test kit stand beside them, under contracts of their own."""
SOURCE = TEMPLATE / "tooling" / "src"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the package's source, so a test may add a module without touching it."""
    copy = tmp_path_factory.mktemp("architecture") / "src"
    shutil.copytree(SOURCE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def client_side_modules(repo: Path) -> list[str]:
    """Every module and package of the tooling except the emulator, found on disk."""
    names = []
    for path in sorted((repo / PACKAGE).iterdir()):
        if path.name in ("emulator", "tasks.py", "__init__.py", "__pycache__"):
            continue
        if path.suffix == ".py" or (path / "__init__.py").is_file():
            names.append(f"{PACKAGE}.{path.stem}")
    return names


def contracts(repo: Path) -> str:
    """The import contracts, in import-linter's INI format."""
    # The emulator runs triggered flows with the test kit's runner, as the flow tests do.
    client_side = "\n    ".join(
        name for name in client_side_modules(repo) if name != f"{PACKAGE}.testing"
    )
    indented_layers = "\n".join(f"    {layer}" for layer in LAYERS)
    return f"""\
[importlinter]
root_packages =
    {PACKAGE}
include_external_packages = True

[importlinter:contract:layers]
name = Each layer imports only the layers below it
type = layers
containers = {PACKAGE}
layers =
{indented_layers}
exhaustive = true
exhaustive_ignores =
    emulator
    testing

[importlinter:contract:no-invoke]
name = Only the tasks import Invoke, and nothing imports the tasks
type = forbidden
source_modules =
    {client_side}
    {PACKAGE}.emulator
forbidden_modules =
    invoke
    {PACKAGE}.tasks

[importlinter:contract:httpx-in-client]
name = Only the client and the webhook import httpx
type = forbidden
source_modules = {PACKAGE}
forbidden_modules = httpx
ignore_imports =
    {PACKAGE}.remote.client -> httpx
    {PACKAGE}.remote.webhook -> httpx
allow_indirect_imports = True

[importlinter:contract:git-in-gitops]
name = Only gitops imports git
type = forbidden
source_modules = {PACKAGE}
forbidden_modules = git
ignore_imports = {PACKAGE}.local.gitops -> git
allow_indirect_imports = True

[importlinter:contract:pure-plan]
name = A deploy plan is decided from hashes alone: planning reads nothing
type = forbidden
source_modules = {PACKAGE}.plans.planning
forbidden_modules =
    {PACKAGE}.remote
    {PACKAGE}.local
    {PACKAGE}.plans.reading
    {PACKAGE}.runners
    httpx
    git

[importlinter:contract:emulator-alone]
name = The emulator imports nothing of the client side but the test kit
type = forbidden
source_modules = {PACKAGE}.emulator
forbidden_modules =
    {client_side}
    httpx
    git
# What the test kit itself imports (its error types and the layout rule) comes with it.
allow_indirect_imports = True
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
    assert "6 kept, 0 broken" in result.stdout


def lint_with(repo: Path, tmp_path: Path, module: str, source: str) -> str:
    """Run the contracts with one extra ``module`` (a path in the package) holding ``source``."""
    spy = repo / PACKAGE / module
    spy.write_text(source, encoding="utf-8")
    try:
        config = tmp_path / "importlinter.ini"
        config.write_text(contracts(repo), encoding="utf-8")
        linter = Path(sys.executable).with_name("lint-imports")
        result = run([str(linter), "--config", str(config), "--no-cache"], repo)
    finally:
        spy.unlink()
    assert result.returncode != 0
    return result.stdout


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        (
            "emulator/spy.py",
            "from ganymede_sync.remote import client\n",
            "The emulator imports nothing of the client side but the test kit BROKEN",
        ),
        (
            "rules/spy.py",
            "from ganymede_sync.runners import pull\n",
            "Each layer imports only the layers below it BROKEN",
        ),
        (
            "results_extra.py",
            "x = 1\n",
            "Each layer imports only the layers below it BROKEN",
        ),
    ],
    ids=["emulator-imports-the-client", "rules-import-a-runner", "module-outside-every-layer"],
)
def test_a_broken_contract_is_reported(
    repo: Path, tmp_path: Path, module: str, source: str, broken: str
):
    """The check can fail: each of these breaks a contract, and the report names it."""
    assert broken in lint_with(repo, tmp_path, module, source)


def test_mypy_finds_no_error_in_the_tooling(repo: Path, tmp_path: Path):
    command = [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")]
    # pandas ships no types, and tomli is installed only on Python 3.10.
    command += ["--python-version", "3.10", "--ignore-missing-imports"]
    result = run([*command, "--package", PACKAGE], repo)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


GIT_OBJECT_ATTRIBUTES = frozenset(
    {"working_tree_dir", "git_dir", "common_dir", "hexsha", "is_detached", "is_valid"}
)
"""Attributes of GitPython's Repo, Head and Commit that only ``gitops`` may read."""
COMMAND_RUNNERS = frozenset({"run", "call", "check_call", "check_output", "Popen", "system"})
"""Functions that take a whole command line (subprocess, os, Invoke's ``c.run``)."""


def git_uses(source: str) -> list[str]:
    """Return the git commands run and GitPython attributes read in ``source``, by line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in GIT_OBJECT_ATTRIBUTES:
            found.append(f"line {node.lineno}: .{node.attr}")
        if isinstance(node, ast.Call) and node.args and _runs_git(node):
            found.append(f"line {node.lineno}: runs git")
    return found


def _runs_git(call: ast.Call) -> bool:
    """An argv list starting with "git", or a command line "git ..." given to a runner."""
    first = call.args[0]
    if isinstance(first, (ast.List, ast.Tuple)):
        return bool(first.elts) and _is_text(first.elts[0], lambda text: text == "git")
    function = call.func
    name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
    return name in COMMAND_RUNNERS and _is_text(first, lambda text: text.startswith("git "))


def _is_text(node: ast.expr, test: Callable[[str], bool]) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and test(node.value)


def test_the_git_scan_sees_commands_and_repository_attributes():
    assert git_uses("subprocess.run(['git', 'status'])") == ["line 1: runs git"]
    assert git_uses("c.run('git config user.email', hide=True)") == ["line 1: runs git"]
    assert git_uses("Path(repo.working_tree_dir)") == ["line 1: .working_tree_dir"]
    assert git_uses("subprocess.Popen(['git', 'cat-file'])") == ["line 1: runs git"]
    assert git_uses("Check('git repository', ok=True); run(['gh', 'repo'])") == []


def test_only_gitops_runs_git(repo: Path):
    """The emulator stands in for Ganymede's own git store, which the tooling never sees."""
    modules = sorted((repo / PACKAGE).rglob("*.py"))
    allowed = {repo / PACKAGE / "local" / "gitops.py"}
    uses = {
        str(path.relative_to(repo)): found
        for path in modules
        if path not in allowed and "emulator" not in path.relative_to(repo).parts
        if (found := git_uses(path.read_text(encoding="utf-8")))
    }
    assert uses == {}


def tasks_skipping_the_session(source: str) -> list[str]:
    """The Invoke tasks in ``source`` whose body never calls ``begin_task``."""
    skipping = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef) or not any(
            _is_task(d) for d in node.decorator_list
        ):
            continue
        calls = [
            call for call in ast.walk(node)
            if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "begin_task"
        ]  # fmt: skip
        if not calls:
            skipping.append(node.name)
    return skipping


def _is_task(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return getattr(target, "id", "") == "task"


def test_the_task_scan_sees_a_task_that_skips_the_session():
    source = "@task\ndef a(c):\n    begin_task(emit)\n\n@task(help={})\ndef b(c):\n    pass\n"
    assert tasks_skipping_the_session(source) == ["b"]


def test_every_task_begins_with_the_session(repo: Path):
    """Settings checked and interrupted pulls undone first, whatever the task."""
    source = (repo / PACKAGE / "tasks.py").read_text(encoding="utf-8")
    assert tasks_skipping_the_session(source) == []
    assert source.count("@task") >= 13
