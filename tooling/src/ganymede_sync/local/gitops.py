"""Git operations through GitPython: the only module that imports ``git`` or runs git.

One ``GitRepository`` wraps one opened repository; its methods return plain values
(paths, SHAs, named tuples) and raise ``GitError``; they never print. Callers get
it from ``open_repository``, which opens each repository once per process (see
there), so a task that asks git many questions does not look for the repository
again before each one.
"""

from __future__ import annotations

import os
import tempfile
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

import git

from ganymede_sync.errors import GitError

IDENTITY_HELP = (
    'git has no identity: run git config --global user.name "Your Name" '
    "and git config --global user.email you@example.com"
)
INITIAL_COMMIT_MESSAGE = "Start from the Ganymede self-managed repository template"
SHALLOW_HELP = (
    "fetch the full history (git fetch --unshallow), or in GitHub Actions "
    "check out with actions/checkout and fetch-depth: 0"
)
COMMITS_PER_FILE = 50
"""How far back ``commits_since`` looks for one file before it stops searching."""


class HeadCommit(NamedTuple):
    """The commit checked out: what a deploy names as its author and origin."""

    sha: str
    short_sha: str
    author_email: str
    subject: str


class TagEntry(NamedTuple):
    """One annotated tag: its name (without ``refs/tags/``), commit and message."""

    name: str
    commit: str
    message: str


class CommitSummary(NamedTuple):
    """One commit as a deploy message lists it."""

    short_sha: str
    subject: str


# --- opening ------------------------------------------------------------------
_OPENED_LIMIT = 8
_opened: OrderedDict[Path, GitRepository] = OrderedDict()
_inherited: list[GitRepository] = []


def _forget_after_fork() -> None:
    """In a forked child, open repositories afresh and leave the parent's alone.

    The parent's repositories hold git processes through inherited pipes: the child
    must neither talk to them nor stop them, so it only keeps their objects alive.
    """
    _inherited.extend(_opened.values())
    _opened.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def open_repository(path: Path) -> GitRepository | None:
    """Return the repository that contains ``path``, or None outside any repository.

    A task asks git several questions about the same repository (a deploy reads
    history, ignored files, its local record, HEAD), and the library reaches git
    through functions that each get only the settings. Rather than thread one object
    through every signature, repositories found here are kept, keyed by the resolved
    ``path``, for the life of the process: later calls get the same object. Only
    found repositories are kept (a folder where ``invoke init`` runs later is looked
    up again), an entry whose git folder has gone is dropped, and only the last few
    are kept, since each may hold git processes open. Like GitPython's objects, this
    is for one thread at a time.
    """
    key = path.resolve()
    found = _opened.get(key)
    if found is not None and found.is_present():
        _opened.move_to_end(key)
        return found
    _opened.pop(key, None)
    found = GitRepository.find(path)
    if found is None:
        return None
    _opened[key] = found
    while len(_opened) > _OPENED_LIMIT:
        _opened.popitem(last=False)[1].close()
    return found


def require_repository(path: Path) -> GitRepository:
    """Return the repository that contains ``path``, or raise ``GitError`` naming the fix."""
    repo = open_repository(path)
    if repo is None:
        raise GitError(f"{path} is not inside a git repository: run invoke init first")
    return repo


def has_identity(path: Path) -> bool:
    """Tell whether git can author a commit in ``path`` (config or GIT_* variables)."""
    return _has_identity(git.Git(str(path)))


def _has_identity(runner: git.Git) -> bool:
    try:
        runner.var("GIT_AUTHOR_IDENT")
        runner.var("GIT_COMMITTER_IDENT")
    except git.GitCommandError:
        return False
    return True


def author_email(path: Path) -> str:
    """Return the email git would record as the author of a commit made in ``path``.

    ``git var GIT_AUTHOR_IDENT`` applies git's own order (``GIT_AUTHOR_EMAIL``, then
    ``user.email``, then ``EMAIL``), so this is the email a deploy of that commit names
    by default. "" when git has no identity or is not installed.
    """
    try:
        ident = str(git.Git(str(path)).var("GIT_AUTHOR_IDENT"))
    except git.CommandError:
        return ""
    start, end = ident.find("<"), ident.rfind(">")
    return ident[start + 1 : end].strip() if 0 <= start < end else ""


