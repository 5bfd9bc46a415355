"""Validate an environment folder offline, before anything reaches Ganymede.

Used by ``invoke check`` (also as a pre-commit hook) and by a deploy before it
sends: every Python file compiles, managed folders hold only files Ganymede
keeps, no node file appears that the last pull did not bring, and every name
follows the naming rule a pull applies (``naming``). ``invoke check`` also reports
names a file uses but never defines or imports (pyflakes' undefined-name checks
only: no style rule ever applies to flow code). Every problem is collected, so one
run reports all of them with file and line.

Never does: touch the network, change a file, or import the code it checks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from pathlib import Path

from pyflakes.checker import Checker
from pyflakes.messages import UndefinedExport, UndefinedLocal, UndefinedName

from ganymede_sync.errors import FlowFileProblem
from ganymede_sync.rules import flow_file, naming
from ganymede_sync.rules.layout import (
    MANAGED_SUFFIXES,
    in_managed_folder,
    is_flow_file,
    is_lib_path,
    node_of,
    scan_managed,
    walk_files,
)
from ganymede_sync.settings.config import Environment

_IGNORED_FOLDERS = frozenset({"__pycache__"})


@dataclass(frozen=True)
class Problem:
    """One thing to fix, located in a file (and a line when known)."""

    path: str
    """Path relative to the repository root, such as ``dev/flow/node/function.py``."""
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path} line {self.line}" if self.line else self.path
        return f"{where}: {self.message}"


def compile_problem(display_path: str, source: bytes) -> Problem | None:
    """Compile ``source`` without running it; return the syntax error, if any."""
    try:
        compile(source, display_path, "exec", dont_inherit=True)
    except SyntaxError as error:
        return Problem(display_path, error.msg, error.lineno)
    except ValueError as error:
        return Problem(display_path, str(error))
    return None


def compile_problems(folder_name: str, files: Mapping[str, bytes | Path]) -> list[Problem]:
    """Return the syntax errors of every Python file in ``files``.

    ``files`` maps repo paths to their bytes or to the file to read; files are read
    one at a time, so checking a big folder never holds all of it in memory.
    """
    problems = []
    for path in sorted(files):
        if path.endswith(".py"):
            source = files[path]
            if isinstance(source, Path):
                source = source.read_bytes()
            problem = compile_problem(f"{folder_name}/{path}", source)
            if problem:
                problems.append(problem)
    return problems


UNDEFINED = (UndefinedName, UndefinedLocal, UndefinedExport)
"""The pyflakes findings that are certain failures when the line runs (a NameError)."""


def undefined_name_problems(folder_name: str, files: Mapping[str, bytes | Path]) -> list[Problem]:
    """Return every use of a name that a Python file of ``files`` never defines or imports.

    A file that does not compile is left to ``compile_problems``.
    """
    problems = []
    for path in sorted(files):
        if not path.endswith(".py"):
            continue
        source = files[path]
        data = source.read_bytes() if isinstance(source, Path) else source
        shown = f"{folder_name}/{path}"
        try:
            tree = ast.parse(data, filename=shown)
        except (SyntaxError, ValueError):
            continue
        for message in Checker(tree, filename=shown).messages:
            if isinstance(message, UNDEFINED):
                text = message.message % message.message_args
                problems.append(Problem(shown, text, message.lineno))
    return problems


def stray_problems(folder: Path) -> list[Problem]:
    """Report files in node folders and ``lib/`` that Ganymede would never keep."""
    problems = []
    for path in _walk(folder):
        if in_managed_folder(path) and not path.endswith(MANAGED_SUFFIXES):
            problems.append(
                Problem(
                    f"{folder.name}/{path}",
                    "only .py and .sql files are synced with Ganymede: "
                    "move this file out of the node or lib folder",
                )
            )
    return problems


def new_node_problems(
    folder_name: str,
    local: Iterable[str],
    known: Iterable[str],
    declared: Set[tuple[str, str]] = frozenset(),
    unreadable: Set[str] = frozenset(),
) -> list[Problem]:
    """Report node files that the last pull did not bring and no flow file declares:
    a deploy creates a node only from the tasks of its flow's flow.json. Flows whose
    flow file cannot be read (``unreadable``, reported on its own) are left out."""
    known = set(known)
    return [
        Problem(
            f"{folder_name}/{path}",
            "new node file: add the node to the tasks of its flow's flow.json, so the "
            "deploy creates it (or delete its folder if the node is gone)",
        )
        for path in sorted(local)
        if path not in known
        and not is_lib_path(path)
        and not is_flow_file(path)
        and node_of(path) not in declared
        and (node := node_of(path)) is not None
        and node[0] not in unreadable
    ]


def flow_file_problems(
    folder_name: str, flow_files: Mapping[str, bytes], known: Iterable[str] | None = None
) -> list[Problem]:
    """Report flow files (``<flow>/flow.json``) that a deploy could not send: unreadable
    ones, and new flows (not in ``known``, the last pull; None: no pull yet, so none is
    new) whose id would not be their folder's name."""
    known_paths = None if known is None else set(known)
    problems = []
    for path, data in sorted(flow_files.items()):
        shown = f"{folder_name}/{path}"
        try:
            parsed = flow_file.parse(data)
        except FlowFileProblem as problem:
            problems.append(Problem(shown, f"not a flow file: {problem}"))
            continue
        flow = path.split("/", 1)[0]
        name = parsed.settings.get("displayName") or flow
        is_new = known_paths is not None and path not in known_paths
        if is_new and isinstance(name, str) and flow_file.derived_id(name) != flow:
            problems.append(Problem(shown, (
                f"a new flow named '{name}' gets the id '{flow_file.derived_id(name)}' in "
                "Ganymede, not its folder's name: rename the folder or the displayName"
            )))  # fmt: skip
    return problems


