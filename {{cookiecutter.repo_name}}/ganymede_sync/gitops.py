"""Git operations through GitPython: the only module that imports ``git``.

Small functions that take paths or a ``Repo``, return values and raise
``GitError``; they never print.
"""

from __future__ import annotations

from collections.abc import Mapping
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


def _work_tree(repo: git.Repo) -> Path:
    """Return the resolved work tree of ``repo`` (a bare repository has none: refuse it)."""
    if repo.working_tree_dir is None:
        raise GitError(f"{repo.git_dir} is a bare git repository: run this in a checkout")
    return Path(repo.working_tree_dir).resolve()


def has_identity(path: Path) -> bool:
    """Tell whether git can author a commit in ``path`` (config or GIT_* variables)."""
    try:
        git.Git(str(path)).var("GIT_AUTHOR_IDENT")
        git.Git(str(path)).var("GIT_COMMITTER_IDENT")
    except git.GitCommandError:
        return False
    return True


def is_ignored(repo: git.Repo, path: Path) -> bool:
    """Tell whether ``repo``'s ignore rules exclude ``path`` (git check-ignore)."""
    try:
        repo.git.check_ignore("--quiet", str(path))
    except git.GitCommandError:
        return False
    return True


def init_repository(root: Path, *, branch: str) -> str:
    """Create a repository on ``branch`` with every file in a first commit.

    Does nothing when ``root`` already belongs to a repository: its own, or an
    enclosing one that tracks it (a monorepo). A folder that an enclosing
    repository ignores (generated inside another checkout) gets a repository of
    its own, since commits there could never include it. Checks the git identity
    before creating anything, so a failure leaves no half-made ``.git``.
    """
    existing = open_repository(root)
    if existing is not None and not is_ignored(existing, root):
        top = Path(existing.working_tree_dir or root)
        if top.resolve() == root.resolve():
            return f"{top} is already a git repository: nothing to do"
        return (
            f"{root} is inside the git repository {top}: nothing to do (GitHub runs "
            "workflows only from .github/ at the top of a repository)"
        )
    if not has_identity(root):
        raise GitError(IDENTITY_HELP)
    repo = git.Repo.init(root, initial_branch=branch)
    repo.git.add(all=True)
    repo.git.commit("--quiet", "--no-verify", "-m", INITIAL_COMMIT_MESSAGE)
    return f"created a git repository on branch {branch} with a first commit"


# --- changed folders ----------------------------------------------------------
def changed_paths(root: Path, before: str, after: str) -> list[str] | None:
    """Return the paths whose content differs between ``before`` and ``after`` (two dots).

    Returns None when ``before`` cannot be used: unknown in this clone (a force
    push, a shallow clone). The caller decides what to do then; guessing "nothing
    changed" would skip a deploy.
    """
    repo = _require_repository(root)
    after_sha = _resolve_commit(repo, after)
    if after_sha is None:
        raise GitError(f"unknown commit '{after}': fetch it, or check out with fetch-depth: 0")
    before_sha = _resolve_commit(repo, before)
    if before_sha is None:
        return None
    return _split_paths(repo.git.diff("--name-only", "--no-renames", "-z", before_sha, after_sha))


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


# --- pull ---------------------------------------------------------------------
def ignored_paths(root: Path, folder: Path) -> set[str]:
    """Return the files of ``folder`` that git ignores, relative to it (none outside git).

    ``git status`` leaves them out, yet they may be managed files holding local work
    (a ``*_local.py`` with a password): callers must treat them as the user's.
    """
    repo = open_repository(root)
    if repo is None or repo.working_tree_dir is None:
        return set()
    top = _work_tree(repo)
    try:
        prefix = folder.resolve().relative_to(top).as_posix()
    except ValueError:
        return set()
    output = repo.git.ls_files("--others", "--ignored", "--exclude-standard", "-z", "--", prefix)
    return {
        path[len(prefix) + 1 :] for path in _split_paths(output) if path.startswith(prefix + "/")
    }


def dirty_paths(root: Path, folder: Path) -> list[str] | None:
    """Return the files of ``folder`` that differ from ``HEAD`` (staged, unstaged or untracked).

    Paths are POSIX and relative to ``folder``. Returns None outside a repository,
    where no safety check is possible.
    """
    repo = open_repository(root)
    if repo is None or repo.working_tree_dir is None:
        return None
    top = _work_tree(repo)
    try:
        prefix = folder.resolve().relative_to(top).as_posix()
    except ValueError:
        return None
    output = repo.git.status(
        "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--", prefix
    )
    dirty = []
    for entry in output.split("\0"):
        path = entry[3:]
        if path.startswith(prefix + "/"):
            dirty.append(path[len(prefix) + 1 :])
    return sorted(dirty)


