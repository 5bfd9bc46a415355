"""Import a node's ``function.py`` the way Ganymede runs it, one environment at a time.

Flow and node folders are not importable names (``qpcr-analysis``, ``1st Pass``) and
every node file is called ``function.py``, so each load imports the file by path
under a fresh, unique module name. Inside the node, ``import lib...`` resolves to
the ``lib/`` of the node's own environment folder: the loader swaps that folder's
``lib`` modules into ``sys.modules`` while the node loads and while its ``execute``
runs, then puts back whatever was there. A dev node and a prod node loaded in one
test session therefore never share or mix their ``lib``.

Folders are resolved against the repository root: the nearest folder at or above
the current directory that holds ``ganymede.toml`` (or the ``root`` given).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import itertools
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ganymede_sync.errors import (
    NodeImportError,
    NodeNotFoundError,
    NotEmulatedError,
)
from ganymede_sync.rules.layout import LIB_DIR
from ganymede_sync.settings.config import find_root
from ganymede_sync.testing.sdk import install_sdk_standin

NODE_FILE = "function.py"
FLOWS_REQUIREMENTS = "requirements-flows.in"
LOCKED_FLOWS_REQUIREMENTS = "requirements-flows.txt"
_counter = itertools.count(1)


@dataclass(frozen=True)
class NodeRef:
    """One node of an environment folder, named as in the repository."""

    folder: str
    flow: str
    node: str
    path: Path

    @property
    def label(self) -> str:
        return f"{self.folder}/{self.flow}/{self.node}"


def environment_path(folder: str | Path, root: str | Path | None = None) -> Path:
    """Return the environment folder: absolute as given, else under the repository root.

    The root is the nearest folder at or above ``root`` (default: the current
    directory) that holds ganymede.toml.
    """
    folder = Path(folder)
    return folder if folder.is_absolute() else find_root(Path(root or Path.cwd())) / folder


def node_path(folder: str | Path, flow: str, node: str, root: str | Path | None = None) -> Path:
    """Return where ``folder/flow/node/function.py`` is, whether or not it exists."""
    return environment_path(folder, root) / flow / node / NODE_FILE


def load_node(
    folder: str | Path, flow: str, node: str, *, root: str | Path | None = None
) -> ModuleType:
    """Import ``<folder>/<flow>/<node>/function.py`` as a fresh module and return it.

    ``folder`` is an environment folder (``"dev"``) relative to the repository root, or
    an absolute path. ``ganymede_sdk`` is the local stand-in unless the real SDK is
    importable. A missing node raises ``NodeNotFoundError`` naming the path; a node
    that fails to import raises ``NodeImportError`` naming file, line and cause.
    """
    path = node_path(folder, flow, node, root)
    if not path.is_file():
        raise NodeNotFoundError(f"no node '{flow}/{node}' in {path.parents[2]}: {path} not found")
    install_sdk_standin()
    environment = path.parents[2]
    name = _module_name(environment.name, flow, node)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has one
        raise NodeNotFoundError(f"{path} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    lib = EnvironmentLib(environment)
    sys.modules[name] = module  # dataclasses and pickle look modules up by name
    try:
        with lib.active():
            spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise NodeImportError(describe_import_error(path, environment, error)) from error
    execute = getattr(module, "execute", None)
    if callable(execute):
        setattr(module, "execute", lib.wrap(execute))  # noqa: B010 - a module attribute
    return module


def _module_name(folder: str, flow: str, node: str) -> str:
    """A unique, valid module name, whatever characters the folder names use."""
    readable = re.sub(r"\W+", "_", f"{folder}__{flow}__{node}", flags=re.ASCII)
    return f"ganymede_node_{next(_counter)}_{readable}"


class EnvironmentLib:
    """The ``lib`` modules of one loaded node, swapped into ``sys.modules`` on demand.

    Each loaded node gets its own ``lib`` module objects, imported from its own
    environment folder: state a node keeps in ``lib`` never leaks into another node.
    """

    def __init__(self, environment: Path) -> None:
        self.environment = environment
        self.modules: dict[str, ModuleType] = {}

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        outside = _take_lib_modules()
        sys.modules.update(self.modules)
        try:
            if "lib" not in sys.modules:
                _import_lib_package(self.environment / LIB_DIR)
            yield
        finally:
            self.modules = _take_lib_modules()
            sys.modules.update(outside)

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """Return ``function`` running with this node's ``lib`` importable as ``lib``."""

        @functools.wraps(function)
        def run_with_environment_lib(*args: Any, **kwargs: Any) -> Any:
            with self.active():
                return function(*args, **kwargs)

        return run_with_environment_lib


