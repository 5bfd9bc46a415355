"""The flow integrity check: every node of every environment folder imports and has ``execute``.

It needs no test code from the user: like a DAG integrity test, it catches what
``compile()`` cannot (a missing ``lib`` module, a package that is not installed, an
error raised at import time, a node without ``execute``, a pandas call whose engine
package is missing, such as ``read_excel`` without openpyxl).
"""

from __future__ import annotations

from pathlib import Path

from ganymede_sync.rules.layout import LIB_DIR
from ganymede_sync.settings.config import load_settings
from ganymede_sync.testing.engines import missing_engines
from ganymede_sync.testing.loader import (
    FLOWS_REQUIREMENTS,
    NODE_FILE,
    NodeImportError,
    NodeRef,
    load_node,
)


def find_nodes(root: Path, folders: list[str] | None = None) -> list[NodeRef]:
    """Every ``<folder>/<flow>/<node>/function.py`` of the folders listed in ganymede.toml.

    ``folders`` narrows the search to some of them. A folder not pulled yet has no nodes.
    """
    listed = list(load_settings(root).environments)
    nodes = []
    for folder in folders or listed:
        base = root / folder
        for path in sorted(base.glob(f"*/*/{NODE_FILE}")):
            flow, node = path.parts[-3], path.parts[-2]
            if flow != LIB_DIR and not flow.startswith(".") and not node.startswith("."):
                nodes.append(NodeRef(folder, flow, node, path))
    return nodes


def check_node(ref: NodeRef, root: Path) -> str | None:
    """Return what is wrong with one node (file, line, cause), or None when it is fine."""
    try:
        module = load_node(ref.folder, ref.flow, ref.node, root=root)
    except NodeImportError as error:
        return str(error)
    shown = f"{ref.folder}/{ref.flow}/{ref.node}/{NODE_FILE}"
    execute = getattr(module, "execute", None)
    if execute is None:
        return f"{shown}: defines no function 'execute' (Ganymede calls execute(...))"
    if not callable(execute):
        return f"{shown}: 'execute' is a {type(execute).__name__}, not a function"
    return _engine_problem(ref, shown)


def _engine_problem(ref: NodeRef, shown: str) -> str | None:
    """Name the first pandas call of the node whose engine package is not installed."""
    for missing in missing_engines(ref.path.read_bytes()):
        either = " or ".join(missing.packages)
        return (
            f"{shown}:{missing.line}: {missing.call} needs {either}, which is not installed: "
            f"add {missing.packages[0]} to {FLOWS_REQUIREMENTS}, then re-lock and install "
            "(docs/testing.md)"
        )
    return None
