"""The repository object: opened once per process, looked up again when git changes under it."""

from __future__ import annotations

import multiprocessing
import shutil
import subprocess
from pathlib import Path

from ganymede_sync.local import gitops


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_a_repository_is_opened_once_from_any_of_its_folders(tmp_path: Path):
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "dev").mkdir()

    first = gitops.open_repository(tmp_path)

    assert first is not None
    assert gitops.open_repository(tmp_path) is first
    assert gitops.open_repository(tmp_path / "." / "dev" / "..") is first
    assert first.work_tree == tmp_path.resolve()


def test_a_folder_is_looked_up_again_once_it_becomes_a_repository(tmp_path: Path):
    assert gitops.open_repository(tmp_path) is None

    git(tmp_path, "init", "-q", "-b", "main")

    assert gitops.open_repository(tmp_path) is not None


def test_a_deleted_git_folder_is_no_longer_a_repository(tmp_path: Path):
    git(tmp_path, "init", "-q", "-b", "main")
    assert gitops.open_repository(tmp_path) is not None

    shutil.rmtree(tmp_path / ".git")

    assert gitops.open_repository(tmp_path) is None


def _head_in_child(root: str, answers: multiprocessing.Queue) -> None:
    repository = gitops.require_repository(Path(root))
    head = repository.head_commit()
    answers.put((repository is _parent_repository, head.subject if head else None))


_parent_repository: gitops.GitRepository | None = None


def test_a_forked_child_opens_its_own_repository_and_leaves_the_parents_working(tmp_path):
    global _parent_repository
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "First")
    _parent_repository = gitops.require_repository(tmp_path)
    assert _parent_repository.head_commit().subject == "First"  # starts git reader processes
    forks = multiprocessing.get_context("fork")
    answers = forks.Queue()

    child = forks.Process(target=_head_in_child, args=(str(tmp_path), answers))
    child.start()
    child.join(30)

    assert child.exitcode == 0
    assert answers.get(timeout=5) == (False, "First")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "Second")
    assert gitops.open_repository(tmp_path) is _parent_repository
    assert _parent_repository.head_commit().subject == "Second"


def test_head_and_branches_are_read_back_by_name(tmp_path: Path):
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "a.txt").write_text("a\n", encoding="utf-8")
    git(tmp_path, "add", "a.txt")
    git(tmp_path, "commit", "-q", "-m", "Add a\n\nWith a body")
    repository = gitops.require_repository(tmp_path)

    head = repository.head_commit()

    assert head is not None
    assert head.sha == git(tmp_path, "rev-parse", "HEAD")
    assert head.short_sha == git(tmp_path, "rev-parse", "--short", "HEAD")
    assert (head.author_email, head.subject) == ("dev@example.com", "Add a")
    assert (repository.branch_names(), repository.current_branch()) == (["main"], "main")
    git(tmp_path, "switch", "-q", "--detach")
    assert repository.current_branch() is None


def test_author_email_is_the_one_git_would_record(tmp_path: Path, monkeypatch):
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "someone@example.com")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "from-the-environment@example.com")
    assert gitops.author_email(tmp_path) == "from-the-environment@example.com"

    monkeypatch.delenv("GIT_AUTHOR_EMAIL")
    assert gitops.author_email(tmp_path) == "someone@example.com"
