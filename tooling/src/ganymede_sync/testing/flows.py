"""Run a whole flow offline: its nodes in order, each one's outputs the next one's inputs.

In Ganymede, nodes of a flow hand data on through Ganymede itself: a node's
``NodeReturn.tables_to_upload`` become tables that later nodes read with
``retrieve_tables`` or their ``query.sql``, and its ``files_to_upload`` become files.
``run_flow`` does the same on a laptop, with one run's data shared by every node:

- each node gets a context of the same run (flow name, run id) with its own name;
- ``df_sql_result`` is the node's ``query.sql`` run with SQLite over the tables so
  far (one DataFrame per statement), or None for a node without one;
- ``ganymede_context`` is that context;
- any other parameter comes from ``inputs[node][parameter]``, else the previous
  node's return value when it is not a ``NodeReturn`` (plain Python flows pass data
  that way), else the parameter's default; a required one left over is named.

A node that raises stops the run with ``FlowNodeFailed`` naming it, chained to the
original exception (pytest shows both tracebacks).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganymede_sync.errors import FlowNodeFailed, MissingTestDataError
from ganymede_sync.testing.loader import environment_path, load_node
from ganymede_sync.testing.standin import (
    GanymedeContext,
    NodeReturn,
    Recorded,
    RunData,
    run_sql,
    set_current_context,
)

QUERY_FILE = "query.sql"


@dataclass
class FlowRun:
    """What a whole-flow run produced."""

    flow: str
    returns: dict[str, Any] = field(default_factory=dict)
    """Node name -> what its ``execute`` returned, in run order."""
    tables: dict[str, Any] = field(default_factory=dict)
    """Every table at the end: the test's own, then each node's uploads."""
    files: dict[str, bytes] = field(default_factory=dict)
    """Every file at the end: the test's inputs, then each node's uploads."""
    recorded: Recorded = field(default_factory=Recorded)
    """File tags and e-mails the nodes would have sent (``testing.recorded``)."""


def run_flow(
    folder: str | Path,
    flow: str,
    nodes: Sequence[str],
    *,
    inputs: Mapping[str, Mapping[str, Any]] | None = None,
    tables: Mapping[str, Any] | None = None,
    files: Mapping[str, bytes] | None = None,
    params: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
    root: str | Path | None = None,
    flow_run_id: str | None = None,
) -> FlowRun:
    """Run ``nodes`` of ``folder/flow`` in this order, as one flow run, and return it.

    ``tables`` (name -> DataFrame) and ``files`` (name -> bytes) are what exists in
    Ganymede before the run; ``inputs`` are each node's own arguments (``{"Load_Run":
    {"file_data": {...}}}``); ``params`` the run's parameters (``"Node.param"``).
    """
    if not nodes:
        raise MissingTestDataError(f"run_flow('{folder}', '{flow}'): name its nodes, in order")
    unknown = sorted(set(inputs or {}) - set(nodes))
    if unknown:
        raise MissingTestDataError(
            f"run_flow: inputs for {', '.join(unknown)}, which is not among the nodes "
            f"{', '.join(nodes)}"
        )
    data = RunData(dict(tables or {}), dict(files or {}), dict(secrets or {}))
    run = FlowRun(flow, tables=data.tables, files=data.files, recorded=data.recorded)
    environment = environment_path(folder, root)
    previous: Any = None
    for name in nodes:
        context = GanymedeContext(
            flow_name=flow, node_name=name, flow_run_id=flow_run_id, params=params, data=data
        )
        flow_run_id = context.flow_run_id  # every node is in the same run
        set_current_context(context)
        module = load_node(environment, flow, name)
        given = (inputs or {}).get(name, {})
        arguments = _arguments(module.execute, context, environment / flow / name, previous, given)
        try:
            previous = module.execute(**arguments)
        except Exception as error:
            raise FlowNodeFailed(f"{flow}/{name}", error) from error
        run.returns[name] = previous
        if isinstance(previous, NodeReturn):
            _upload(previous, data, f"{flow}/{name}")
    return run


def _arguments(
    execute: Any,
    context: GanymedeContext,
    node_folder: Path,
    previous: Any,
    inputs: Mapping[str, Any],
) -> dict[str, Any]:
    """Bind ``execute``'s parameters as the module docstring says."""
    name, given = context.task.task_id, dict(inputs)
    passed_on = previous is not None and not isinstance(previous, NodeReturn)
    arguments: dict[str, Any] = {}
    for parameter in inspect.signature(execute).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        key = parameter.name
        if key in given:
            arguments[key] = given.pop(key)
        elif key == "ganymede_context":
            arguments[key] = context
        elif key == "df_sql_result":
            query = node_folder / QUERY_FILE
            sql = query.read_text(encoding="utf-8") if query.is_file() else None
            arguments[key] = run_sql(context, sql) if sql and sql.strip() else None
        elif passed_on:
            arguments[key], passed_on = previous, False
        elif parameter.default is parameter.empty:
            raise MissingTestDataError(
                f"run_flow: {context.dag.dag_id}/{name} needs '{key}': "
                f"pass inputs={{'{name}': {{'{key}': ...}}}}"
            )
    if given:
        raise MissingTestDataError(
            f"run_flow: {context.dag.dag_id}/{name} takes no parameter {', '.join(sorted(given))}"
        )
    return arguments


def _upload(result: NodeReturn, data: RunData, node: str) -> None:
    """Make a node's uploads the run's tables and files, as Ganymede would."""
    for table, frame in result.tables_to_upload.items():
        if table in data.tables and result.if_exists == "fail":
            raise FlowNodeFailed(node, ValueError(f"table {table} exists and if_exists='fail'"))
        if table in data.tables and result.if_exists == "append":
            import pandas as pd

            frame = pd.concat([data.tables[table], frame], ignore_index=True)
        data.tables[table] = frame
    for file, content in result.files_to_upload.items():
        data.files[file] = content if isinstance(content, bytes) else str(content).encode()
