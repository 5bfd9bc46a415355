"""Flow runs in the emulator: a flow's inputs, its trigger, and the runs it made.

A triggered flow really runs, on this machine: its nodes in dependency order, through
the same runner and ``ganymede_sdk`` stand-in the flow tests use (``testing.flows``),
over the environment's tables, which its uploads then extend. A run moves Queued ->
Running -> Success or Failed, and keeps the traceback of the node that failed.

Where the contract is silent, these are the guesses (also in docs/emulator.md):
- a flow's inputs are its tasks whose operator takes input: ``Input_File`` and the
  ``*_Read`` operators (``dataType`` "file", ``param`` the first parameter of the node's
  ``execute``, read from its source, never imported) and ``Input_Param`` ("string",
  ``value``); ``_Multi`` ones are ``multi``;
- a file input's ``value`` is a data URL holding its name:
  ``data:;name=<file name>;base64,<content>``;
- runs live in memory (a restart forgets them), and ``initiator`` is "api";
- ``environmentVersion`` and ``libVersion`` are the pipeline repository's commit.
"""

from __future__ import annotations

import ast
import base64
import binascii
import io
import re
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ganymede_sync.emulator.flows import FlowRequestError
from ganymede_sync.emulator.store import PipelineRepository

STREAMED_OPERATORS = ("CSV_Read", "PDF_Read", "XML_Read")
"""File inputs these node types receive as ``BytesIO`` (the others as bytes)."""
_DATA_URL = re.compile(r"^data:[^;,]*;name=([^;,]+);base64,(.*)$", re.DOTALL)
_CONTEXT_PARAMETERS = ("ganymede_context", "df_sql_result")


@dataclass
class FlowRunRecord:
    """One run, as ``FlowRun`` describes it, plus the failure the emulator saw."""

    id: str
    flow: str
    version: str
    commit: str
    state: str = "Queued"
    start: str | None = None
    end: str | None = None
    input_files: list[str] = field(default_factory=list)
    input_strings: list[str] = field(default_factory=list)
    output_files: list[str] = field(default_factory=list)
    output_tables: list[str] = field(default_factory=list)
    failure: str = ""
    created: float = field(default_factory=time.time)

    def answer(self) -> dict[str, Any]:
        """The ``FlowRun`` record (``failure`` is the emulator's own, for its users)."""
        record: dict[str, Any] = {
            "id": self.id, "flowId": self.flow, "version": self.version,
            "environmentVersion": self.commit, "libVersion": self.commit,
            "initiator": "api", "state": self.state,
            "inputFiles": self.input_files, "inputStrings": self.input_strings,
            "outputFiles": self.output_files, "outputTables": self.output_tables,
            "triggeredFlows": [],
        }  # fmt: skip
        if self.start:
            record["startTime"] = self.start
        if self.end:
            record["endTime"] = self.end
        if self.failure:
            record["failure"] = self.failure
        return record


