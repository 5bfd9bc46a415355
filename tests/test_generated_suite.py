"""Both test suites pass against generated repositories.

- The user's suite (the generated ``tests/``: flow tests and their conftest) passes inside
  the repository of two answer sets, in a fresh virtualenv built from its pinned,
  hash-checked files: the tooling's wheel (.ganymede-sync/requirements.txt),
  requirements-dev.txt and requirements-flows.txt, installed together as the generated
  CI installs them.
- The tooling's suite (``tests/tooling/`` here: the tests of ``ganymede_sync``, its tasks,
  its emulator) runs once, in a generated repository with the default answers: the
  package is the same in every repository, only its wiring is generated. The suite is
  copied into the repository's ``tests/tooling/`` for the run, so it sees the files a
  user gets; it is never shipped there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ANSWER_MATRIX, answer, bake_repository

TOOLING_TESTS = Path(__file__).resolve().parent / "tooling"
LISTENING = "Ganymede emulator listening on "
EMULATOR_TOKEN = "suite-token"

# Distinct combinations for the fresh-virtualenv run: the defaults and the most unusual answers.
SUITE_COMBINATIONS = ("defaults", "unusual-names")


def runner_environment() -> dict[str, str]:
    """The caller's environment without Ganymede settings, plus what runners set."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GANYMEDE_")}
    # The suites run in GitHub Actions, where runners set these: run them so here too.
    env.update(CI="true", GITHUB_ACTIONS="true")
    return env


def without_our_virtualenv(env: dict[str, str]) -> dict[str, str]:
    """``env`` with this interpreter's virtualenv taken off PATH, as on a fresh runner."""
    prefixes = ("VIRTUAL_ENV", "PYTHON")
    env = {key: value for key, value in env.items() if not key.startswith(prefixes)}
    env["PATH"] = os.pathsep.join(
        part for part in env.get("PATH", "").split(os.pathsep) if str(Path(sys.prefix)) not in part
    )
    return env


def run_pytest(python: Path | str, repo: Path, *arguments: str, env: dict[str, str]):
    return subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *arguments],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="session")
def suite_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding exactly the generated repository's pinned tools."""
    repo = bake_repository(tmp_path_factory.mktemp("venv-source"))
    folder = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(folder)
    python = folder / "bin" / "python"
    # As the generated CI installs them, from the root: the tooling, the checks and the
    # flows' packages in one go.
    files = (".ganymede-sync/requirements.txt", "requirements-dev.txt", "requirements-flows.txt")
    requirements = [argument for name in files for argument in ("-r", name)]
    install = ["install", "--quiet", "--require-hashes", *requirements]
    pip = [str(python), "-m", "pip", *install]
    result = subprocess.run(pip, cwd=repo, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return python


@contextmanager
def example_emulator(python: Path, repo: Path, folders: list[str], env: dict[str, str]):
    """Serve the emulator's example flows for ``folders``; yield its URL."""
    command = [str(python), "-m", "ganymede_sync.emulator", "--port", "0", "--seed", "example"]
    command += ["--data-dir", str(repo.parent / "emulator"), "--api-key", EMULATOR_TOKEN]
    command += [f"--environment={folder}" for folder in folders]
    server = subprocess.Popen(command, cwd=repo, env=env, stdout=subprocess.PIPE, text=True)
    try:
        first_line = server.stdout.readline() if server.stdout else ""
        assert first_line.startswith(LISTENING), first_line
        yield first_line.removeprefix(LISTENING).strip()
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("combination", SUITE_COMBINATIONS)
def test_user_suite_passes_inside_the_repository(suite_python, tmp_path, combination):
    """The flow tests pass on pulled example flows, with only the repository's own pins."""
    answers = ANSWER_MATRIX[combination]
    repo = bake_repository(tmp_path, **answers)
    env = without_our_virtualenv(runner_environment())
    env["PATH"] = os.pathsep.join([str(suite_python.parent), env["PATH"]])
    folders = [name.strip() for name in answer(answers, "environments").split(",")]
    with example_emulator(suite_python, repo, folders, env) as url:
        pulling = {**env, "GANYMEDE_API_URL": url, "GANYMEDE_API_TOKEN": EMULATOR_TOKEN}
        for folder in folders:
            pull = [str(suite_python), "-m", "invoke", "pull", "--env", folder]
            done = subprocess.run(pull, cwd=repo, env=pulling, capture_output=True, text=True)
            assert done.returncode == 0, done.stdout + done.stderr
    result = run_pytest(suite_python, repo, env=env)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    # Nine example nodes per folder pass the integrity test; the two worked examples
    # (one node, the whole qPCR flow) need dev/.
    example = 2 if "dev" in folders else 0
    passed = re.search(r"(\d+) passed", result.stdout.splitlines()[-1])
    assert passed and int(passed.group(1)) == 9 * len(folders) + example, result.stdout[-3000:]
    assert ("skipped" in result.stdout.splitlines()[-1]) == (not example)


@pytest.mark.slow
def test_tooling_suite_passes_against_the_generated_repository(tmp_path):
    repo = bake_repository(tmp_path)
    shutil.copytree(
        TOOLING_TESTS, repo / "tests" / "tooling", ignore=shutil.ignore_patterns("__pycache__")
    )
    arguments = ("tests/tooling", "-n", "2")
    result = run_pytest(sys.executable, repo, *arguments, env=runner_environment())
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert re.search(r"\d+ passed", result.stdout.splitlines()[-1])


def test_generated_tests_hold_no_test_of_the_tooling(baked):
    """The generated ``tests/`` is the user's: nothing in it tests ``ganymede_sync`` itself."""
    tests = baked.path / "tests"
    internal = re.compile(r"^\s*(from|import)\s+ganymede_sync(?!\.testing\b)", re.MULTILINE)
    offenders = [
        path.relative_to(baked.path).as_posix()
        for path in sorted(tests.rglob("*.py"))
        if internal.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
    assert not (tests / "tooling").exists()
