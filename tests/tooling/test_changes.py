"""Which environment folders the deploy workflow deploys after a push."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import git
import pytest

from ganymede_sync.changes import changed_environments, folders_touched
from ganymede_sync.config import load_settings
from ganymede_sync.errors import GitError
from tests.tooling.pull_helpers import CONFIG

REPOSITORY = Path(__file__).resolve().parents[2]
NULL_SHA = "0" * 40


@pytest.fixture
def repo(tmp_path: Path) -> git.Repo:
    """A repository with both folders holding code in its first commit."""
    repository = git.Repo.init(tmp_path, initial_branch="main")
    _commit(repository, {"ganymede.toml": CONFIG, "dev/f/n/function.py": "x = 1\n"}, "start")
    _commit(repository, {"prod/f/n/function.py": "x = 1\n"}, "prod code")
    return repository


def _commit(repository: git.Repo, files: dict[str, str], message: str) -> str:
    root = Path(repository.working_tree_dir)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    repository.git.add(all=True)
    repository.git.commit("--quiet", "-m", message)
    return repository.head.commit.hexsha


def test_folders_touched_keeps_config_order_and_ignores_prefix_lookalikes():
    paths = ["prod/a/b/function.py", "dev2/x.py", "README.md", "dev/lib/util.py"]
    assert folders_touched(paths, ["dev", "prod", "qa"]) == ["dev", "prod"]


def test_folders_touched_ignores_a_file_named_like_a_folder():
    assert folders_touched(["dev", "prod.md"], ["dev", "prod"]) == []


def test_push_touching_one_folder_deploys_only_that_folder(repo: git.Repo):
    before = repo.head.commit.hexsha
    after = _commit(repo, {"dev/f/n/function.py": "x = 2\n"}, "edit dev")
    settings = load_settings(Path(repo.working_tree_dir), environ={})
    assert changed_environments(settings, before, after) == ["dev"]


def test_push_outside_environment_folders_deploys_nothing(repo: git.Repo):
    before = repo.head.commit.hexsha
    after = _commit(repo, {"README.md": "notes\n"}, "docs")
    settings = load_settings(Path(repo.working_tree_dir), environ={})
    assert changed_environments(settings, before, after) == []


def test_deleting_a_file_counts_as_a_change(repo: git.Repo):
    before = repo.head.commit.hexsha
    repo.git.rm("--quiet", "prod/f/n/function.py")
    repo.git.commit("--quiet", "-m", "remove")
    settings = load_settings(Path(repo.working_tree_dir), environ={})
    assert changed_environments(settings, before, "HEAD") == ["prod"]


def test_pull_request_counts_only_its_own_changes_when_the_base_moved_on(repo: git.Repo):
    """A pull request is compared from where it branched off, as GitHub shows it."""
    fork_point = repo.head.commit.hexsha
    base = _commit(repo, {"prod/f/n/function.py": "x = 5\n"}, "prod moves on")
    repo.git.checkout("--quiet", "-b", "feature", fork_point)
    head = _commit(repo, {"dev/lib/util.py": "y = 1\n"}, "dev change")
    settings = load_settings(Path(repo.working_tree_dir), environ={})
    assert changed_environments(settings, base, head) == ["dev"]


@pytest.mark.parametrize("before", [NULL_SHA, "", "1234567890abcdef1234567890abcdef12345678"])
def test_new_branch_or_unknown_before_deploys_every_folder_with_files(repo: git.Repo, before):
    settings = load_settings(Path(repo.working_tree_dir), environ={})
    assert changed_environments(settings, before or None, "HEAD") == ["dev", "prod"]


def test_before_without_common_history_deploys_every_folder_with_files(repo: git.Repo):
    repo.git.checkout("--quiet", "--orphan", "other")
    repo.git.rm("-r", "--quiet", "--cached", ".")
    orphan = _commit(repo, {"unrelated.txt": "x\n"}, "unrelated")
    repo.git.checkout("--quiet", "--force", "main")
    settings = load_settings(Path(repo.working_tree_dir), environ={})
    assert changed_environments(settings, orphan, "main") == ["dev", "prod"]


def test_unknown_after_commit_is_a_clear_error(repo: git.Repo):
    settings = load_settings(Path(repo.working_tree_dir), environ={})
    with pytest.raises(GitError, match="fetch-depth: 0"):
        changed_environments(settings, None, "f" * 40)


def test_task_prints_the_list_and_records_the_workflow_output(repo: git.Repo, tmp_path: Path):
    before = repo.head.commit.hexsha
    after = _commit(repo, {"prod/f/n/function.py": "x = 3\n"}, "edit prod")
    output = tmp_path / "github_output"
    invoke = [sys.executable, "-m", "invoke", "--search-root", str(REPOSITORY)]
    result = subprocess.run(
        [*invoke, "changed-environments", "--before", before, "--after", after],
        cwd=repo.working_tree_dir,
        env={**_environ(), "GITHUB_OUTPUT": str(output)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["prod"]
    assert output.read_text(encoding="utf-8") == 'environments=["prod"]\n'


def _environ() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("GANYMEDE_")}