def naming_problems(
    folder_name: str, local: Iterable[str], known: Iterable[str] = ()
) -> list[Problem]:
    """Report local names a pull would refuse, alone or beside Ganymede's ``known`` files."""
    local = set(local)
    found = naming.name_problems(local | set(known))
    return [
        Problem(naming.printable(f"{folder_name}/{path}"), f"{why}: rename it")
        for path, why in sorted(found.items())
        if path in local
    ]


def check_environment(environment: Environment) -> list[Problem]:
    """Check one environment folder against the manifest of its last pull."""
    from ganymede_sync.state.manifest import load_manifest

    manifest = load_manifest(environment.manifest_path)
    return check_folder(environment.path, manifest.files if manifest else None)


def check_folder(folder: Path, known_paths: Iterable[str] | None) -> list[Problem]:
    """Return every problem of an environment folder, sorted by file and line.

    ``known_paths`` are the paths of the last pull's manifest; None (no pull yet)
    skips the new-node check rather than calling every file new.
    """
    local = scan_managed(folder)
    problems = compile_problems(folder.name, local) + stray_problems(folder)
    problems += undefined_name_problems(folder.name, local)
    problems += naming_problems(folder.name, local, known_paths or ())
    flow_files = {path: file.read_bytes() for path, file in local.items() if is_flow_file(path)}
    flow_problems = flow_file_problems(folder.name, flow_files, known_paths)
    problems += flow_problems
    if known_paths is not None:
        declared = flow_file.declared_nodes(flow_files)
        unreadable = {problem.path.split("/")[1] for problem in flow_problems}
        problems += new_node_problems(folder.name, local, known_paths, declared, unreadable)
    return sorted(problems, key=lambda problem: (problem.path, problem.line or 0))


def _walk(folder: Path) -> list[str]:
    """List regular files under ``folder`` as sorted POSIX paths, as ``layout`` walks them.

    Files of ``__pycache__`` folders are left out: Python writes them, nobody adds them.
    """
    return sorted(
        path for path, _ in walk_files(folder) if _IGNORED_FOLDERS.isdisjoint(path.split("/"))
    )
