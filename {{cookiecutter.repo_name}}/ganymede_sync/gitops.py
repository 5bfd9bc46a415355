"""Git operations through GitPython: the only module that imports ``git``.

Small functions that take paths or a ``Repo``, return values and raise
``GitError``; they never print.
"""

from __future__ import annotations

from pathlib import Path

import git

from ganymede_sync.errors import GitError

IDENTITY_HELP = (
    'git has no identity: run git config --global user.name "Your Name" '
    "and git config --global user.email you@example.com"
)
INITIAL_COMMIT_MESSAGE = "Start from the Ganymede self-managed repository template"


def open_repository(path: Path) -> git.Repo | None:
    """Return the repository that contains ``path``, or None outside any repository."""
    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None


def has_identity(path: Path) -> bool:
    """Tell whether git can author a commit in ``path`` (config or GIT_* variables)."""
    try:
        git.Git(str(path)).var("GIT_AUTHOR_IDENT")
        git.Git(str(path)).var("GIT_COMMITTER_IDENT")
    except git.GitCommandError:
        return False
    return True


def init_repository(root: Path, *, branch: str) -> str:
    """Create a repository on ``branch`` with every file in a first commit.

    Does nothing when ``root`` is already inside a repository. Checks the git
    identity before creating anything, so a failure leaves no half-made ``.git``.
    """
    existing = open_repository(root)
    if existing is not None:
        return f"{existing.working_tree_dir} is already a git repository: nothing to do"
    if not has_identity(root):
        raise GitError(IDENTITY_HELP)
    repo = git.Repo.init(root, initial_branch=branch)
    repo.git.add(all=True)
    repo.git.commit("--quiet", "--no-verify", "-m", INITIAL_COMMIT_MESSAGE)
    return f"created a git repository on branch {branch} with a first commit"


# --- changed folders ----------------------------------------------------------
def changed_paths(root: Path, before: str, after: str) -> list[str] | None:
    """Return the paths changed from the merge base of ``before`` and ``after`` to ``after``.

    Returns None when ``before`` cannot be used: unknown in this clone (a force
    push, a shallow clone) or without common history. The caller decides what to
    do then; guessing "nothing changed" would skip a deploy.
    """
    repo = _require_repository(root)
    after_sha = _resolve_commit(repo, after)
    if after_sha is None:
        raise GitError(f"unknown commit '{after}': fetch it, or check out with fetch-depth: 0")
    before_sha = _resolve_commit(repo, before)
    if before_sha is None:
        return None
    try:
        base = repo.git.merge_base(before_sha, after_sha)
    except git.GitCommandError:
        return None
    return _split_paths(repo.git.diff("--name-only", "--no-renames", "-z", base, after_sha))


def tracked_paths(root: Path, ref: str) -> list[str]:
    """Return every file path in the tree of commit ``ref``."""
    repo = _require_repository(root)
    sha = _resolve_commit(repo, ref)
    if sha is None:
        raise GitError(f"unknown commit '{ref}': fetch it, or check out with fetch-depth: 0")
    return _split_paths(repo.git.ls_tree("-r", "-z", "--name-only", sha))


def _require_repository(root: Path) -> git.Repo:
    repo = open_repository(root)
    if repo is None:
        raise GitError(f"{root} is not inside a git repository: run invoke init first")
    return repo


def _resolve_commit(repo: git.Repo, ref: str) -> str | None:
    """Return the full SHA of commit ``ref``, or None when this clone does not have it."""
    if not ref or not ref.strip("0"):
        return None
    try:
        return repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}")
    except git.GitCommandError:
        return None


def _split_paths(output: str) -> list[str]:
    return [path for path in output.split("\0") if path]
