"""Git history that a deploy reads: HEAD's author and message, our own committed versions."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ganymede_sync.errors import GitError
from ganymede_sync.local import gitops
from ganymede_sync.rules.hashing import blob_id

NODE = "flow/node/function.py"


@pytest.fixture(autouse=True)
def deployer_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Author commits as someone other than conftest's default, to see it read back."""
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "deployer@example.com")


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def commit(root: Path, files: dict[str, bytes], message: str) -> str:
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commit(root, {f"dev/{NODE}": b"v0\n", ".ganymede/dev.json": b"{}\n"}, "Sync from Ganymede")
    return root


def versions(root: Path) -> dict[str, set[str]]:
    repository = gitops.open_repository(root)
    if repository is None:
        return {}
    return repository.committed_versions(root / "dev", root / ".ganymede/dev.json")


def head_commit(root: Path) -> gitops.HeadCommit | None:
    repository = gitops.open_repository(root)
    return repository.head_commit() if repository is not None else None


def test_head_commit_gives_author_subject_and_short_sha(repo):
    commit(repo, {f"dev/{NODE}": b"v1\n"}, "Tune the parser\n\nBody text")
    head = head_commit(repo)
    assert (head.author_email, head.subject) == ("deployer@example.com", "Tune the parser")
    assert git(repo, "rev-parse", "HEAD").startswith(head.short_sha)


def test_head_commit_is_none_without_commits_or_repository(tmp_path):
    assert head_commit(tmp_path) is None
    git(tmp_path, "init", "-q")
    assert head_commit(tmp_path) is None


def test_versions_since_the_manifest_commit_include_every_committed_content(repo):
    commit(repo, {f"dev/{NODE}": b"v1\n"}, "first edit")
    commit(repo, {f"dev/{NODE}": b"v2\n", "dev/lib/new.py": b"n\n"}, "second edit")
    found = versions(repo)
    assert found[NODE] == {blob_id(b"v0\n"), blob_id(b"v1\n"), blob_id(b"v2\n")}
    assert found["lib/new.py"] == {blob_id(b"n\n")}


def test_versions_before_the_last_manifest_change_do_not_count(repo):
    commit(repo, {f"dev/{NODE}": b"old edit\n"}, "edit")
    commit(repo, {f"dev/{NODE}": b"pulled\n", ".ganymede/dev.json": b"{1}\n"}, "pull")
    assert versions(repo)[NODE] == {blob_id(b"pulled\n")}


def test_versions_made_on_a_merged_branch_and_in_the_merge_count(repo):
    git(repo, "checkout", "-q", "-b", "feature")
    commit(repo, {f"dev/{NODE}": b"feature\n"}, "feature edit")
    git(repo, "checkout", "-q", "main")
    commit(repo, {"dev/lib/x.py": b"x\n"}, "main edit")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge", "feature")
    assert blob_id(b"feature\n") in versions(repo)[NODE]


def test_uncommitted_manifest_means_no_versions(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    commit(root, {f"dev/{NODE}": b"v0\n"}, "code only")
    assert versions(root) == {}


def test_outside_a_repository_there_are_no_versions(tmp_path):
    (tmp_path / "dev").mkdir()
    assert versions(tmp_path) == {}


def test_shallow_clone_is_deepened_from_its_remote(repo, tmp_path):
    commit(repo, {f"dev/{NODE}": b"v1\n"}, "edit one")
    commit(repo, {f"dev/{NODE}": b"v2\n"}, "edit two")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    assert git(clone, "rev-parse", "--is-shallow-repository") == "true"
    assert versions(clone)[NODE] == versions(repo)[NODE]
    assert blob_id(b"v1\n") in versions(clone)[NODE]


def test_shallow_clone_without_remote_fails_with_the_fix(repo, tmp_path):
    commit(repo, {f"dev/{NODE}": b"v1\n"}, "edit one")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    git(clone, "remote", "remove", "origin")
    with pytest.raises(GitError, match="fetch-depth: 0") as caught:
        versions(clone)
    assert "\n" not in str(caught.value)


def test_shallow_clone_whose_history_suffices_needs_no_fetch(repo, tmp_path):
    commit(repo, {f"dev/{NODE}": b"v1\n"}, "edit one")
    commit(repo, {f"dev/{NODE}": b"pulled\n", ".ganymede/dev.json": b"{2}\n"}, "pull")
    commit(repo, {f"dev/{NODE}": b"v3\n"}, "edit three")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "3", f"file://{repo}", str(clone))
    git(clone, "remote", "remove", "origin")
    assert versions(clone)[NODE] == {blob_id(b"pulled\n"), blob_id(b"v3\n")}
