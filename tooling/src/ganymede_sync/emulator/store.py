"""The emulator's pipeline repositories: one plain git repository per environment.

Ganymede keeps each environment's code in its own git repository (``dags/<flow>/<node>/...``,
``lib/``, ``connectors/`` and files it manages itself). This module reads and writes those
repositories with the ``git`` command line, always from what ``HEAD`` holds, so commits made
by hand with plain git are served by the next request. Reads are done in bulk (one
``ls-tree`` and one ``cat-file --batch`` per request) so archives of many thousands of files
stay fast. Writes create exactly one commit through ``git fast-import`` (all files or none)
and then bring the working tree along.

It never knows about HTTP, the archive layout seen by API users, or the client side.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

BRANCH = "main"
_COMMITTER = "Ganymede Emulator <emulator@ganymede.invalid>"
_FILE_MODES = {"100644", "100755"}


class StoreError(Exception):
    """A git command on a pipeline repository failed."""


@dataclass(frozen=True)
class Commit:
    """One commit of a pipeline repository."""

    sha: str
    author_email: str
    message: str
    paths: tuple[str, ...]
    """Pipeline repository paths the commit changed."""


@dataclass(frozen=True)
class TreeEntry:
    """A file of a commit's tree: its path, git mode and blob id."""

    path: str
    mode: str
    blob: str


