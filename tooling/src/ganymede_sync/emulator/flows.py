"""Flows as objects in the emulator: their pipeline, settings and version, from the contract.

A flow's document (``FlowV2`` of the public OpenAPI file: ``pipeline.tasks`` and
``settings``) is kept in its environment's pipeline repository at ``flows/<id>.json``, one
commit per save, beside the code under ``dags/``. A flow whose code was seeded or committed
without a document gets one made from its code (a task per node folder). This module
checks the bodies of ``createFlow``, ``updateFlowPipeline`` and ``updateFlowSettings`` and
builds the documents; ``api`` answers the requests.

Where the contract is silent, these are the guesses (also in docs/emulator.md):
- the id of a created flow is its name with every run of characters other than ASCII
  letters and digits replaced by one ``_``, without ``_`` at either end (``flow_id``);
- a flow's ``version`` is the number of saves of its document, as a string; a flow never
  saved has "0" and, when its document is made from its code, a digest of that
  document after it ("0.1a2b3c4d"), so a version always changes with the document;
- a pipeline update creates no code: a task's node folder appears with its first commit,
  which the commits endpoint accepts once the task exists;
- an operator is known when it is one of the environment's operators (``STANDARD_OPERATORS``
  unless the emulator is started with others).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Set
from typing import Any

FLOWS_FOLDER = "flows"
"""Folder of the pipeline repository holding one ``<id>.json`` document per flow."""
STANDARD_OPERATORS = frozenset(
    {
        "Python", "SQL", "Transform_SQL", "Trigger_Python", "Input_File", "Input_File_Multi",
        "Input_Param", "CSV_Read", "CSV_Read_Multi", "CSV_Write", "Excel_Read",
        "Excel_Read_Multi", "Excel_Write", "PDF_Read", "PDF_Read_Multi", "XML_Read",
        "Zip_Read", "Image_Read", "Image_Write", "HDF5_Read", "Powerpoint_Write", "API_Node",
        "Benchling_Api", "Benchling_Event", "Benchling_Write", "Benchling_Warehouse_Query",
        "Benchling_Warehouse_Sync", "S3_Event", "S3_Read", "S3_Write", "Webhook_Event",
        "Load_Parquet_to_Table", "Snowflake_Write", "RunContainer",
    }
)  # fmt: skip
"""Node types of Ganymede's public node documentation, as operators of every environment."""
SETTINGS_FIELDS = frozenset(
    {
        "displayName", "docsMarkdown", "description", "default_args", "tags",
        "schedule_interval", "max_active_runs", "ingestBucketName", "assignees",
    }
)  # fmt: skip
DEFAULT_ARGS_FIELDS = frozenset({"owner", "retries", "email", "email_on_failure", "email_on_retry"})
_NOT_ID = re.compile(r"[^A-Za-z0-9]+")


class FlowRequestError(Exception):
    """A flow request is malformed or refused; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def flow_id(name: str) -> str:
    """Return the id Ganymede gives a flow created with ``name`` (the emulator's guess)."""
    return _NOT_ID.sub("_", name).strip("_")


def document_path(flow: str) -> str:
    """Return the pipeline repository path of ``flow``'s document."""
    return f"{FLOWS_FOLDER}/{flow}.json"


def flow_of_document(path: str) -> str | None:
    """Return the flow id of a document path, or None for any other path."""
    folder, _, name = path.partition("/")
    if folder != FLOWS_FOLDER or "/" in name or not name.endswith(".json"):
        return None
    return name[: -len(".json")] or None


def new_document(flow: str, name: str) -> dict[str, Any]:
    """Return the document of a flow just created: no task, its name as display name."""
    return {"version": "0", "pipeline": {"tasks": {}}, "settings": {"displayName": name}}


def derived_document(flow: str, nodes: Mapping[str, Set[str]]) -> dict[str, Any]:
    """Return the document of a flow known by its code alone: a Python or SQL task per node.

    The operator is told from the node's files (SQL when it has a query); the Flow Editor
    owns dependencies, so there are none.
    """
    tasks: dict[str, Any] = {
        node: {"operator": "SQL" if "query.sql" in files else "Python", "params": {},
               "dependencies": []}
        for node, files in sorted(nodes.items())
    }  # fmt: skip
    document = {
        "pipeline": {"tasks": tasks},
        "settings": {"displayName": flow.replace("_", " "), "tags": []},
    }
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:8]
    return {"version": f"0.{digest}", **document}


def parse_document(data: bytes) -> dict[str, Any]:
    """Read a stored document (written by ``encode``)."""
    value = json.loads(data)
    if not isinstance(value, dict):
        raise ValueError("a flow document is a JSON object")
    return value


