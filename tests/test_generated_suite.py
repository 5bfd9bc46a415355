"""The generated repository's own test suite passes inside it, in a fresh virtualenv.

The virtualenv is built from the generated `requirements-dev.txt` and
`requirements-flows.txt` with `--require-hashes`, as the generated CI installs them,
which also proves that the pinned, hash-checked files install together.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import ANSWER_MATRIX, bake_repository

# Distinct combinations for the suite: the defaults and the most unusual answers.
SUITE_COMBINATIONS = ("defaults", "unusual-names")


@pytest.fixture(scope="session")
def suite_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding exactly the generated repository's pinned tools."""
    repo = bake_repository(tmp_path_factory.mktemp("venv-source"))
    folder = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(folder)
    python = folder / "bin" / "python"
    # As the generated CI installs them: the tools and the flows' packages in one go.
    files = ("requirements-dev.txt", "requirements-flows.txt")
    requirements = [argument for name in files for argument in ("-r", str(repo / name))]
    install = ["install", "--quiet", "--require-hashes", *requirements]
    result = subprocess.run([str(python), "-m", "pip", *install], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return python


def suite_environment() -> dict[str, str]:
    """The caller's environment without our virtualenv or any Ganymede setting, as on a runner."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GANYMEDE_", "VIRTUAL_ENV", "PYTHON"))
    }
    env["PATH"] = os.pathsep.join(
        part for part in env.get("PATH", "").split(os.pathsep) if str(Path(sys.prefix)) not in part
    )
    # The generated suite runs in GitHub Actions, where runners set these: run it so here too.
    env.update(CI="true", GITHUB_ACTIONS="true")
    return env


@pytest.mark.slow
@pytest.mark.parametrize("combination", SUITE_COMBINATIONS)
def test_generated_suite_passes_inside_the_repository(suite_python, tmp_path, combination):
    repo = bake_repository(tmp_path, **ANSWER_MATRIX[combination])
    env = suite_environment()
    env["PATH"] = os.pathsep.join([str(suite_python.parent), env["PATH"]])
    result = subprocess.run(
        [str(suite_python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout.splitlines()[-1]
