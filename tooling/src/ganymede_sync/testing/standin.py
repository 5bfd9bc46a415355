"""The objects of the local ``ganymede_sdk`` stand-in, answering from a test's own data.

This follows Ganymede's public SDK documentation; it is not the SDK, and nothing here
was checked against it. Each documented call that node code makes (retrieving tables,
files and SQL results, run metadata, ``NodeReturn``, ``FlowInputs``) answers from the
tables and files a test passes to ``make_context``. Every other name raises
``NotEmulatedError`` naming it, so a test never runs on a silent ``None``.

pandas is imported only by the calls that build or query DataFrames, so the kit
itself imports without it.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from ganymede_sync.errors import MissingTestDataError, NotEmulatedError


@dataclass
class FileTag:
    """One tag a node added to a file (``add_file_tag`` or ``upsert_file_tag``)."""

    input_file_path: str
    tag_type_id: str
    display_value: str
    tag_id: str | None = None
    url: str | None = None
    bucket: str | None = None


@dataclass
class Email:
    """One e-mail a node would have sent (``GanymedeEmailAlert.send_email``)."""

    to: Any
    subject: str
    message: str
    cc: Any = None
    bcc: Any = None


@dataclass
class Recorded:
    """What a run would have done in Ganymede that a local test cannot do."""

    file_tags: list[FileTag] = field(default_factory=list)
    emails: list[Email] = field(default_factory=list)


@dataclass
class RunData:
    """What a test provides to one emulated flow run."""

    tables: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    recorded: Recorded = field(default_factory=Recorded)
    """What the run would have done in Ganymede (file tags, e-mails): see ``recorded``."""


_RUN_METADATA = ("flow_name", "node_name", "flow_run_id", "created", "params", "initiator")
_current: list[GanymedeContext] = []


class GanymedeContext:
    """Stand-in for ``ganymede_sdk.GanymedeContext``: the run a node is executed in.

    Documented attributes: ``dag.dag_id`` (flow name), ``flow_run_id`` and its older
    name ``run_id``, ``created``, ``task.task_id`` (node name), ``params`` (keys like
    ``"CSV_Read.csv"`` and ``"initiator"``), ``get_param`` and ``set_param``.
    """

    def __init__(
        self,
        *,
        flow_name: str = "local_flow",
        node_name: str = "local_node",
        flow_run_id: str | None = None,
        created: str | None = None,
        params: Mapping[str, Any] | None = None,
        initiator: Mapping[str, Any] | None = None,
        data: RunData | None = None,
    ) -> None:
        self.flow_run_id = flow_run_id or str(int(time.time() * 1000))
        self.run_id = self.flow_run_id
        self.created = created or time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.dag = SimpleNamespace(dag_id=flow_name)
        self.task = SimpleNamespace(task_id=node_name)
        self.params: dict[str, Any] = dict(params or {})
        self.params.setdefault("initiator", dict(initiator or {"initiatorId": "local-test"}))
        self.data = data or RunData()
        self.recorded = self.data.recorded
        """File tags added and e-mails sent during the run, for a test's assertions."""

    def get_param(self, node_name: str, parameter_type: str) -> Any:
        key = f"{node_name}.{parameter_type}"
        if key not in self.params:
            known = ", ".join(sorted(self.params)) or "none"
            raise MissingTestDataError(
                f"get_param: no parameter '{key}' in this test's context "
                f"(make_context(params={{'{key}': ...}}); it has: {known})"
            )
        return self.params[key]

    def set_param(self, parameter_type: str, parameter_value: Any, node_name: str | None = None):
        self.params[f"{node_name or self.task.task_id}.{parameter_type}"] = parameter_value

    def __getattr__(self, name: str) -> Any:
        raise _not_emulated_attribute(f"GanymedeContext.{name}", name)


