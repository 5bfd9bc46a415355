"""Generation across the answer matrix: tree, rendered values, parseable files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ANSWER_MATRIX, answer

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

UNRENDERED_MARKERS = ("{{ cookiecutter", "{{cookiecutter", "{%", "%}", "{#")


def text_files(root: Path) -> list[Path]:
    """Every file under ``root`` that decodes as UTF-8 text."""
    files = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and ".git" not in path.parts:
            try:
                path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            files.append(path)
    return files


def environment_names(answers: dict[str, str]) -> list[str]:
    raw = answer(answers, "environments")
    return [name.strip() for name in raw.split(",")]


@pytest.fixture
def generated(baked):
    """The repository of one answer set and its answers (read only)."""
    return baked.path, baked.answers


def test_generated_tree_has_the_skeleton(generated):
    repo, answers = generated
    for relative in (
        "README.md",
        "ganymede.toml",
        "tasks.py",
        "pyproject.toml",
        ".ganymede-sync/requirements.txt",
        ".ganymede-sync/dependencies.txt",
        "requirements-dev.txt",
        "requirements-flows.in",
        "requirements-flows.txt",
        "tests/conftest.py",
        "tests/test_flow_integrity.py",
        "tests/test_example_flow.py",
        "docs/testing.md",
        ".gitignore",
        ".gitattributes",
        "tests",
    ):
        assert (repo / relative).exists(), relative
    for name in environment_names(answers):
        assert (repo / name / "README.md").read_text(encoding="utf-8").startswith(f"# `{name}/`")


def test_repo_folder_is_named_by_repo_name(generated):
    repo, answers = generated
    expected = answers.get("repo_name") or "ganymede-flows"
    assert repo.name == expected


def test_no_unrendered_template_marker_survives(generated):
    repo, _ = generated
    for path in repo.rglob("*"):
        assert "cookiecutter" not in str(path.relative_to(repo)), path
    for path in text_files(repo):
        text = path.read_text(encoding="utf-8")
        for marker in UNRENDERED_MARKERS:
            if marker in ("{%", "%}") and path.suffix in (".py",):
                # Python f-strings and format specs may use "%}" legitimately; Jinja
                # blocks always pair with "{%", which is checked on its own.
                continue
            assert marker not in text.replace("${{", ""), f"{marker!r} left in {path}"


def test_ganymede_toml_holds_the_answers(generated):
    repo, answers = generated
    config = tomllib.loads((repo / "ganymede.toml").read_text(encoding="utf-8"))
    assert config["ganymede"]["subdomain"] == answer(answers, "ganymede_subdomain")
    assert list(config["environments"]) == environment_names(answers)
    assert config["sync"]["default_branch"] == answer(answers, "default_branch")
    assert config["sync"]["bot_email"] == answer(answers, "sync_bot_email")
    chain = [name.strip() for name in answer(answers, "promotion_chain").split(",")]
    assert config.get("promotion", {}).get("chain", []) == [name for name in chain if name]
    keys = json.dumps(config).lower()
    assert "token" not in keys and "secret" not in keys and "api_key" not in keys


def test_every_data_file_parses(generated):
    repo, _ = generated
    for path in text_files(repo):
        if path.suffix in (".yml", ".yaml"):
            yaml.safe_load(path.read_text(encoding="utf-8"))
        elif path.suffix == ".toml":
            tomllib.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))


def test_every_python_file_compiles(generated):
    repo, _ = generated
    for path in repo.rglob("*.py"):
        compile(path.read_bytes(), str(path), "exec")


def test_invoke_lists_every_task_with_help(generated):
    repo, _ = generated
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "--list"],
        cwd=repo,
        # The repository is shared by other tests: leave no __pycache__ behind.
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    for name in ("init", "pull", "deploy", "status", "check", "emulator", "doctor", "diff"):
        assert f"\n  {name} " in result.stdout, result.stdout
    assert "github-setup" in result.stdout and "\n  promote " in result.stdout


def test_answers_reach_the_files_as_plain_text(generated):
    """Quotes, backslashes and shell syntax in an answer are written as typed, never run."""
    repo, answers = generated
    title = (repo / "README.md").read_text(encoding="utf-8").splitlines()[0]
    assert title == f"# {answer(answers, 'project_name')}"
    assert not list(repo.parent.rglob("pwned"))


def test_generation_is_deterministic(bake):
    answers = ANSWER_MATRIX["three-environments"]
    first, second = bake(**answers), bake(**answers)
    first_files = {p.relative_to(first): p.read_bytes() for p in first.rglob("*") if p.is_file()}
    second_files = {p.relative_to(second): p.read_bytes() for p in second.rglob("*") if p.is_file()}
    assert first_files == second_files


def test_generated_readme_names_the_tenant_and_environments(generated):
    repo, answers = generated
    readme = (repo / "README.md").read_text(encoding="utf-8")
    assert f"https://{answer(answers, 'ganymede_subdomain')}.ganymede.bio" in readme
    for name in environment_names(answers):
        assert f"`{name}/`" in readme