def flow_inputs(
    repository: PipelineRepository, flow: str, tasks: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Return the inputs a run of ``flow`` needs (``FlowInputSchema``), by task name."""
    sources = _node_sources(repository, flow)
    inputs: list[dict[str, Any]] = []
    for task, step in sorted(tasks.items()):
        operator = str(step.get("operator", ""))
        if operator == "Input_Param":
            inputs.append({"task": task, "param": "value", "value": "", "dataType": "string"})
        elif operator.startswith("Input_File") or operator.split("_Multi")[0].endswith("_Read"):
            param = _first_parameter(sources.get(task, "")) or "file_data"
            multi = operator.endswith("_Multi")
            inputs.append(
                {"task": task, "param": param, "value": "", "dataType": "file", "multi": multi}
            )
    return inputs


class FlowRuns:
    """The runs of every environment, and the tables their flows read and write."""

    def __init__(self, tables: Mapping[str, Mapping[str, bytes]] | None = None) -> None:
        self._tables = {name: dict(found) for name, found in (tables or {}).items()}
        """Environment -> table name -> CSV bytes (a table's content between runs)."""
        self._runs: dict[str, dict[str, FlowRunRecord]] = {}
        self._lock = threading.Lock()
        self.hang_next = 0
        """Runs still to start that never finish (a fault a test asks for)."""

    def trigger(
        self,
        environment: str,
        repository: PipelineRepository,
        flow: str,
        document: Mapping[str, Any],
        body: Mapping[str, Any],
    ) -> str | None:
        """Check the inputs against the flow's; start a run unless ``dry_run``; return its id.

        Raises FlowRequestError 422 for missing, unknown or mistyped inputs.
        """
        tasks = document["pipeline"]["tasks"]
        given = _given_inputs(body)
        needed = flow_inputs(repository, flow, tasks)
        files, strings = _check_inputs(needed, given)
        if body.get("dry_run") is True:
            return None
        run = FlowRunRecord(
            id=uuid.uuid4().hex, flow=flow, version=str(document.get("version", "0")),
            commit=repository.head() or "",
            input_files=sorted(name for named in files.values() for name in named),
            input_strings=[value for _, value in sorted(strings.items())],
        )  # fmt: skip
        with self._lock:
            self._runs.setdefault(environment, {})[run.id] = run
            hang = self.hang_next > 0
            self.hang_next -= 1 if hang else 0
        operators = {task: str(step.get("operator", "")) for task, step in tasks.items()}
        inputs = _node_inputs(files, operators)
        params = {f"{task}.{param}": value for (task, param), value in strings.items()}
        order = _in_dependency_order(tasks)
        worker = threading.Thread(
            target=self._execute,
            args=(environment, repository, run, order, (inputs, params), hang),
            name=f"flow-run-{run.id[:8]}",
            daemon=True,
        )
        worker.start()
        return run.id

    def finish_hung(self, state: str = "Success") -> int:
        """End every run that is still Running (a hung one) with ``state``; return how many."""
        with self._lock:
            hung = [run for runs in self._runs.values() for run in runs.values()
                    if run.state in ("Queued", "Running")]  # fmt: skip
            for run in hung:
                run.state, run.end = state, _now()
        return len(hung)

    def get(self, environment: str, flow: str, run_id: str) -> FlowRunRecord | None:
        run = self._runs.get(environment, {}).get(run_id)
        return run if run is not None and run.flow == flow else None

    def of_flow(self, environment: str, flow: str) -> list[FlowRunRecord]:
        """The flow's runs, newest first."""
        runs = [run for run in self._runs.get(environment, {}).values() if run.flow == flow]
        return sorted(runs, key=lambda run: run.created, reverse=True)

    def _execute(
        self,
        environment: str,
        repository: PipelineRepository,
        run: FlowRunRecord,
        order: list[str],
        given: tuple[dict[str, dict[str, Any]], dict[str, str]],
        hang: bool,
    ) -> None:
        run.state, run.start = "Running", _now()
        if hang:
            return  # a run that never ends: the state stays Running
        scratch = Path(tempfile.mkdtemp(prefix="ganymede-emulator-run-"))
        try:
            folder = _materialise(repository, run.flow, scratch / environment)
            tables = self._load_tables(environment)
            nodes = [node for node in order if (folder / run.flow / node / "function.py").is_file()]
            inputs = {task: found for task, found in given[0].items() if task in nodes}
            params = given[1]
            result = _run_flow(folder, run.flow, nodes, inputs, params, tables, run.id)
            self._store_tables(environment, result.tables, set(tables))
            run.output_tables = sorted(
                {name for value in result.returns.values()
                 for name in getattr(value, "tables_to_upload", {})}
            )  # fmt: skip
            run.output_files = sorted(result.files)
            run.state = "Success"
        except Exception as error:  # a node's failure is the run's state, not the server's
            cause = error.__cause__ or error
            lines = [line for line in str(cause).splitlines() if line.strip()]
            where = getattr(error, "node", "") or "the run"
            summary = f"{where} failed: {type(cause).__name__}: {lines[-1] if lines else ''}"
            run.failure = summary + "\n" + "".join(traceback.format_exception(cause)).strip()
            run.state = "Failed"
        finally:
            run.end = _now()
            shutil.rmtree(scratch, ignore_errors=True)

    def _load_tables(self, environment: str) -> dict[str, Any]:
        import pandas as pd

        stored = self._tables.get(environment, {})
        return {name: pd.read_csv(io.BytesIO(data)) for name, data in stored.items()}

    def _store_tables(self, environment: str, tables: Mapping[str, Any], before: set[str]) -> None:
        stored = self._tables.setdefault(environment, {})
        for name, frame in tables.items():
            if hasattr(frame, "to_csv"):
                stored[name] = frame.to_csv(index=False).encode()


def _run_flow(
    folder: Path,
    flow: str,
    nodes: list[str],
    inputs: dict[str, dict[str, Any]],
    params: dict[str, str],
    tables: dict[str, Any],
    run_id: str,
) -> Any:
    """Run the nodes with the test kit's runner (imported here: it needs pandas)."""
    from ganymede_sync.testing.flows import run_flow

    return run_flow(
        folder, flow, nodes, inputs=inputs, params=params, tables=tables, flow_run_id=run_id
    )


def _given_inputs(body: Mapping[str, Any]) -> dict[tuple[str, str], tuple[str, str]]:
    """Return (task, param) -> (value, dataType) of a ``TriggerFlowBody``."""
    items = body.get("flowInputs")
    if not isinstance(items, list):
        raise FlowRequestError(400, "flowInputs must be a list of {task, param, value, dataType}")
    given = {}
    for item in items:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(key), str) for key in ("task", "param", "value", "dataType")
        ):
            raise FlowRequestError(400, "each flow input needs task, param, value and dataType")
        given[(item["task"], item["param"])] = (item["value"], item["dataType"])
    return given