def commit_paths(
    root: Path,
    paths: list[Path],
    message: str,
    *,
    author_name: str | None = None,
    author_email: str | None = None,
) -> str | None:
    """Commit exactly ``paths`` (files or folders, additions and deletions); return the SHA.

    Whatever else is staged stays staged and out of the commit. Returns None when
    the paths hold nothing to commit. Hooks are skipped: the commit records content
    exactly as it came, and a formatting hook would make it differ from Ganymede's.
    With ``author_name``/``author_email`` the commit is authored and committed by
    that identity (the sync bot in CI); otherwise by the user's own git identity.
    """
    repo = _require_repository(root)
    top = _work_tree(repo)
    specs = [path.resolve().relative_to(top).as_posix() for path in paths]
    repo.git.add("--all", "--", *specs)
    if not repo.git.diff("--cached", "--name-only", "--", *specs):
        return None
    identity = {}
    if author_name and author_email:
        for kind in ("AUTHOR", "COMMITTER"):
            identity[f"GIT_{kind}_NAME"] = author_name
            identity[f"GIT_{kind}_EMAIL"] = author_email
    elif not has_identity(top):
        raise GitError(IDENTITY_HELP)
    try:
        repo.git.commit("--quiet", "--no-verify", "-m", message, "--", *specs, env=identity)
    except git.GitCommandError as error:
        raise GitError(f"git commit failed: {_last_line(error)}") from None
    return repo.head.commit.hexsha


def _last_line(error: git.GitCommandError) -> str:
    lines = str(error.stderr or error).strip().splitlines()
    return lines[-1].strip() if lines else "unknown error"


# --- promote --------------------------------------------------------------------
def check_branch_can_start(root: Path, name: str) -> None:
    """Raise unless ``start_branch(root, name)`` would work: checked before any file changes."""
    repo = _require_repository(root)
    if not repo.head.is_valid():
        raise GitError(f"{root} has no commit yet: run invoke init first")
    if not has_identity(root):
        raise GitError(IDENTITY_HELP)
    try:
        repo.git.check_ref_format("--branch", name)
    except git.GitCommandError:
        raise GitError(f"'{name}' cannot name a git branch") from None
    current = None if repo.head.is_detached else repo.head.ref.name
    if current != name and name in [head.name for head in repo.heads]:
        raise GitError(
            f"branch {name} already exists: switch to it (git switch {name}) to add to it, "
            f"or delete it (git branch -D {name}) to start over"
        )


def start_branch(root: Path, name: str) -> None:
    """Switch to branch ``name``, creating it at ``HEAD``; uncommitted changes come along."""
    repo = _require_repository(root)
    if not repo.head.is_detached and repo.head.ref.name == name:
        return
    try:
        repo.git.switch("--quiet", "--create", name)
    except git.GitCommandError as error:
        raise GitError(f"git switch failed: {_last_line(error)}") from None


# --- deploy history -----------------------------------------------------------
SHALLOW_HELP = (
    "fetch the full history (git fetch --unshallow), or in GitHub Actions "
    "check out with actions/checkout and fetch-depth: 0"
)


def head_commit(root: Path) -> tuple[str, str, str] | None:
    """Return author email, subject and short SHA of ``HEAD``, or None without commits."""
    repo = open_repository(root)
    if repo is None or not repo.head.is_valid():
        return None
    commit = repo.head.commit
    subject = commit.message.splitlines()[0] if commit.message else ""
    return commit.author.email or "", str(subject), repo.git.rev_parse("--short", commit.hexsha)


COMMITS_PER_FILE = 50
"""How far back ``commits_since`` looks for one file before it stops searching."""


def commits_since(
    root: Path, folder: Path, since: Mapping[str, str | None]
) -> list[tuple[str, str]]:
    """Return (short SHA, subject) of the commits that changed files since given versions.

    ``since`` maps paths (relative to ``folder``) to the blob id Ganymede holds, or
    None when it holds none. For each path, history is read back from ``HEAD`` until
    a commit that left the path at that blob: what came after is what a deploy
    sends. Newest first, each commit once; empty outside a repository.
    """
    repo = open_repository(root)
    if repo is None or not repo.head.is_valid() or repo.working_tree_dir is None:
        return []
    top = _work_tree(repo)
    try:
        prefix = folder.resolve().relative_to(top).as_posix()
    except ValueError:
        return []
    found: dict[str, tuple[int, str]] = {}
    for path, stop in since.items():
        full = f"{prefix}/{path}"
        log = repo.git.log(
            f"--max-count={COMMITS_PER_FILE}", "--format=%H%x00%ct%x00%s", "HEAD", "--", full
        )
        for line in log.splitlines():
            sha, seconds, subject = line.split("\0", 2)
            if stop is not None and _blob_at(repo, sha, full) == stop:
                break
            found[sha] = (int(seconds), subject)
    # Commits made within one second are ordered by their depth in history.
    order = {
        sha: (seconds, int(repo.git.rev_list("--count", sha)))
        for sha, (seconds, _) in found.items()
    }
    newest_first = sorted(found, key=order.__getitem__, reverse=True)
    return [(repo.git.rev_parse("--short", sha), found[sha][1]) for sha in newest_first]


def _blob_at(repo: git.Repo, commit: str, path: str) -> str | None:
    try:
        return repo.git.rev_parse("--verify", "--quiet", f"{commit}:{path}")
    except git.GitCommandError:
        return None