def init_repository(root: Path, *, branch: str) -> str:
    """Create a repository on ``branch`` with every file in a first commit.

    Does nothing when ``root`` already belongs to a repository: its own, or an
    enclosing one that tracks it (a monorepo). A folder that an enclosing
    repository ignores (generated inside another checkout) gets a repository of
    its own, since commits there could never include it. Checks the git identity
    before creating anything, so a failure leaves no half-made ``.git``.
    """
    existing = GitRepository.find(root)
    if existing is not None and not existing.is_ignored(root):
        top = existing.work_tree or root
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


class GitRepository:
    """One git repository (and its work tree, when it has one), opened once."""

    def __init__(self, repo: git.Repo) -> None:
        self._repo = repo

    @classmethod
    def find(cls, path: Path) -> GitRepository | None:
        """Open the repository that contains ``path`` afresh; None outside any repository."""
        try:
            return cls(git.Repo(path, search_parent_directories=True))
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            return None

    def is_present(self) -> bool:
        """Tell whether the git folder still exists (a test or a user may delete it)."""
        return Path(self._repo.git_dir).is_dir()

    def close(self) -> None:
        """Stop the git processes GitPython keeps for reading objects."""
        self._repo.close()

    @property
    def work_tree(self) -> Path | None:
        """The top folder of the checkout, as git names it; None for a bare repository."""
        top = self._repo.working_tree_dir
        return Path(top) if top is not None else None

    def _top(self) -> Path:
        """Return the resolved work tree (a bare repository has none: refuse it)."""
        if self._repo.working_tree_dir is None:
            raise GitError(f"{self._repo.git_dir} is a bare git repository: run this in a checkout")
        return Path(self._repo.working_tree_dir).resolve()

    def _prefix(self, folder: Path) -> str | None:
        """Return ``folder`` relative to the work tree, or None when it lies outside."""
        if self._repo.working_tree_dir is None:
            return None
        try:
            return folder.resolve().relative_to(self._top()).as_posix()
        except ValueError:
            return None

    def has_identity(self) -> bool:
        """Tell whether git can author a commit here (config or GIT_* variables)."""
        return _has_identity(self._repo.git)

    def is_ignored(self, path: Path) -> bool:
        """Tell whether the ignore rules exclude ``path`` (git check-ignore)."""
        try:
            self._repo.git.check_ignore("--quiet", str(path))
        except git.GitCommandError:
            return False
        return True

    def is_tracked(self, path: Path) -> bool:
        """Tell whether git tracks ``path`` or anything under it (``git ls-files``)."""
        prefix = self._prefix(path)
        if prefix is None:
            return False
        return bool(self._repo.git.ls_files("-z", "--", prefix))

    # --- branches -------------------------------------------------------------
    def branch_names(self) -> list[str]:
        """Return the local branches (none before the first commit)."""
        return sorted(head.name for head in self._repo.heads)

    def current_branch(self) -> str | None:
        """Return the checked-out branch, or None when HEAD is detached."""
        return None if self._repo.head.is_detached else self._repo.head.ref.name

    def check_branch_can_start(self, name: str) -> None:
        """Raise unless ``start_branch(name)`` would work: checked before any file changes."""
        repo = self._repo
        if not repo.head.is_valid():
            raise GitError(
                f"{self.work_tree or repo.git_dir} has no commit yet: run invoke init first"
            )
        if not self.has_identity():
            raise GitError(IDENTITY_HELP)
        try:
            repo.git.check_ref_format("--branch", name)
        except git.GitCommandError:
            raise GitError(f"'{name}' cannot name a git branch") from None
        current = self.current_branch()
        if current != name and name in self.branch_names():
            raise GitError(
                f"branch {name} already exists: switch to it (git switch {name}) to add to it, "
                f"or delete it (git branch -D {name}) to start over"
            )

    def start_branch(self, name: str) -> None:
        """Switch to branch ``name``, creating it at ``HEAD``; uncommitted changes come along."""
        if self.current_branch() == name:
            return
        try:
            self._repo.git.switch("--quiet", "--create", name)
        except git.GitCommandError as error:
            raise GitError(f"git switch failed: {_last_line(error)}") from None

    # --- changed folders --------------------------------------------------------
    def changed_paths(self, before: str, after: str) -> list[str] | None:
        """Return the paths whose content differs between ``before`` and ``after`` (two dots).

        Returns None when ``before`` cannot be used: unknown in this clone (a force
        push, a shallow clone). The caller decides what to do then; guessing "nothing
        changed" would skip a deploy.
        """
        after_sha = self._resolve_commit(after)
        if after_sha is None:
            raise GitError(f"unknown commit '{after}': fetch it, or check out with fetch-depth: 0")
        before_sha = self._resolve_commit(before)
        if before_sha is None:
            return None
        diff = self._repo.git.diff("--name-only", "--no-renames", "-z", before_sha, after_sha)
        return _split_paths(diff)

    def commit_sha(self, ref: str) -> str | None:
        """Return the full SHA of commit ``ref``, or None when this clone does not have it."""
        return self._resolve_commit(ref)

    def tracked_paths(self, ref: str) -> list[str]:
        """Return every file path in the tree of commit ``ref``."""
        sha = self._resolve_commit(ref)
        if sha is None:
            raise GitError(f"unknown commit '{ref}': fetch it, or check out with fetch-depth: 0")
        return _split_paths(self._repo.git.ls_tree("-r", "-z", "--name-only", sha))

    def _resolve_commit(self, ref: str) -> str | None:
        """Return the full SHA of commit ``ref``, or None when this clone does not have it."""
        if not ref or not ref.strip("0"):
            return None
        try:
            return str(self._repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}"))
        except git.GitCommandError:
            return None

    # --- work tree ----------------------------------------------------------------
    def ignored_paths(self, folder: Path) -> set[str]:
        """Return the files of ``folder`` that git ignores, relative to it.

        ``git status`` leaves them out, yet they may be managed files holding local
        work (a ``*_local.py`` with a password): callers must treat them as the user's.
        """
        prefix = self._prefix(folder)
        if prefix is None:
            return set()
        output = self._repo.git.ls_files(
            "--others", "--ignored", "--exclude-standard", "-z", "--", prefix
        )
        return {
            path[len(prefix) + 1 :]
            for path in _split_paths(output)
            if path.startswith(prefix + "/")
        }

    def dirty_paths(self, folder: Path) -> list[str] | None:
        """Return the files of ``folder`` that differ from ``HEAD`` (staged, unstaged or untracked).

        Paths are POSIX and relative to ``folder``. Returns None for a bare repository
        or a folder outside the work tree, where no safety check is possible.
        """
        prefix = self._prefix(folder)
        if prefix is None:
            return None
        output = self._repo.git.status(
            "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--", prefix
        )
        dirty = []
        for entry in output.split("\0"):
            path = entry[3:]
            if path.startswith(prefix + "/"):
                dirty.append(path[len(prefix) + 1 :])
        return sorted(dirty)

    def commit_paths(
        self,
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
        repo = self._repo
        top = self._top()
        specs = [path.resolve().relative_to(top).as_posix() for path in paths]
        repo.git.add("--all", "--", *specs)
        if not repo.git.diff("--cached", "--name-only", "--", *specs):
            return None
        identity = {}
        if author_name and author_email:
            for kind in ("AUTHOR", "COMMITTER"):
                identity[f"GIT_{kind}_NAME"] = author_name
                identity[f"GIT_{kind}_EMAIL"] = author_email
        elif not self.has_identity():
            raise GitError(IDENTITY_HELP)
        try:
            repo.git.commit("--quiet", "--no-verify", "-m", message, "--", *specs, env=identity)
        except git.GitCommandError as error:
            raise GitError(f"git commit failed: {_last_line(error)}") from None
        return str(repo.head.commit.hexsha)

    def commit_on_new_branch(
        self, branch: str, folder: Path, files: Mapping[str, bytes | None], message: str
    ) -> str:
        """Commit ``files`` (paths relative to ``folder``; None deletes) on a new branch made
        from ``HEAD``, without touching the work tree, the index or the current branch.

        Git's own objects and a private index do the work, so a process killed at any
        moment leaves the user's checkout exactly as it was (and at worst the branch).
        """
        repo = self._repo
        prefix = self._prefix(folder)
        if prefix is None:
            raise GitError(f"{folder} is outside the work tree")
        self.check_branch_can_start(branch)
        index = Path(repo.git_dir) / f"ganymede-promotion-{os.getpid()}.index"
        private = {"GIT_INDEX_FILE": str(index)}
        try:
            repo.git.read_tree("HEAD", env=private)
            for path, data in sorted(files.items()):
                full = f"{prefix}/{path}"
                if data is None:
                    repo.git.update_index("--force-remove", "--", full, env=private)
                    continue
                blob = self._write_blob(data)
                repo.git.update_index("--add", "--cacheinfo", f"100644,{blob},{full}", env=private)
            tree = repo.git.write_tree(env=private)
            commit = repo.git.commit_tree(tree, "-p", "HEAD", "-m", message)
            repo.git.update_ref(f"refs/heads/{branch}", commit, "")
        except git.GitCommandError as error:
            raise GitError(f"git could not commit the promotion: {_last_line(error)}") from None
        finally:
            index.unlink(missing_ok=True)
        return str(commit)

    def _write_blob(self, data: bytes) -> str:
        with tempfile.NamedTemporaryFile(dir=self._repo.git_dir, suffix=".blob") as handle:
            handle.write(data)
            handle.flush()
            return str(self._repo.git.hash_object("-w", "--no-filters", handle.name))

    def switch(self, branch: str) -> None:
        """Switch to existing branch ``branch``; uncommitted changes elsewhere come along."""
        try:
            self._repo.git.switch("--quiet", branch)
        except git.GitCommandError as error:
            raise GitError(f"git switch failed: {_last_line(error)}") from None

    def local_state_path(self, name: str) -> Path:
        """Return where to keep ``name`` inside the git folder.

        For state that belongs to this clone only and must never be committed, such
        as the versions a deploy sent from uncommitted files.
        """
        return Path(self._repo.common_dir) / "ganymede" / name

    # --- deploy history -------------------------------------------------------------
    def head_commit(self) -> HeadCommit | None:
        """Return ``HEAD``'s SHA, short SHA, author email and subject; None without commits."""
        repo = self._repo
        if not repo.head.is_valid():
            return None
        commit = repo.head.commit
        subject = commit.message.splitlines()[0] if commit.message else ""
        short = str(repo.git.rev_parse("--short", commit.hexsha))
        return HeadCommit(commit.hexsha, short, commit.author.email or "", str(subject))

    def commits_since(self, folder: Path, since: Mapping[str, str | None]) -> list[CommitSummary]:
        """Return the commits that changed files since given versions, newest first.

        ``since`` maps paths (relative to ``folder``) to the blob id Ganymede holds,
        or None when it holds none. For each path, history is read back from ``HEAD``
        until a commit that left the path at that blob: what came after is what a
        deploy sends. Each commit once; empty without commits.
        """
        repo = self._repo
        if not repo.head.is_valid():
            return []
        prefix = self._prefix(folder)
        if prefix is None:
            return []
        found: dict[str, tuple[int, str]] = {}
        for path, stop in since.items():
            full = f"{prefix}/{path}"
            log = repo.git.log(
                f"--max-count={COMMITS_PER_FILE}", "--format=%H%x00%ct%x00%s", "HEAD", "--", full
            )
            for line in log.splitlines():
                sha, seconds, subject = line.split("\0", 2)
                if stop is not None and self._blob_at(sha, full) == stop:
                    break
                found[sha] = (int(seconds), subject)
        # Commits made within one second are ordered by their depth in history.
        order = {
            sha: (seconds, int(repo.git.rev_list("--count", sha)))
            for sha, (seconds, _) in found.items()
        }
        newest_first = sorted(found, key=order.__getitem__, reverse=True)
        return [
            CommitSummary(str(repo.git.rev_parse("--short", sha)), found[sha][1])
            for sha in newest_first
        ]

    # --- tags -----------------------------------------------------------------------
    def create_tag(self, name: str, commit: str, message: str, *, email: str) -> None:
        """Create the annotated tag ``name`` at ``commit``; refuse to move an existing one.

        A clone with no git identity (a CI runner) tags as ``email``, the deploy's author.
        """
        repo = self._repo
        try:
            repo.git.check_ref_format(f"refs/tags/{name}")
        except git.GitCommandError:
            raise GitError(f"'{name}' cannot name a git tag") from None
        identity = {}
        if not self.has_identity():
            identity = {"GIT_COMMITTER_NAME": "ganymede-sync", "GIT_COMMITTER_EMAIL": email}
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt") as text:
            text.write(message)
            text.flush()
            try:
                repo.git.tag("--annotate", "--cleanup=verbatim", f"--file={text.name}", name,
                             commit, env=identity)  # fmt: skip
            except git.GitCommandError as error:
                raise GitError(f"git tag failed: {_last_line(error)}") from None

    def tag_exists(self, name: str) -> bool:
        """Tell whether tag ``name`` exists in this clone."""
        return self._resolve_ref(f"refs/tags/{name}") is not None

    def annotated_tags(self, prefix: str, *, max_message_bytes: int) -> list[TagEntry]:
        """Return the annotated tags under ``refs/tags/<prefix>``, in name order, in one call.

        A message longer than ``max_message_bytes`` is cut there (its reader refuses it):
        tags come from whoever could push one, so nothing they hold is trusted or unbounded.
        """
        output = self._repo.git.for_each_ref(
            "--format=%(refname:strip=2)%00%(objecttype)%00%(*objectname)%00%(contents)%00",
            f"refs/tags/{prefix}",
        )
        fields = output.split("\0")
        entries = []
        for start in range(0, len(fields) - 3, 4):
            name, kind, commit, message = fields[start : start + 4]
            if kind == "tag" and commit:
                entries.append(TagEntry(name.lstrip("\n"), commit, message[:max_message_bytes]))
        return entries

    def blobs_at(self, commit: str, folder: Path) -> dict[str, str]:
        """Return every file under ``folder`` in ``commit``: path relative to it -> blob id."""
        prefix = self._prefix(folder)
        sha = self._resolve_commit(commit)
        if prefix is None or sha is None:
            raise GitError(f"unknown commit '{commit}': fetch it (git fetch --tags)")
        return {path[len(prefix) + 1 :]: blob for path, blob in self._tree_blobs(sha, prefix)}

    def blob_bytes(self, blob: str) -> bytes:
        """Return the content of the blob ``blob`` (a hex id ``blobs_at`` gave)."""
        return bytes(self._repo.odb.stream(bytes.fromhex(blob)).read())

    def _resolve_ref(self, ref: str) -> str | None:
        try:
            return str(self._repo.git.rev_parse("--verify", "--quiet", ref))
        except git.GitCommandError:
            return None

    def _blob_at(self, commit: str, path: str) -> str | None:
        try:
            return str(self._repo.git.rev_parse("--verify", "--quiet", f"{commit}:{path}"))
        except git.GitCommandError:
            return None

    def committed_versions(self, folder: Path, manifest_path: Path) -> dict[str, set[str]]:
        """Return the blob ids of each file of ``folder`` committed since the manifest last changed.

        Keys are paths relative to ``folder``. A deploy uses them to recognise its own
        earlier deploys in Ganymede. A shallow clone is deepened from its remote when
        the history since that commit is missing; without a remote, ``GitError`` says
        how to fix the checkout: a guess here could hide someone else's edit.
        """
        if not self._repo.head.is_valid():
            return {}
        top = self._top()
        prefix = folder.resolve().relative_to(top).as_posix()
        manifest = manifest_path.resolve().relative_to(top).as_posix()
        since = self._complete_history_since(manifest)
        if since is None:
            return {}
        versions: dict[str, set[str]] = {}
        for path, blob in self._tree_blobs(since, prefix) + self._logged_blobs(since, prefix):
            versions.setdefault(path[len(prefix) + 1 :], set()).add(blob)
        return versions

    def last_commit_of(self, path: Path) -> str | None:
        """Return the commit that last changed ``path``, or None when ``path`` has changes
        that ``HEAD`` does not hold, or no commit yet."""
        prefix = self._prefix(path)
        if prefix is None or not self._repo.head.is_valid():
            return None
        if self._repo.git.status("--porcelain", "--", prefix):
            return None
        return self._repo.git.log("-1", "--format=%H", "--", prefix) or None

    def tags_containing(self, commit: str, prefix: str) -> set[str]:
        """Return the tags under ``refs/tags/<prefix>`` whose commit descends from ``commit``."""
        output = self._repo.git.for_each_ref(
            "--format=%(refname:strip=2)", f"--contains={commit}", f"refs/tags/{prefix}"
        )
        return set(output.split())

    def pulled_versions(self, manifest_path: Path, paths: Iterable[Path]) -> dict[Path, bytes]:
        """Return each of ``paths`` as the commit that last changed ``manifest_path`` holds
        it: what the last committed pull wrote (a path not there is left out). One look
        for that commit, whatever the number of paths."""
        if not self._repo.head.is_valid():
            return {}
        top = self._top()
        manifest = manifest_path.resolve().relative_to(top).as_posix()
        since = self._repo.git.log("-1", "--format=%H", "--", manifest) or None
        if since is None:
            return {}
        tree = self._repo.commit(since).tree
        found = {}
        for path in paths:
            try:
                blob = tree / path.resolve().relative_to(top).as_posix()
                found[path] = bytes(blob.data_stream.read())
            except (KeyError, ValueError):
                continue
        return found

    def _complete_history_since(self, manifest: str) -> str | None:
        """Return the last commit that changed ``manifest``, deepening a shallow clone if needed."""
        for deepen in ("--deepen=100", "--unshallow", None):
            since = self._repo.git.log("-1", "--format=%H", "--", manifest) or None
            if since is None or not self._is_cut_off(since):
                return since
            if deepen is None or not self._fetch_more(deepen):
                break
        raise GitError(
            f"this clone is shallow and lacks the history since {manifest} last changed, "
            f"which a deploy needs to tell its own earlier deploys from edits in Ganymede: "
            f"{SHALLOW_HELP}"
        )

    def _is_cut_off(self, since: str) -> bool:
        """Tell whether a shallow boundary lies in ``since..HEAD`` or at ``since`` itself."""
        shallow_file = Path(self._repo.common_dir) / "shallow"
        if not shallow_file.is_file():
            return False
        boundary = set(shallow_file.read_text(encoding="ascii").split())
        between = set(self._repo.git.rev_list(f"{since}..HEAD").split())
        return bool(boundary & (between | {since}))

    def _fetch_more(self, option: str) -> bool:
        """Fetch more history from the first remote; tell whether that worked."""
        remotes = [remote.name for remote in self._repo.remotes]
        if not remotes:
            return False
        remote = "origin" if "origin" in remotes else remotes[0]
        try:
            self._repo.git.fetch("--quiet", option, remote)
        except git.GitCommandError:
            return False
        return True

    def _tree_blobs(self, commit: str, prefix: str) -> list[tuple[str, str]]:
        """Return (path, blob id) of every file under ``prefix`` in ``commit``."""
        output = self._repo.git.ls_tree("-r", "-z", "--full-tree", commit, "--", prefix)
        pairs = []
        for line in output.split("\0"):
            meta, _, path = line.partition("\t")
            if path and meta.split()[1] == "blob":
                pairs.append((path, meta.split()[2]))
        return pairs

    def _logged_blobs(self, since: str, prefix: str) -> list[tuple[str, str]]:
        """Return (path, blob id) of every version of a file under ``prefix`` after ``since``.

        ``-m`` shows merges against each parent, so content first made while resolving
        a merge counts too; ``--full-history`` keeps side branches that simplification
        would drop.
        """
        output = self._repo.git.log(
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


def _split_paths(output: str) -> list[str]:
    return [path for path in output.split("\0") if path]


def _last_line(error: git.GitCommandError) -> str:
    lines = str(error.stderr or error).strip().splitlines()
    return lines[-1].strip() if lines else "unknown error"
