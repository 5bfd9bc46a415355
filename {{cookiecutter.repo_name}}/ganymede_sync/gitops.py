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
