"""Flow code is Ganymede's bytes: no default check or hook rewrites it or fails on its style.

Code written in Ganymede's web editor has unused and unsorted imports, long lines and
no final newline; a sync pull request carrying it must be green, and nothing in the
generated repository's default set-up may change one of its bytes. Only what Ganymede
itself would reject (a syntax error) fails.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import bake_repository

# Valid Python in Ganymede's real-world style: every ruff rule and the formatter object.
EDITOR_STYLE_NODE = (
    b"import sys, os\n"
    b"import json\n"
    b"from lib.time_util import print_date_time\n"
    b"def execute(excel_file: bytes, ganymede_context = None):\n"
    b"    result = {'rows' : len(excel_file)}  # a comment that makes this line far longer"
    b" than one hundred characters\n"
    b"    return result"
)
CRLF_LIB = b"def print_date_time():\r\n    return 'now'\r\n"
INSTALL_MARKERS = ("pip install", "pip-sync")


def git(repo: Path, *arguments: str) -> str:
    result = subprocess.run(
        ["git", *arguments], cwd=repo, capture_output=True, text=True, check=True
    )
    return result.stdout


def tool_environment(tmp_path: Path) -> dict[str, str]:
    """This virtualenv's tools first on PATH, pre-commit's cache in tmp_path, no CI settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GANYMEDE_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")
    return env


def flow_bytes(repo: Path) -> dict[str, str]:
    """Digest of every file under the environment folders, by path."""
    return {
        path.relative_to(repo).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in ("dev", "prod")
        for path in sorted((repo / folder).rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def ci_check_steps(repo: Path) -> list[tuple[str, str]]:
    """(name, script) of each step of the generated CI's checks job that is not an install."""
    workflow = yaml.safe_load((repo / ".github" / "workflows" / "ci.yml").read_text())
    steps = workflow["jobs"]["checks"]["steps"]
    return [
        (step["name"], step["run"])
        for step in steps
        if "run" in step and not any(marker in step["run"] for marker in INSTALL_MARKERS)
    ]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A generated repository whose dev/ holds editor-style flow code, committed."""
    repo = bake_repository(tmp_path / "out")
    node = repo / "dev" / "qpcr-analysis" / "Parse_Raw_Data" / "function.py"
    node.parent.mkdir(parents=True)
    node.write_bytes(EDITOR_STYLE_NODE)
    (repo / "dev" / "lib").mkdir()
    (repo / "dev" / "lib" / "time_util.py").write_bytes(CRLF_LIB)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Editor-style flow code")
    return repo


def run_script(repo: Path, script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], cwd=repo, env=env, capture_output=True, text=True)


def test_every_ci_check_passes_on_editor_style_flow_code_and_changes_no_byte(repo, tmp_path):
    env = tool_environment(tmp_path)
    before = flow_bytes(repo)
    steps = ci_check_steps(repo)
    assert {name for name, _ in steps} >= {"Lint Python", "Check Python formatting"}
    for name, script in steps:
        result = run_script(repo, script, env)
        assert result.returncode == 0, f"{name}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
    assert flow_bytes(repo) == before


def test_every_pre_commit_hook_passes_and_changes_no_byte_of_flow_code(repo, tmp_path):
    env = tool_environment(tmp_path)
    before = flow_bytes(repo)
    result = run_script(repo, "pre-commit run --all-files", env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert flow_bytes(repo) == before
    assert git(repo, "status", "--porcelain") == ""


def test_a_syntax_error_in_flow_code_still_fails_the_checks_and_the_hooks(repo, tmp_path):
    env = tool_environment(tmp_path)
    node = repo / "dev" / "qpcr-analysis" / "Parse_Raw_Data" / "function.py"
    node.write_bytes(b"def execute(:\n    pass\n")
    failing = [
        name for name, script in ci_check_steps(repo) if run_script(repo, script, env).returncode
    ]
    assert "Check the flow code" in failing
    assert run_script(repo, "pre-commit run --all-files", env).returncode != 0


def test_a_fresh_clone_checks_out_flow_code_byte_for_byte_even_with_autocrlf(repo, tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "-c", "core.autocrlf=true", "clone", "-q", str(repo), str(clone)], check=True
    )
    git(clone, "config", "core.autocrlf", "true")
    assert flow_bytes(clone) == flow_bytes(repo)
    assert (clone / "dev" / "lib" / "time_util.py").read_bytes() == CRLF_LIB
    assert git(clone, "status", "--porcelain") == ""