class MockGanymedeContext(GanymedeContext):
    """Stand-in for ``ganymede_sdk.editor.MockGanymedeContext``.

    Without arguments it is the latest run, as in Ganymede's notebooks: here, a copy of
    the latest context a test built with ``make_context``.
    """

    def __init__(self, use_last_run: bool = True, **metadata: Any) -> None:
        latest = current_context() if use_last_run and not metadata else None
        if latest is None:
            super().__init__(**metadata)
            return
        super().__init__(
            flow_name=latest.dag.dag_id,
            node_name=latest.task.task_id,
            flow_run_id=latest.flow_run_id,
            created=latest.created,
            params=latest.params,
            data=latest.data,
        )


def make_context(
    tables: Mapping[str, Any] | None = None,
    files: Mapping[str, bytes] | None = None,
    *,
    secrets: Mapping[str, str] | None = None,
    **run_metadata: Any,
) -> GanymedeContext:
    """Build the context of one emulated run and make it the latest run.

    ``tables`` maps table names to DataFrames (answers ``retrieve_tables`` and
    ``retrieve_sql``), ``files`` maps file names to bytes (answers ``retrieve_files``),
    ``secrets`` answers ``get_secret``. ``run_metadata`` accepts ``flow_name``,
    ``node_name``, ``flow_run_id``, ``created``, ``params`` and ``initiator``.
    """
    unknown = sorted(set(run_metadata) - set(_RUN_METADATA))
    if unknown:
        raise TypeError(
            f"make_context() got unknown run metadata {', '.join(unknown)}; "
            f"it accepts tables, files, secrets, {', '.join(_RUN_METADATA)}"
        )
    for name, content in (files or {}).items():
        if not isinstance(content, bytes):
            raise TypeError(f"make_context(files=...): '{name}' must be bytes, not {type(content)}")
    data = RunData(dict(tables or {}), dict(files or {}), dict(secrets or {}))
    context = GanymedeContext(data=data, **run_metadata)
    _current[:] = [context]
    return context


def current_context() -> GanymedeContext | None:
    """The latest context built by ``make_context`` (what ``Ganymede()`` calls "latest run")."""
    return _current[0] if _current else None


def set_current_context(context: GanymedeContext) -> None:
    """Make ``context`` the latest run (a whole-flow run moves it from node to node)."""
    _current[:] = [context]


def forget_current_context() -> None:
    """Forget the latest run, so one test's data never answers the next test."""
    _current.clear()


def _require_context(context: GanymedeContext | None, call: str) -> GanymedeContext:
    context = context or current_context()
    if context is None:
        raise MissingTestDataError(
            f"{call} needs a run: build one with make_context(tables=..., files=...) "
            "(or the ganymede_context fixture) and pass it to the node"
        )
    if not isinstance(context, GanymedeContext):
        raise TypeError(f"{call}: {context!r} is not a context of the local stand-in")
    return context


def _names(names: str | Iterable[str]) -> list[str]:
    return [names] if isinstance(names, str) else list(names)


def _provided(provided: Mapping[str, Any], name: str, *, call: str, kind: str, example: str) -> Any:
    """Return the test's ``kind`` called ``name`` (a table, a file) for ``call``.

    When the test gave none, say so with what it has and how to give it: the argument
    ``{kind}s`` of ``make_context``, with ``example`` standing for a value.
    """
    if name not in provided:
        known = ", ".join(sorted(provided)) or "none"
        raise MissingTestDataError(
            f"{call}: no {kind} '{name}' in this test's data "
            f"(make_context({kind}s={{'{name}': {example}}}); it has: {known})"
        )
    return provided[name]


def _refuse(call: str, **options: Any) -> None:
    """Fail loudly for documented options whose effect the stand-in cannot reproduce."""
    for option, value in options.items():
        if value:
            raise NotEmulatedError(f"{call}({option}=...)")