class PipelineRepository:
    """One environment's pipeline repository on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        """Serialises the emulator's own writes (PUT and web-editor edits)."""

    def exists(self) -> bool:
        """Tell whether the repository was already created (state of an earlier run)."""
        return (self.path / ".git").is_dir()

    def create(self) -> None:
        """Create an empty repository on the main branch."""
        self.path.mkdir(parents=True, exist_ok=True)
        self._git("init", "-q", "--template=", "-b", BRANCH)

    def head(self) -> str | None:
        """Return the commit id of HEAD, or None while the repository has no commit.

        Read from the branch's ref files when HEAD is that branch (every request asks,
        and a file read costs far less than a git process); git answers otherwise.
        """
        known = self._branch_from_files()
        if known is not None:
            return known
        result = self._run("rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
        return result.stdout.decode().strip() or None

    def _branch_from_files(self) -> str | None:
        """Return the branch's commit from its loose ref, else from packed-refs (None:
        HEAD is elsewhere, or the files do not say)."""
        git_dir = self.path / ".git"
        ref = f"refs/heads/{BRANCH}"
        try:
            if (git_dir / "HEAD").read_text("ascii").strip() != f"ref: {ref}":
                return None
            loose = git_dir / ref
            if loose.is_file():
                sha = loose.read_text("ascii").strip()
                return sha if len(sha) == 40 else None
            for line in (git_dir / "packed-refs").read_text("ascii").splitlines():
                sha, _, name = line.partition(" ")
                if name == ref and len(sha) == 40:
                    return sha
        except (OSError, UnicodeDecodeError):
            return None
        return None

    def tree(self, commit: str | None = None) -> list[TreeEntry]:
        """List the regular files of a commit (HEAD by default); links are left out."""
        commit = commit or self.head()
        if commit is None:
            return []
        output = self._git("ls-tree", "-r", "-z", "--full-tree", commit)
        entries = []
        for record in output.split(b"\0"):
            if not record:
                continue
            meta, _, path = record.partition(b"\t")
            mode, kind, blob = meta.decode().split(" ")
            if kind == "blob" and mode in _FILE_MODES:
                entries.append(TreeEntry(path.decode("utf-8", "surrogateescape"), mode, blob))
        return entries

    def has_commit(self, commit: str) -> bool:
        """Tell whether ``commit`` is a commit of this repository."""
        result = self._run("cat-file", "-e", f"{commit}^{{commit}}", check=False)
        return result.returncode == 0

    def read_blobs(self, entries: list[TreeEntry]) -> Iterator[tuple[TreeEntry, bytes]]:
        """Yield each entry with its content, read through one ``cat-file --batch`` process."""
        if not entries:
            return
        process = subprocess.Popen(
            ["git", "cat-file", "--batch"],
            cwd=self.path,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=_git_environment(),
        )
        stdin, stdout = process.stdin, process.stdout
        if stdin is None or stdout is None:
            raise StoreError("git cat-file started without pipes")
        feeder = threading.Thread(target=_feed_ids, args=(stdin, entries), daemon=True)
        feeder.start()
        try:
            for entry in entries:
                header = stdout.readline().split()
                if len(header) != 3:
                    raise StoreError(f"git cat-file could not read {entry.path}")
                data = stdout.read(int(header[2]))
                stdout.read(1)
                yield entry, data
        finally:
            stdout.close()
            process.wait()
            feeder.join()

    def files(self) -> dict[str, bytes]:
        """Return every regular file at HEAD: pipeline path -> content."""
        return {entry.path: data for entry, data in self.read_blobs(self.tree())}

    def commit(
        self,
        changes: Mapping[str, bytes | None],
        *,
        author_email: str,
        message: str,
        timestamp: int,
    ) -> str:
        """Write all ``changes`` (None deletes) as one commit on main and return its id.

        ``git fast-import`` builds the commit and moves the branch in one step, so a failure
        leaves the repository as it was. The working tree follows with a two-tree merge that
        keeps unrelated local edits of anyone working in the repository by hand.
        """
        parent = self.head()
        stream = _fast_import_stream(parent, changes, author_email, message, timestamp)
        self._git("fast-import", "--quiet", "--done", input=stream)
        new_head = self.head()
        if new_head is None or new_head == parent:
            raise StoreError("git fast-import did not create a commit")
        self._update_working_tree(parent, new_head)
        return new_head

    def commits(self) -> list[Commit]:
        """Return the history of HEAD, newest first, with the paths each commit changed."""
        if self.head() is None:
            return []
        output = self._git(
            "log", "--no-renames", "--name-only", "-z", "--format=%x1e%H%x1f%ae%x1f%B%x1f"
        ).decode("utf-8", "surrogateescape")
        commits = []
        for chunk in output.split("\x1e")[1:]:
            sha, email, message, names = chunk.split("\x1f", 3)
            paths = tuple(name for name in names.strip("\0\n").split("\0") if name)
            commits.append(Commit(sha, email, message.rstrip("\n"), paths))
        return commits

    def _update_working_tree(self, old: str | None, new: str) -> None:
        if old is None:
            self._run("read-tree", "-u", "--reset", new, check=False)
        else:
            self._run("read-tree", "-u", "-m", old, new, check=False)

    def _git(self, *args: str, input: bytes | None = None) -> bytes:
        return self._run(*args, input=input).stdout

    def _run(
        self, *args: str, input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(
            ["git", *args],
            cwd=self.path,
            input=input,
            capture_output=True,
            env=_git_environment(),
            check=False,
        )
        if check and result.returncode != 0:
            detail = result.stderr.decode(errors="replace").strip().splitlines()
            raise StoreError(f"git {args[0]} failed in {self.path}: {' '.join(detail[-1:])}")
        return result


def _feed_ids(stdin: IO[bytes], entries: list[TreeEntry]) -> None:
    """Write blob ids to ``cat-file --batch`` from a thread, so its output never blocks."""
    try:
        for entry in entries:
            stdin.write(f"{entry.blob}\n".encode())
        stdin.close()
    except (BrokenPipeError, ValueError):
        return


def _fast_import_stream(
    parent: str | None,
    changes: Mapping[str, bytes | None],
    author_email: str,
    message: str,
    timestamp: int,
) -> bytes:
    author = f"{_display_name(author_email)} <{author_email}>"
    text = message.encode()
    parts = [
        f"commit refs/heads/{BRANCH}\n".encode(),
        f"author {author} {timestamp} +0000\n".encode(),
        f"committer {_COMMITTER} {timestamp} +0000\n".encode(),
        f"data {len(text)}\n".encode(),
        text,
        b"\n",
    ]
    if parent is not None:
        parts.append(f"from {parent}\n".encode())
    for path, content in sorted(changes.items()):
        quoted = _quote_path(path)
        if content is None:
            parts.append(b"D " + quoted + b"\n")
        else:
            parts += [b"M 100644 inline " + quoted + b"\n", f"data {len(content)}\n".encode()]
            parts += [content, b"\n"]
    parts.append(b"\ndone\n")
    return b"".join(parts)


def _quote_path(path: str) -> bytes:
    """Quote a path the way fast-import reads C-style strings (spaces, quotes, newlines)."""
    raw = path.encode("utf-8", "surrogateescape")
    escaped = raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\n", b"\\n")
    return b'"' + escaped + b'"'


def _display_name(email: str) -> str:
    local = email.split("@", 1)[0]
    return local.replace(".", " ").replace("_", " ").title() or email


def _git_environment() -> dict[str, str]:
    """Run git on the pipeline repository only, without system config or prompts."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"}
    }
    environment.update(GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")
    return environment
