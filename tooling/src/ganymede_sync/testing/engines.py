"""The optional packages pandas needs for what a node's code asks of it.

``pd.read_excel`` imports fine without openpyxl and fails only when it runs, in the
user's first test or in Ganymede. The integrity test reads each node's source (it
never runs it) for the pandas calls that need such an engine, and names the package
to add when none of the ones that would serve is installed.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass

EXCEL = ("openpyxl", "xlsxwriter")

CALLS: dict[str, tuple[str, ...]] = {
    "read_excel": ("openpyxl",),
    "ExcelFile": ("openpyxl",),
    "ExcelWriter": EXCEL,
    "to_excel": EXCEL,
    "read_parquet": ("pyarrow", "fastparquet"),
    "to_parquet": ("pyarrow", "fastparquet"),
    "read_xml": ("lxml",),
    "to_xml": ("lxml",),
}
"""pandas call -> the packages any one of which it works with (the first is advised)."""


@dataclass(frozen=True)
class MissingEngine:
    """A pandas call on ``line`` whose engine is not installed."""

    line: int
    call: str
    packages: tuple[str, ...]


def missing_engines(source: str | bytes) -> list[MissingEngine]:
    """List the engine-needing pandas calls of ``source`` whose engine is not installed."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []  # the import of the node reports it
    found = []
    for line, call, packages in _engine_calls(tree):
        if not any(_installed(package) for package in packages):
            found.append(MissingEngine(line, call, packages))
    return found


def _engine_calls(tree: ast.AST) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        if name not in CALLS:
            continue
        engine = next((kw.value for kw in node.keywords if kw.arg == "engine"), None)
        if isinstance(engine, ast.Constant) and isinstance(engine.value, str):
            yield node.lineno, f"{name}(engine={engine.value!r})", (engine.value,)
        else:
            yield node.lineno, name, CALLS[name]


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False
