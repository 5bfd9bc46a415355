"""Static gates on generated repositories: actionlint, zizmor, ruff, YAML and JSON schemas.

Every gate must report nothing on every answer set. The tools are the pinned ones of
requirements-dev.txt, found next to this Python; a missing tool fails the test
instead of skipping it, and canary tests prove each linter really reports problems.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

TOOLS_PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
UNPINNED_WORKFLOW = """\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v5
      - run: echo ${{ github.event.head_commit.message }} $UNQUOTED
"""


def tool(name: str) -> str:
    """Return the path of a pinned tool, failing loudly when it is not installed."""
    found = shutil.which(name, path=TOOLS_PATH)
    if found is None:
        pytest.fail(f"{name} is not installed: run python3 dev.py test (it installs the tools)")
    return found


def run_tool(arguments: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a tool with the pinned tools first on PATH (actionlint finds shellcheck there)."""
    return subprocess.run(
        arguments,
        cwd=cwd,
        env={**os.environ, "PATH": TOOLS_PATH, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def workflow_files(repo: Path) -> list[str]:
    return sorted(str(path) for path in (repo / ".github" / "workflows").glob("*.yml"))


@pytest.fixture
def repo(baked) -> Path:
    """The repository of one answer set; the gates only read it."""
    return baked.path


def test_every_workflow_goes_through_the_gates(repo: Path):
    names = {Path(path).name for path in workflow_files(repo)}
    assert names >= {"ci.yml", "deploy.yml", "pull.yml", "promote.yml"}


def test_actionlint_with_shellcheck_reports_nothing(repo: Path):
    tool("shellcheck")
    result = run_tool([tool("actionlint"), *workflow_files(repo)], repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("persona", ["regular", "pedantic"])
def test_zizmor_offline_reports_nothing_at_any_severity(repo: Path, persona: str):
    """No severity filter; the pedantic persona adds code smells to the regular findings."""
    arguments = ["--offline", "--no-config", "--persona", persona, "--format", "plain", "."]
    result = run_tool([tool("zizmor"), *arguments], repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout, result.stdout


def test_ruff_check_passes_with_the_generated_configuration(repo: Path):
    result = run_tool([tool("ruff"), "check", "--no-cache", "."], repo)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_every_generated_file_unchanged(repo: Path):
    result = run_tool([tool("ruff"), "format", "--check", "--no-cache", "."], repo)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_yaml_file_parses(repo: Path):
    paths = [*repo.rglob("*.yml"), *repo.rglob("*.yaml")]
    assert len(paths) >= 5
    for path in paths:
        assert yaml.safe_load(path.read_text(encoding="utf-8")) is not None, path


def test_workflows_match_githubs_workflow_schema(repo: Path):
    result = run_tool(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *workflow_files(repo),
        ],
        repo,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_config_matches_its_schema(repo: Path):
    config = str(repo / ".github" / "dependabot.yml")
    result = run_tool(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot", config], repo
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pre_commit_config_is_valid(repo: Path):
    result = run_tool([tool("pre-commit"), "validate-config", ".pre-commit-config.yaml"], repo)
    assert result.returncode == 0, result.stdout + result.stderr


# Canaries: a gate that passes everything would make the tests above meaningless.
def test_actionlint_canary_reports_shellcheck_and_injection_findings(tmp_path: Path):
    workflow = tmp_path / ".github" / "workflows" / "bad.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(UNPINNED_WORKFLOW, encoding="utf-8")
    result = run_tool([tool("actionlint"), str(workflow)], tmp_path)
    assert result.returncode != 0
    assert "shellcheck reported issue" in result.stdout
    assert "potentially untrusted" in result.stdout


def test_zizmor_canary_reports_unpinned_actions_and_default_permissions(tmp_path: Path):
    workflow = tmp_path / ".github" / "workflows" / "bad.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(UNPINNED_WORKFLOW, encoding="utf-8")
    result = run_tool(
        [tool("zizmor"), "--offline", "--no-config", "--format", "plain", "."], tmp_path
    )
    assert result.returncode != 0
    for audit in ("unpinned-uses", "excessive-permissions", "artipacked"):
        assert audit in result.stdout, result.stdout