def _take_lib_modules() -> dict[str, ModuleType]:
    names = [n for n in sys.modules if n == "lib" or n.startswith("lib.")]
    return {name: sys.modules.pop(name) for name in names}


def _import_lib_package(folder: Path) -> None:
    """Put one environment's package ``lib`` into ``sys.modules`` (runs its ``__init__.py``).

    Its search path is that folder only, so ``lib.x`` can never come from elsewhere;
    without ``__init__.py`` it is a namespace package, as Ganymede's ``lib`` is.
    """
    init = folder / "__init__.py"
    if init.is_file():
        spec = importlib.util.spec_from_file_location(
            "lib", init, submodule_search_locations=[str(folder)]
        )
        if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has one
            raise NodeImportError(f"{init} cannot be imported as Python")
        package = importlib.util.module_from_spec(spec)
        sys.modules["lib"] = package
        spec.loader.exec_module(package)
        return
    package = ModuleType("lib", "Shared code of one environment folder (namespace package).")
    package.__path__ = [str(folder)]
    spec = importlib.util.spec_from_loader("lib", loader=None, is_package=True)
    if spec is None:  # never for a name with is_package=True; narrows the type
        raise ImportError("lib")
    spec.submodule_search_locations = [str(folder)]
    package.__spec__ = spec
    sys.modules["lib"] = package


# --- explaining import failures -----------------------------------------------------
def describe_import_error(path: Path, environment: Path, error: BaseException) -> str:
    """Say where a node's import failed (file:line) and what to do about it."""
    where = _where(path, environment, error)
    if isinstance(error, ModuleNotFoundError) and error.name:
        top = error.name.split(".")[0]
        if top == "lib":
            missing = environment.name + "/" + error.name.replace(".", "/")
            return f"{where}: imports {error.name}, but there is no {missing}.py (nor package)"
        return (
            f"{where}: needs the package that provides '{top}', which is not installed: "
            f"add it to {FLOWS_REQUIREMENTS}, re-lock {LOCKED_FLOWS_REQUIREMENTS} "
            f"and run: pip install -r {LOCKED_FLOWS_REQUIREMENTS}"
        )
    if isinstance(error, NotEmulatedError):
        return f"{where}: {error}"
    if isinstance(error, ImportError) and (error.name or "").split(".")[0] == "lib":
        return f"{where}: {error} (check {environment.name}/lib/)"
    return f"{where}: error at import time: {type(error).__name__}: {error}"


def _where(path: Path, environment: Path, error: BaseException) -> str:
    """``file:line`` of the failure inside the environment folder, with the importing node."""
    node = _shown(path, environment)
    frames = [
        (Path(frame.filename), frame.lineno)
        for frame in traceback.extract_tb(error.__traceback__)
        if _inside(Path(frame.filename), environment)
    ]
    if isinstance(error, SyntaxError) and error.filename and error.lineno:
        frames.append((Path(error.filename), error.lineno))
    if not frames:
        return node
    innermost, line = frames[-1]
    here = f"{_shown(innermost, environment)}:{line}"
    if innermost == path:
        return here
    node_lines = [number for file, number in frames if file == path]
    via = f"{node}:{node_lines[-1]}" if node_lines else node
    return f"{here} (imported by {via})"


def _inside(file: Path, folder: Path) -> bool:
    try:
        file.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _shown(file: Path, environment: Path) -> str:
    """A path as the user sees it: from the environment folder's name down."""
    try:
        relative = file.resolve().relative_to(environment.resolve().parent)
    except ValueError:
        return str(file)
    return relative.as_posix()