class Ganymede:
    """Stand-in for ``ganymede_sdk.Ganymede``, answering from the context's test data."""

    def __init__(
        self, ganymede_context: GanymedeContext | None = None, flow_run_id: str | None = None
    ) -> None:
        _refuse("Ganymede", flow_run_id=flow_run_id)
        self.ganymede_context = _require_context(ganymede_context, "Ganymede()")
        self.flow_run_id = self.ganymede_context.flow_run_id
        initiator = self.ganymede_context.params.get("initiator", {})
        self.initiator = initiator.get("initiatorId") if isinstance(initiator, dict) else initiator
        self.initiator_type = "USER"

    @property
    def _data(self) -> RunData:
        return self.ganymede_context.data

    def __getitem__(self, key: str) -> Any:
        node, _, parameter = key.partition(".")
        return self.ganymede_context.get_param(node, parameter)

    def __getattr__(self, name: str) -> Any:
        raise _not_emulated_attribute(f"Ganymede.{name}", name)

    # --- tables ---------------------------------------------------------------
    def retrieve_tables(
        self,
        table_names: str | list[str],
        run_id_filter_field: str | None = None,
        get_measurement_unit_flag: bool = False,
        use_cache_in_notebook: bool = False,
    ) -> dict[str, Any]:
        """Return ``{name: DataFrame}``: a copy of each table the test provided."""
        _refuse(
            "Ganymede.retrieve_tables",
            run_id_filter_field=run_id_filter_field,
            get_measurement_unit_flag=get_measurement_unit_flag,
        )
        return {name: _copy(self._table(name)) for name in _names(table_names)}

    def retrieve_sql(self, query_str: str, render_dict: Mapping[str, str] | None = None) -> Any:
        """Run the query with SQLite over the test's tables: one DataFrame per statement.

        SQLite's dialect is not Ganymede's; keep queries under test to portable SQL.
        """
        return run_sql(self.ganymede_context, query_str, render_dict)

    def list_tables(self, current_flow_flag: bool = True, current_run_id: str | None = None):
        """Return a DataFrame with one ``table_name`` row per table the test provided."""
        import pandas as pd

        return pd.DataFrame({"table_name": sorted(self._data.tables)})

    list_tables_current_run = list_tables_current_flow = list_tables_all = list_tables

    def _table(self, name: str) -> Any:
        tables = self._data.tables
        return _provided(tables, name, call="retrieve_tables", kind="table", example="DataFrame")

    # --- files ----------------------------------------------------------------
    def retrieve_files(
        self,
        file_names: str | list[str],
        flow_input_or_output: str = "input",
        flow_name: str | None = None,
        current_flow_flag: bool = True,
        run_id: str | None = None,
        use_cache_in_notebook: bool = False,
        use_full_path: bool = True,
    ) -> dict[str, bytes]:
        """Return ``{name: bytes}`` for each file the test provided (input or output)."""
        _refuse("Ganymede.retrieve_files", flow_name=flow_name, run_id=run_id)
        return {name: self._file(name) for name in _names(file_names)}

    def retrieve_files_current_run(
        self,
        file_names: str | list[str],
        flow_input_or_output: str = "input",
        use_cache_in_notebook: bool = False,
        use_full_path: bool = True,
    ) -> dict[str, bytes]:
        return self.retrieve_files(file_names, flow_input_or_output)

    def get_last_run_input_files(self) -> dict[str, bytes]:
        return dict(self._data.files)

    def list_files(
        self,
        flow_input_or_output: str = "input",
        flow_name: str | None = None,
        current_flow_flag: bool = True,
        current_run_id: str | None = None,
    ):
        """Return a DataFrame of the test's files, columns ``file_name`` and ``file_path``."""
        import pandas as pd

        _refuse("Ganymede.list_files", flow_name=flow_name)
        names = sorted(self._data.files)
        return pd.DataFrame({"file_name": names, "file_path": names})

    list_files_current_run = list_files_current_flow = list_files_all = list_files

    def _file(self, name: str) -> bytes:
        files = self._data.files
        return _provided(files, name, call="retrieve_files", kind="file", example="b'...'")

    # --- secrets --------------------------------------------------------------
    def get_secret(self, secret_name: str) -> str:
        return secret_of(self.ganymede_context, secret_name)


def secret_of(context: GanymedeContext | None, secret_name: str) -> str:
    context = _require_context(context, "get_secret")
    if secret_name not in context.data.secrets:
        raise MissingTestDataError(
            f"get_secret: no secret '{secret_name}' in this test's data "
            f"(make_context(secrets={{'{secret_name}': '...'}}))"
        )
    return context.data.secrets[secret_name]


_TEMPLATE_VARIABLE = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")


