"""Which files of an environment folder are Ganymede's, and where archive entries go.

The one place that knows the layout: repository paths (``<flow>/<node>/function.py``,
``<flow>/<node>/query.sql``, ``lib/**``, and each flow's ``<flow>/flow.json``: its
pipeline and settings), which of them a pull manages, how an
archive entry name maps to a repository path, and which paths a pull's scope
(one flow, with or without ``lib/``) covers. A second protocol version whose
archives nest flows under ``flows/`` changes ``ARCHIVE_FLOWS_PREFIX`` only.

Pure: never reads archives, never touches git, never prints; ``scan_managed`` is
its only filesystem access.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

LIB_DIR = "lib"
MANAGED_SUFFIXES = (".py", ".sql")
FLOW_FILE = "flow.json"
"""A flow's structure and settings beside its node folders: ``<flow>/flow.json``."""
ARCHIVE_FLOWS_PREFIX = ""
"""Prefix of flow folders inside an archive: empty in protocol v0, ``flows/`` in v2."""


def is_lib_path(repo_path: str) -> bool:
    """Tell whether ``repo_path`` lies under the shared ``lib/`` folder."""
    return repo_path.startswith(LIB_DIR + "/")


def flow_of(repo_path: str) -> str | None:
    """Return the flow a repository path belongs to, or None for ``lib/`` and top-level files."""
    if is_lib_path(repo_path) or "/" not in repo_path:
        return None
    return repo_path.split("/", 1)[0]


def is_managed(repo_path: str) -> bool:
    """Tell whether a pull owns ``repo_path`` (all other files are the user's).

    Managed: code files (``is_code_path``) and flow files (``is_flow_file``).
    """
    return is_code_path(repo_path) or is_flow_file(repo_path)


def is_code_path(repo_path: str) -> bool:
    """Tell whether ``repo_path`` is code that Ganymede's archive holds and a commit sends:
    ``.py``/``.sql`` files in a managed folder (``in_managed_folder``)."""
    return repo_path.endswith(MANAGED_SUFFIXES) and in_managed_folder(repo_path)


def is_flow_file(repo_path: str) -> bool:
    """Tell whether ``repo_path`` is a flow's ``<flow>/flow.json`` (never in an archive:
    it is written from the flow's document, and sent through the flow endpoints)."""
    flow, _, name = repo_path.partition("/")
    return name == FLOW_FILE and is_valid_flow_name(flow)


def flow_file_path(flow: str) -> str:
    """Return the repository path of ``flow``'s flow file."""
    return f"{flow}/{FLOW_FILE}"


def node_of(repo_path: str) -> tuple[str, str] | None:
    """Return (flow, node) of a node file's path, or None for lib/ and flow files."""
    parts = repo_path.split("/")
    if is_lib_path(repo_path) or len(parts) < 3:
        return None
    return parts[0], parts[1]


def in_managed_folder(repo_path: str) -> bool:
    """Tell whether ``repo_path`` lies where a pull manages files, whatever its suffix.

    Managed folders: ``lib/`` and below, and node folders (``<flow>/<node>/<file>``,
    depth three or more). Hidden segments (``.venv``, ``.ipynb_checkpoints``) are never
    managed, so tools' scratch folders inside a flow stay the user's.
    """
    if _EMPTY_OR_HIDDEN_SEGMENT.search(repo_path):
        return False
    return repo_path.count("/") >= (1 if is_lib_path(repo_path) else 2)


_EMPTY_OR_HIDDEN_SEGMENT = re.compile(r"(?:^|/)(?:\.|/|$)")
"""A segment that is empty (leading, doubled or trailing slash) or starts with a dot
(``..`` included): one search instead of a loop over the segments, since a pull asks
this of every file it sees."""


def is_valid_flow_name(flow: str) -> bool:
    """Tell whether ``flow`` can name a flow folder (one plain path segment, not ``lib``)."""
    if not flow or flow in (".", "..", LIB_DIR) or "/" in flow or "\\" in flow:
        return False
    return is_code_path(f"{flow}/node/x.py")


def repo_path_from_archive(name: str) -> str | None:
    """Map an archive entry name to its repository path, or None when it has no place.

    ``name`` has already passed the archive's safety checks (relative, POSIX, no ``..``).
    """
    if is_lib_path(name):
        return name
    if ARCHIVE_FLOWS_PREFIX:
        if not name.startswith(ARCHIVE_FLOWS_PREFIX):
            return None
        name = name[len(ARCHIVE_FLOWS_PREFIX) :]
    return name


@dataclass(frozen=True)
class Scope:
    """What one pull covers: every flow or one flow, with or without ``lib/``."""

    flow: str | None = None
    include_lib: bool = True

    def covers(self, repo_path: str) -> bool:
        """Tell whether a pull of this scope owns ``repo_path`` (adds, changes, removes it)."""
        if is_lib_path(repo_path):
            return self.include_lib
        return self.flow is None or flow_of(repo_path) == self.flow

    def describe(self) -> str:
        """Say in words what the scope covers, for messages and the manifest."""
        what = f"flow '{self.flow}'" if self.flow else "all flows"
        return what + (" and lib/" if self.include_lib else " without lib/")


def scan_managed(folder: Path) -> dict[str, Path]:
    """Return every managed regular file under ``folder`` as repo path -> absolute path.

    Symbolic links and hidden folders are skipped: a link is never a managed file,
    and walking into ``.venv`` would only cost time. A missing folder has no files.
    """
    return {path: Path(absolute) for path, absolute in walk_managed(folder)}


def walk_managed(folder: Path) -> Iterator[tuple[str, str]]:
    """Yield (repo path, absolute path as text) of every managed file, as ``scan_managed``."""
    return walk_files(folder, is_managed)


def walk_files(
    folder: Path, keep: Callable[[str], bool] = lambda repo_path: True
) -> Iterator[tuple[str, str]]:
    """Yield (repo path, absolute path as text) of each regular file whose path ``keep`` accepts.

    Hidden entries and symbolic links are skipped, as for managed files; a missing folder
    has no files. The order is the file system's.
    """
    return ((relative, entry.path) for relative, entry in walk_entries(folder, keep))


def walk_entries(
    folder: Path, keep: Callable[[str], bool]
) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Yield (repo path, directory entry) of each file ``walk_files`` yields."""
    if not folder.is_dir():
        return
    pending = [(str(folder), "")]
    while pending:
        directory, prefix = pending.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                relative = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, relative + "/"))
                elif entry.is_file(follow_symlinks=False) and keep(relative):
                    yield relative, entry