def _check_inputs(
    needed: list[dict], given: dict[tuple[str, str], tuple[str, str]]
) -> tuple[dict[tuple[str, str], dict[str, bytes]], dict[tuple[str, str], str]]:
    """Return the files ((task, param) -> name -> bytes) and strings of valid inputs."""
    wanted = {(item["task"], item["param"]): item["dataType"] for item in needed}
    problems = [f"{task}.{param} is missing" for task, param in sorted(set(wanted) - set(given))]
    problems += [f"{task}.{param} is no input" for task, param in sorted(set(given) - set(wanted))]
    files: dict[tuple[str, str], dict[str, bytes]] = {}
    strings: dict[tuple[str, str], str] = {}
    for key, (value, data_type) in sorted(given.items()):
        if key not in wanted:
            continue
        task, param = key
        if data_type != wanted[key]:
            problems.append(f"{task}.{param} is a {wanted[key]}, not a {data_type}")
        elif data_type == "file":
            decoded = _file_value(value)
            if decoded is None:
                problems.append(f"{task}.{param} is not a data URL with a file name")
            else:
                files.setdefault(key, {})[decoded[0]] = decoded[1]
        else:
            strings[key] = value
    if problems:
        raise FlowRequestError(422, "Inputs to flow are invalid or missing: " + "; ".join(problems))
    return files, strings


def _file_value(value: str) -> tuple[str, bytes] | None:
    match = _DATA_URL.match(value)
    if match is None:
        return None
    try:
        return match.group(1), base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        return None


def _node_inputs(
    files: Mapping[tuple[str, str], dict[str, bytes]], operators: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Return ``run_flow``'s inputs: each file input as its node type receives it."""
    inputs: dict[str, dict[str, Any]] = {}
    for (task, param), named in files.items():
        streamed = operators.get(task, "").startswith(STREAMED_OPERATORS)
        value = {name: io.BytesIO(data) for name, data in named.items()} if streamed else named
        inputs.setdefault(task, {})[param] = value
    return inputs


def _in_dependency_order(tasks: Mapping[str, Any]) -> list[str]:
    """Return the task names so that each comes after those it depends on (name order
    among equals: the run is the same each time)."""
    done: list[str] = []
    pending = dict(sorted(tasks.items()))
    while pending:
        ready = [name for name, step in pending.items()
                 if all(dep in done for dep in step.get("dependencies", []))]  # fmt: skip
        if not ready:
            raise FlowRequestError(422, "the flow's tasks depend on each other in a circle")
        done += ready
        for name in ready:
            del pending[name]
    return done


def _materialise(repository: PipelineRepository, flow: str, folder: Path) -> Path:
    """Write the flow's node folders and lib/ as an environment folder the kit can load."""
    entries = [
        entry for entry in repository.tree()
        if entry.path.startswith((f"dags/{flow}/", "lib/"))
    ]  # fmt: skip
    for entry, data in repository.read_blobs(entries):
        relative = entry.path.removeprefix("dags/")
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (folder / flow).mkdir(parents=True, exist_ok=True)
    return folder


def _node_sources(repository: PipelineRepository, flow: str) -> dict[str, str]:
    prefix = f"dags/{flow}/"
    entries = [
        entry for entry in repository.tree()
        if entry.path.startswith(prefix) and entry.path.endswith("/function.py")
        and entry.path.count("/") == 3
    ]  # fmt: skip
    return {
        entry.path.split("/")[2]: data.decode("utf-8", "replace")
        for entry, data in repository.read_blobs(entries)
    }


def _first_parameter(source: str) -> str | None:
    """Return the first parameter of ``execute`` that is not the context or the SQL result."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "execute":
            for argument in node.args.args:
                if argument.arg not in _CONTEXT_PARAMETERS:
                    return argument.arg
    return None


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
