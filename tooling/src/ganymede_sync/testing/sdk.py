"""Put the ``ganymede_sdk`` stand-in into ``sys.modules``, only where the real SDK is absent.

The real ``ganymede_sdk`` exists only inside Ganymede. When it is importable (say, in
one of Ganymede's notebooks) it always wins and nothing here is installed. Otherwise
``install_sdk_standin`` registers the documented modules (``ganymede_sdk``, ``.io``,
``.editor``, ``.flow_runtime``, ``.file_tag``, ``.storage``, ``.lib``, ``.util``,
``.util.email``). Any other submodule, and any name not emulated in these modules,
raises ``NotEmulatedError`` naming it.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from ganymede_sync.errors import STANDIN_NOTE, NotEmulatedError
from ganymede_sync.testing import standin

PACKAGE = "ganymede_sdk"
MARKER = "__ganymede_standin__"


def _retrieve_sql(query_str: str, context=None, render_dict=None):
    """Module-level ``retrieve_sql`` of the 2023 API: the latest run when no context."""
    return standin.run_sql(context, query_str, render_dict)


def _get_secret(secret_name: str) -> str:
    return standin.secret_of(None, secret_name)


def _returns_false(name: str) -> Callable[[], bool]:
    def detect() -> bool:
        """A local test runs in no Ganymede environment: always False."""
        return False

    detect.__name__ = name
    return detect


_ENVIRONMENT_CHECKS = (
    "_is_prod_env",
    "is_cron_flow",
    "_is_editor_notebook",
    "_is_notebook",
    "_is_agent_notebook_",
    "_is_container",
    "_is_agent",
    "_is_airflow",
)

MODULES: dict[str, Mapping[str, Any]] = {
    PACKAGE: {
        "Ganymede": standin.Ganymede,
        "GanymedeContext": standin.GanymedeContext,
        "NodeReturn": standin.NodeReturn,
        "get_secret": _get_secret,
        "retrieve_sql": _retrieve_sql,
    },
    f"{PACKAGE}.io": {
        "NodeReturn": standin.NodeReturn,
        "FlowInputs": standin.FlowInputs,
        "FlowInputFile": standin.FlowInputFile,
        "FlowInputParam": standin.FlowInputParam,
        "retrieve_sql": _retrieve_sql,
    },
    f"{PACKAGE}.editor": {
        "GanymedeContext": standin.GanymedeContext,
        "MockGanymedeContext": standin.MockGanymedeContext,
    },
    f"{PACKAGE}.flow_runtime": {"GanymedeException": standin.GanymedeException},
    f"{PACKAGE}.file_tag": {},
    f"{PACKAGE}.storage": {},
    f"{PACKAGE}.lib": {name: _returns_false(name) for name in _ENVIRONMENT_CHECKS},
    f"{PACKAGE}.util": {},
    f"{PACKAGE}.util.email": {},
}
"""Each emulated module and what it holds; every other name in them is refused."""


def real_sdk_importable() -> bool:
    """Tell whether a ``ganymede_sdk`` other than the stand-in can be imported."""
    loaded = sys.modules.get(PACKAGE)
    if loaded is not None:
        return not getattr(loaded, MARKER, False)
    try:
        return importlib.util.find_spec(PACKAGE) is not None
    except (ImportError, ValueError):
        return False


def install_sdk_standin() -> bool:
    """Make ``import ganymede_sdk`` give the stand-in unless the real SDK is importable.

    Returns True when the stand-in is (now) in place. Safe to call again.
    """
    if real_sdk_importable():
        return False
    if PACKAGE in sys.modules:
        return True
    for name, contents in MODULES.items():
        sys.modules[name] = _module(name, contents)
    for name in MODULES:
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, sys.modules[name])
    if not any(isinstance(finder, _RefuseOtherSubmodules) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RefuseOtherSubmodules())
    return True


def uninstall_sdk_standin() -> None:
    """Remove the stand-in's modules (tests of the kit use this to start clean)."""
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        if getattr(sys.modules[name], MARKER, False):
            del sys.modules[name]
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _RefuseOtherSubmodules)]


def _module(name: str, contents: Mapping[str, Any]) -> ModuleType:
    module = ModuleType(name, f"Stand-in for {name}: {STANDIN_NOTE}.")
    module.__dict__.update(contents)
    module.__path__ = []  # a package, so `import ganymede_sdk.x` consults our finder
    module.__dict__["__all__"] = sorted(contents)
    setattr(module, MARKER, True)

    def __getattr__(attribute: str) -> Any:
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)
        raise NotEmulatedError(f"{name}.{attribute}")

    module.__dict__["__getattr__"] = __getattr__  # PEP 562: called for missing names
    return module


class _RefuseOtherSubmodules(importlib.abc.MetaPathFinder):
    """Turn ``import ganymede_sdk.<not emulated>`` into a ``NotEmulatedError`` naming it."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        package = sys.modules.get(PACKAGE)
        if fullname.startswith(PACKAGE + ".") and getattr(package, MARKER, False):
            raise NotEmulatedError(f"module {fullname}")
        return None