def run_sql(
    context: GanymedeContext | None, query: str, render_dict: Mapping[str, str] | None = None
) -> Any:
    """Render ``{{ variable }}`` placeholders, then run each statement over the test's tables."""
    import pandas as pd

    context = _require_context(context, "retrieve_sql")
    variables = {"flow_run_id": context.flow_run_id, "run_id": context.flow_run_id}
    variables.update(render_dict or {})

    def render(match: re.Match[str]) -> str:
        if match.group(1) not in variables:
            raise MissingTestDataError(f"retrieve_sql: no value for {{{{{match.group(1)}}}}}")
        return str(variables[match.group(1)])

    statements = [s for s in _TEMPLATE_VARIABLE.sub(render, query).split(";") if s.strip()]
    with contextlib.closing(sqlite3.connect(":memory:")) as connection:
        for name, table in context.data.tables.items():
            pd.DataFrame(table).to_sql(name, connection, index=False)
        results = [pd.read_sql_query(statement, connection) for statement in statements]
    return results[0] if len(results) == 1 else results


def _copy(table: Any) -> Any:
    return table.copy() if hasattr(table, "copy") else table


def _not_emulated_attribute(qualified: str, name: str) -> Exception:
    if name.startswith("__") and name.endswith("__"):
        return AttributeError(name)  # protocol probes (copy, pickle, pytest) stay quiet
    return NotEmulatedError(qualified)


# --- return values ----------------------------------------------------------------
_IF_EXISTS = ("replace", "append", "fail")
_FILE_LOCATIONS = ("output", "input")


class NodeReturn:
    """Stand-in for ``ganymede_sdk.io.NodeReturn``: what a node hands back to Ganymede.

    ``tables_to_upload`` and ``files_to_upload`` are always dicts here (empty when not
    given), so tests can index them directly.
    """

    def __init__(
        self,
        tables_to_upload: dict[str, Any] | None = None,
        files_to_upload: dict[str, bytes] | None = None,
        if_exists: str = "replace",
        tables_measurement_units: dict[str, Any] | None = None,
        file_location: str = "output",
        wait_for_job: bool = False,
        tags: dict[str, Any] | None = None,
    ) -> None:
        if if_exists not in _IF_EXISTS:
            raise ValueError(
                f"NodeReturn: if_exists must be one of {_IF_EXISTS}, not {if_exists!r}"
            )
        if file_location not in _FILE_LOCATIONS:
            raise ValueError(
                f"NodeReturn: file_location must be one of {_FILE_LOCATIONS}, not {file_location!r}"
            )
        self.tables_to_upload = dict(tables_to_upload or {})
        self.files_to_upload = dict(files_to_upload or {})
        self.if_exists = if_exists
        self.tables_measurement_units = dict(tables_measurement_units or {})
        self.file_location = file_location
        self.wait_for_job = wait_for_job
        self.tags = dict(tags or {})

    def __repr__(self) -> str:
        return (
            f"NodeReturn(tables_to_upload={sorted(self.tables_to_upload)}, "
            f"files_to_upload={sorted(self.files_to_upload)}, if_exists={self.if_exists!r})"
        )


@dataclass
class FlowInputFile:
    """Stand-in for ``ganymede_sdk.io.FlowInputFile``: files for one input of a flow."""

    node_name: str
    param_name: str
    files: dict[str, bytes]


@dataclass
class FlowInputParam:
    """Stand-in for ``ganymede_sdk.io.FlowInputParam``: one parameter value of a flow."""

    node_name: str
    param_name: str
    param_value: str


@dataclass
class FlowInputs:
    """Stand-in for ``ganymede_sdk.io.FlowInputs``: what a trigger node starts a flow with."""

    files: list[FlowInputFile] | None = None
    params: list[FlowInputParam] | None = None
    tags: list[Any] | None = None


class GanymedeException(Exception):
    """Stand-in for ``ganymede_sdk.flow_runtime.GanymedeException``."""

    def __init__(self, message: str, exception_type: str = "Validation") -> None:
        super().__init__(message)
        self.message = message
        self.exception_type = exception_type