def committed_versions(root: Path, folder: Path, manifest_path: Path) -> dict[str, set[str]]:
    """Return the blob ids of each file of ``folder`` committed since the manifest last changed.

    Keys are paths relative to ``folder``. A deploy uses them to recognise its own
    earlier deploys in Ganymede. A shallow clone is deepened from its remote when
    the history since that commit is missing; without a remote, ``GitError`` says
    how to fix the checkout: a guess here could hide someone else's edit.
    """
    repo = open_repository(root)
    if repo is None or not repo.head.is_valid():
        return {}
    top = _work_tree(repo)
    prefix = folder.resolve().relative_to(top).as_posix()
    manifest = manifest_path.resolve().relative_to(top).as_posix()
    since = _complete_history_since(repo, manifest)
    if since is None:
        return {}
    versions: dict[str, set[str]] = {}
    for path, blob in _tree_blobs(repo, since, prefix) + _logged_blobs(repo, since, prefix):
        versions.setdefault(path[len(prefix) + 1 :], set()).add(blob)
    return versions


def _complete_history_since(repo: git.Repo, manifest: str) -> str | None:
    """Return the last commit that changed ``manifest``, deepening a shallow clone if needed."""
    for deepen in ("--deepen=100", "--unshallow", None):
        since = repo.git.log("-1", "--format=%H", "--", manifest) or None
        if since is None or not _is_cut_off(repo, since):
            return since
        if deepen is None or not _fetch_more(repo, deepen):
            break
    raise GitError(
        f"this clone is shallow and lacks the history since {manifest} last changed, "
        f"which a deploy needs to tell its own earlier deploys from edits in Ganymede: "
        f"{SHALLOW_HELP}"
    )


def _is_cut_off(repo: git.Repo, since: str) -> bool:
    """Tell whether a shallow boundary lies in ``since..HEAD`` or at ``since`` itself."""
    shallow_file = Path(repo.common_dir) / "shallow"
    if not shallow_file.is_file():
        return False
    boundary = set(shallow_file.read_text(encoding="ascii").split())
    between = set(repo.git.rev_list(f"{since}..HEAD").split())
    return bool(boundary & (between | {since}))


def _fetch_more(repo: git.Repo, option: str) -> bool:
    """Fetch more history from the first remote; tell whether that worked."""
    if not repo.remotes:
        return False
    remote = "origin" if "origin" in [r.name for r in repo.remotes] else repo.remotes[0].name
    try:
        repo.git.fetch("--quiet", option, remote)
    except git.GitCommandError:
        return False
    return True


def _tree_blobs(repo: git.Repo, commit: str, prefix: str) -> list[tuple[str, str]]:
    """Return (path, blob id) of every file under ``prefix`` in ``commit``."""
    output = repo.git.ls_tree("-r", "-z", "--full-tree", commit, "--", prefix)
    pairs = []
    for line in output.split("\0"):
        meta, _, path = line.partition("\t")
        if path and meta.split()[1] == "blob":
            pairs.append((path, meta.split()[2]))
    return pairs


def _logged_blobs(repo: git.Repo, since: str, prefix: str) -> list[tuple[str, str]]:
    """Return (path, blob id) of every version of a file under ``prefix`` after ``since``.

    ``-m`` shows merges against each parent, so content first made while resolving
    a merge counts too; ``--full-history`` keeps side branches that simplification
    would drop.
    """
    output = repo.git.log(
        "--format=", "--raw", "-z", "-m", "--no-renames", "--no-abbrev", "--full-history",
        f"{since}..HEAD", "--", prefix,
    )  # fmt: skip
    pairs = []
    tokens = iter(output.split("\0"))
    for token in tokens:
        meta = token.strip("\n")
        if meta.startswith(":"):
            path = next(tokens, "")
            fields = meta.split()
            if fields[-1] != "D" and path:
                pairs.append((path, fields[3]))
    return pairs


def local_state_path(root: Path, name: str) -> Path | None:
    """Return where to keep ``name`` inside the git folder, or None outside a repository.

    For state that belongs to this clone only and must never be committed, such as
    the versions a deploy sent from uncommitted files.
    """
    repo = open_repository(root)
    if repo is None:
        return None
    return Path(repo.common_dir) / "ganymede" / name


# --- doctor -------------------------------------------------------------------
def repository_root(path: Path) -> Path | None:
    """Return the top folder of the repository holding ``path``, or None outside one."""
    repo = open_repository(path)
    return Path(repo.working_tree_dir) if repo is not None and repo.working_tree_dir else None


def branch_names(path: Path) -> list[str]:
    """Return the local branches of the repository holding ``path`` (none before a commit)."""
    repo = open_repository(path)
    return sorted(head.name for head in repo.heads) if repo is not None else []


def current_branch(path: Path) -> str | None:
    """Return the checked-out branch, or None when HEAD is detached or outside a repository."""
    repo = open_repository(path)
    if repo is None or repo.head.is_detached:
        return None
    return repo.head.ref.name