def encode(document: Mapping[str, Any]) -> bytes:
    """Return the stored form of a document."""
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def saved(document: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """Return ``document`` with ``changes`` applied and its version moved on by one save."""
    saves = int(str(document.get("version", "0")).split(".", 1)[0])  # "0.1a2b3c4d": never saved
    return {**document, **changes, "version": str(saves + 1)}


def read_body(body: bytes) -> dict[str, Any]:
    """Parse a request body that must be a JSON object."""
    try:
        value = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise FlowRequestError(400, "The body is not valid JSON") from None
    if not isinstance(value, dict):
        raise FlowRequestError(400, "The body must be a JSON object")
    return value


def check_create(body: Mapping[str, Any]) -> str:
    """Return the name of a valid ``CreateFlowBody``."""
    name = body.get("name")
    if not isinstance(name, str) or not flow_id(name):
        raise FlowRequestError(400, "name must be a string with at least one letter or digit")
    _check_email(body.get("authorEmail"))
    return name


def check_tasks(body: Mapping[str, Any], operators: Set[str]) -> dict[str, Any]:
    """Return the tasks of a valid ``UpdateFlowPipelineBody``: 422 for unknown operators."""
    tasks = body.get("tasks")
    if not isinstance(tasks, dict):
        raise FlowRequestError(400, "tasks must be an object: task name -> PipelineStep")
    _check_email(body.get("authorEmail"))
    for name, step in tasks.items():
        _check_step(name, step, tasks)
    unknown = sorted({step["operator"] for step in tasks.values()} - set(operators))
    if unknown:
        raise FlowRequestError(
            422, f"Operators do not exist in the environment: {', '.join(unknown)}"
        )
    return tasks


def check_settings(body: Mapping[str, Any]) -> dict[str, Any]:
    """Return a valid ``FlowSettings`` body (a partial update: any subset of the fields)."""
    unknown = sorted(set(body) - SETTINGS_FIELDS)
    if unknown:
        raise FlowRequestError(400, f"Unknown settings: {', '.join(unknown)}")
    for name in ("displayName", "docsMarkdown", "description", "schedule_interval",
                 "ingestBucketName"):  # fmt: skip
        _check_type(body, name, str)
    for name in ("tags", "assignees"):
        _check_strings(body, name)
    _check_type(body, "max_active_runs", (int, float))
    arguments = body.get("default_args")
    if arguments is not None:
        if not isinstance(arguments, dict) or set(arguments) - DEFAULT_ARGS_FIELDS:
            raise FlowRequestError(400, "default_args holds only owner, retries, email, "
                                   "email_on_failure and email_on_retry")  # fmt: skip
        _check_type(arguments, "owner", str)
        _check_type(arguments, "retries", (int, float))
        _check_strings(arguments, "email")
        _check_type(arguments, "email_on_failure", bool)
        _check_type(arguments, "email_on_retry", bool)
    return dict(body)


def merged_settings(current: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a partial settings update: given fields replace, ``default_args`` merges."""
    merged = {**current, **update}
    if "default_args" in update and isinstance(current.get("default_args"), dict):
        merged["default_args"] = {**current["default_args"], **update["default_args"]}
    return merged


def _check_step(name: object, step: object, tasks: Mapping[str, Any]) -> None:
    if not isinstance(name, str) or not name or not isinstance(step, dict):
        raise FlowRequestError(400, "each task is a name -> {operator, params, dependencies}")
    if not isinstance(step.get("operator"), str):
        raise FlowRequestError(400, f"task '{name}' needs an operator")
    params = step.get("params", {})
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        raise FlowRequestError(400, f"the params of task '{name}' map names to strings")
    dependencies = step.get("dependencies", [])
    if not isinstance(dependencies, list) or not all(d in tasks for d in dependencies):
        raise FlowRequestError(400, f"task '{name}' depends on a task the pipeline lacks")


def _check_email(value: object) -> None:
    if not isinstance(value, str) or "@" not in value:
        raise FlowRequestError(400, "authorEmail must be an e-mail address")


def _check_type(body: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> None:
    """Refuse a field of another type; JSON's true and false are booleans, not numbers
    (Python's ``bool`` is an ``int``, so it is told apart on its own)."""
    value = body.get(name)
    if value is None:
        return
    is_boolean = isinstance(value, bool)
    if not isinstance(value, kind) or is_boolean != (kind is bool):
        raise FlowRequestError(400, f"{name} has the wrong type")


def _check_strings(body: Mapping[str, Any], name: str) -> None:
    value = body.get(name)
    if value is not None and not (
        isinstance(value, list) and all(isinstance(item, str) for item in value)
    ):
        raise FlowRequestError(400, f"{name} must be a list of strings")
