"""The flow file: a flow's structure and settings in git, as ``<flow>/flow.json``.

It holds what Ganymede's ``getFlowV2`` answers and ``updateFlowPipeline`` /
``updateFlowSettings`` accept, and nothing of one environment alone (no id, no
environment, no version), so a promotion copies it as it is:

    {"pipeline": {"tasks": {<node>: {"dependencies": [...], "operator": "...",
                                      "params": {...}}}},
     "settings": {<field>: <value>, ...}}

JSON rather than YAML: it round-trips to the API bodies without loss (no YAML type
guessing turns a cron string or ``"None"`` into something else) and needs no library.
Written canonically (keys sorted, two-space indent, one value per line, a trailing
newline), so a pull without change writes the same bytes and a diff reads field by field.

Pure: bytes and values in, bytes and values out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ganymede_sync.errors import FlowFileProblem

_NOT_ID = re.compile(r"[^A-Za-z0-9]+")


@dataclass(frozen=True)
class FlowFile:
    """A flow's task map and settings, checked."""

    tasks: Mapping[str, Mapping[str, Any]]
    settings: Mapping[str, Any]

    def encode(self) -> bytes:
        """Return the canonical bytes of the flow file."""
        value = {"pipeline": {"tasks": self.tasks}, "settings": self.settings}
        return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()

    @property
    def nodes(self) -> frozenset[str]:
        return frozenset(self.tasks)


def from_document(document: object) -> FlowFile:
    """Return the flow file of a ``FlowV2`` answer (untrusted: its shape is checked)."""
    if not isinstance(document, dict):
        raise FlowFileProblem("the flow document is not a JSON object")
    return _checked(document.get("pipeline"), document.get("settings", {}))


def parse(data: bytes) -> FlowFile:
    """Read a flow file's bytes; FlowFileProblem names what is wrong."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise FlowFileProblem(f"it is not valid JSON ({error})") from None
    if not isinstance(value, dict) or set(value) - {"pipeline", "settings"}:
        raise FlowFileProblem('it must be an object with "pipeline" and "settings" only')
    return _checked(value.get("pipeline"), value.get("settings", {}))


def canonical(data: bytes) -> bytes:
    """Return a flow file's bytes as a pull writes them (unreadable ones as they are):
    two flow files that differ in layout only are the same flow, and compare equal."""
    try:
        return parse(data).encode()
    except FlowFileProblem:
        return data


def declared_nodes(flow_files: Mapping[str, bytes]) -> set[tuple[str, str]]:
    """Return (flow, node) of every task of these flow files (path -> bytes); a file
    that cannot be read declares nothing (it is refused where it would be sent)."""
    declared: set[tuple[str, str]] = set()
    for path, data in flow_files.items():
        try:
            tasks = parse(data).tasks
        except FlowFileProblem:
            continue
        flow = path.split("/", 1)[0]
        declared.update((flow, node) for node in tasks)
    return declared


def derived_id(name: str) -> str:
    """Return the id Ganymede derives from a new flow's name (the documented guess:
    each run of characters other than ASCII letters and digits becomes one ``_``,
    none at either end; docs/emulator.md)."""
    return _NOT_ID.sub("_", name).strip("_")


def _checked(pipeline: object, settings: object) -> FlowFile:
    if not isinstance(pipeline, dict) or not isinstance(pipeline.get("tasks"), dict):
        raise FlowFileProblem('"pipeline" must hold a "tasks" object: node name -> step')
    if not isinstance(settings, dict):
        raise FlowFileProblem('"settings" must be an object')
    tasks = pipeline["tasks"]
    for name, step in tasks.items():
        _check_step(name, step, tasks)
    return FlowFile(tasks, settings)


def _check_step(name: str, step: object, tasks: Mapping[str, object]) -> None:
    if not name or "/" in name or name in (".", ".."):
        raise FlowFileProblem(f"task name {name!r} cannot name a node folder")
    if not isinstance(step, dict) or not isinstance(step.get("operator"), str):
        raise FlowFileProblem(f'task {name!r} needs an "operator" (its node type)')
    params = step.get("params", {})
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        raise FlowFileProblem(f'the "params" of task {name!r} must map names to strings')
    dependencies = step.get("dependencies", [])
    if not isinstance(dependencies, list):
        raise FlowFileProblem(f'the "dependencies" of task {name!r} must be a list')
    unknown = [d for d in dependencies if d not in tasks]
    if unknown:
        raise FlowFileProblem(f"task {name!r} depends on {unknown[0]!r}, which is not a task")
