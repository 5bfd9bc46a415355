"""`invoke init`: a first commit on the default branch, once, with a clear identity error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import git
import pytest

from ganymede_sync.errors import GitError
from ganymede_sync.local.gitops import init_repository
from tests.tooling.pull_helpers import copy_tooling


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_tooling(tmp_path / "project", "ganymede.toml")


@pytest.fixture
def no_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Make git find no identity, whatever this machine's configuration says."""
    for kind in ("AUTHOR", "COMMITTER"):
        monkeypatch.delenv(f"GIT_{kind}_NAME", raising=False)
        monkeypatch.delenv(f"GIT_{kind}_EMAIL", raising=False)
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tuseConfigOnly = true\n", encoding="utf-8")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("EMAIL", raising=False)


def test_init_creates_a_first_commit_on_the_chosen_branch(project):
    message = init_repository(project, branch="release/flows")
    repo = git.Repo(project)
    assert repo.active_branch.name == "release/flows"
    assert "first commit" in message
    committed = set(repo.git.ls_files().splitlines())
    assert {"ganymede.toml", "tasks.py", ".ganymede-sync/requirements.txt"} <= committed
    assert not repo.is_dirty(untracked_files=True)


def test_init_twice_is_a_friendly_no_op(project):
    init_repository(project, branch="main")
    head = git.Repo(project).head.commit.hexsha
    assert "nothing to do" in init_repository(project, branch="main")
    assert git.Repo(project).head.commit.hexsha == head


def test_init_without_identity_says_which_commands_to_run(project, no_identity):
    with pytest.raises(GitError) as caught:
        init_repository(project, branch="main")
    assert "git config --global user.name" in str(caught.value)
    assert "git config --global user.email" in str(caught.value)
    assert not (project / ".git").exists()


def test_invoke_init_reports_the_identity_problem_in_one_line(project, no_identity):
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "init"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        'error: git has no identity: run git config --global user.name "Your Name" and '
        "git config --global user.email you@example.com"
    ]
    assert "Traceback" not in result.stdout + result.stderr


def test_init_inside_a_repository_that_ignores_the_folder_makes_its_own(tmp_path, project):
    outer = git.Repo.init(tmp_path, initial_branch="main")
    (tmp_path / ".gitignore").write_text("project/\n", encoding="utf-8")
    outer.git.add(".gitignore")
    outer.git.commit("-m", "outer")
    assert "first commit" in init_repository(project, branch="main")
    inner = git.Repo(project)
    assert Path(inner.working_tree_dir) == project
    assert "ganymede.toml" in inner.git.ls_files().splitlines()


def test_init_inside_a_repository_that_tracks_the_folder_changes_nothing(tmp_path, project):
    git.Repo.init(tmp_path, initial_branch="main")
    message = init_repository(project, branch="main")
    assert f"inside the git repository {tmp_path}" in message
    assert not (project / ".git").exists()
