"""Put the ``ganymede_sdk`` stand-in into ``sys.modules``, only where the real SDK is absent.

The real ``ganymede_sdk`` exists only inside Ganymede. When it is importable (say, in
one of Ganymede's notebooks) it always wins and nothing here is installed. Otherwise
``install_sdk_standin`` registers every module of Ganymede's documented SDK surface
(``MODULES``), so no documented import blocks a node: each name is emulated, recorded
for the test's assertions, or refused with ``NotEmulatedError`` only when called. Any
other submodule, and any undocumented name in these modules, is refused at import.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from ganymede_sync.errors import STANDIN_NOTE, NotEmulatedError
from ganymede_sync.testing import recorded, standin

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


def _refused(module: str, *names: str, hint: str = "") -> dict[str, type]:
    """Documented names of ``module`` that import but are refused when called."""
    return {name: recorded.refused_when_called(f"{module}.{name}", hint) for name in names}


_NEEDS_GANYMEDE = (
    "it needs Ganymede itself: list the node in [testing] not_emulated of ganymede.toml"
)

MODULES: dict[str, Mapping[str, Any]] = {
    PACKAGE: {
        "Ganymede": standin.Ganymede,
        "GanymedeContext": standin.GanymedeContext,
        "NodeReturn": standin.NodeReturn,
        "get_secret": _get_secret,
        "retrieve_sql": _retrieve_sql,
        **_refused(PACKAGE, "SchemaValidation", hint="it validates against Ganymede's tables"),
    },
    f"{PACKAGE}.io": {
        "NodeReturn": standin.NodeReturn,
        "FlowInputs": standin.FlowInputs,
        "FlowInputFile": standin.FlowInputFile,
        "FlowInputParam": standin.FlowInputParam,
        "retrieve_sql": _retrieve_sql,
        **_refused(f"{PACKAGE}.io", "list_tables", "retrieve_files", "list_files"),
    },
    f"{PACKAGE}.editor": {
        "GanymedeContext": standin.GanymedeContext,
        "MockGanymedeContext": standin.MockGanymedeContext,
        **_refused(f"{PACKAGE}.editor", "compare_df_to_table", hint=_NEEDS_GANYMEDE),
    },
    f"{PACKAGE}.flow_runtime": {
        "GanymedeException": standin.GanymedeException,
        **_refused(f"{PACKAGE}.flow_runtime", "GanymedeFlowRun", hint=_NEEDS_GANYMEDE),
    },
    f"{PACKAGE}.file_tag": {
        "add_file_tag": recorded.add_file_tag,
        "upsert_file_tag": recorded.upsert_file_tag,
        "get_file_tags": recorded.get_file_tags,
        "delete_file_tag": recorded.delete_file_tag,
        "delete_specific_file_tag": recorded.delete_specific_file_tag,
    },
    f"{PACKAGE}.storage": _refused(
        f"{PACKAGE}.storage", "get_file_url", "get_gcs_uri", hint=_NEEDS_GANYMEDE
    ),
    f"{PACKAGE}.lib": {name: _returns_false(name) for name in _ENVIRONMENT_CHECKS},
    f"{PACKAGE}.util": {},
    f"{PACKAGE}.util.email": {"GanymedeEmailAlert": recorded.GanymedeEmailAlert},
    f"{PACKAGE}.api": {},
    f"{PACKAGE}.api.benchling": _refused(
        f"{PACKAGE}.api.benchling", "Benchling", hint=_NEEDS_GANYMEDE
    ),
    f"{PACKAGE}.validation": {},
    f"{PACKAGE}.validation.allotrope": {},
    f"{PACKAGE}.notebook": _refused(f"{PACKAGE}.notebook", "save", hint=_NEEDS_GANYMEDE),
}
"""Each module of Ganymede's documented SDK and what it holds: emulated, recorded
(``testing.recorded``) or refused when called. Any other name in them, and any other
submodule, is refused at import: it is not in the documentation the stand-in follows."""


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
