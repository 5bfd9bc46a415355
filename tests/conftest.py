"""Shared helpers of the template's tests: answers, baking, and a git identity."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parent.parent

# The tooling's own tests import `ganymede_sync`, which exists only in a generated
# repository: tests/test_generated_suite.py runs them there, for every answer set.
collect_ignore = ["tooling"]

# The defaults of cookiecutter.json, so tests never restate them (a list is a choice:
# its first item is the default).
DEFAULT_ANSWERS = {
    key: value[0] if isinstance(value, list) else value
    for key, value in json.loads((TEMPLATE / "cookiecutter.json").read_text()).items()
    if not key.startswith("_")
}


def answer(answers: dict[str, str], key: str) -> str:
    """The value of ``key`` in a generation with ``answers`` (its default when not given)."""
    return answers.get(key, DEFAULT_ANSWERS[key])


def pytest_configure(config: pytest.Config) -> None:
    """Keep cookiecutter's replay files and clones out of the user's home directory."""
    home = Path(tempfile.mkdtemp(prefix="template-tests-cookiecutter-"))
    settings = home / "config.yaml"
    settings.write_text(
        f"cookiecutters_dir: {json.dumps(str(home / 'templates'))}\n"
        f"replay_dir: {json.dumps(str(home / 'replay'))}\n",
        encoding="utf-8",
    )
    config.stash[COOKIECUTTER_HOME] = home
    os.environ["COOKIECUTTER_CONFIG"] = str(settings)


def pytest_unconfigure(config: pytest.Config) -> None:
    home = config.stash.get(COOKIECUTTER_HOME, None)
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)


COOKIECUTTER_HOME = pytest.StashKey[Path]()

# Answer sets that together use every choice value and the risky combinations.
ANSWER_MATRIX = {
    "defaults": {},
    "one-environment": {"environments": "dev"},
    "three-environments": {
        "environments": "dev,staging,prod",
        "pull_schedule": "0 6 * * 1-5",
        "promotion_chain": "dev,staging,prod",
    },
    "custom-branch": {"default_branch": "release/flows", "python_version": "3.10"},
    "unusual-names": {
        "project_name": 'Labor Ünïcode "Flows" \\ $(touch pwned)',
        "repo_name": "lab.flows_2",
        "ganymede_subdomain": "a1-b2",
        "environments": " qa-1 , prod_eu ",
        "sync_bot_name": "Sync Bot [bot]",
        "sync_bot_email": "sync+bot@lab.example.org",
        "python_version": "3.13",
    },
    "python-3.11": {"python_version": "3.11", "environments": "dev,prod"},
}


def bake_repository(output_dir: Path, **answers: str) -> Path:
    """Generate a repository non-interactively and return its folder."""
    with hook_scripts_removed():
        return Path(
            cookiecutter(
                str(TEMPLATE),
                no_input=True,
                output_dir=str(output_dir),
                extra_context=answers,
            )
        )


@contextlib.contextmanager
def hook_scripts_removed() -> Iterator[None]:
    """Have cookiecutter write its rendered hook scripts into a folder removed afterwards.

    It writes each hook to a temporary file and never deletes it: a suite that
    generates hundreds of repositories would leave hundreds of files in the machine's
    temporary folder.
    """
    with tempfile.TemporaryDirectory(prefix="cookiecutter-hooks-") as folder:
        previous, tempfile.tempdir = tempfile.tempdir, folder
        try:
            yield
        finally:
            tempfile.tempdir = previous


class Baked(NamedTuple):
    """A repository generated from one answer set of ANSWER_MATRIX."""

    path: Path
    answers: dict[str, str]


@pytest.fixture(scope="session", params=sorted(ANSWER_MATRIX), ids=sorted(ANSWER_MATRIX))
def baked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Baked:
    """Generate each answer set once per session; tests using it must only read it."""
    answers = ANSWER_MATRIX[request.param]
    return Baked(bake_repository(tmp_path_factory.mktemp(request.param), **answers), answers)


@pytest.fixture
def bake(tmp_path: Path) -> Callable[..., Path]:
    """Return a function that generates a repository under this test's tmp_path."""
    counter = iter(range(1000))

    def _bake(**answers: str) -> Path:
        return bake_repository(tmp_path / f"out{next(counter)}", **answers)

    return _bake


@pytest.fixture(autouse=True)
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give git an identity without touching the user's configuration."""
    for kind in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{kind}_NAME", "Template Tests")
        monkeypatch.setenv(f"GIT_{kind}_EMAIL", "template-tests@example.com")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GANYMEDE_API_TOKEN", raising=False)
