"""Run a flow in Ganymede and follow it; list a flow's runs.

The runner of ``invoke run`` and ``invoke runs``. A run's inputs are checked against
what the flow needs (its ``getFlowInputs``) before anything starts, then by Ganymede's
own dry run; the trigger is sent once (a repeat could start a second run), and the
run is followed until it ends or the deadline passes. Ctrl-C stops the waiting, never
the run.

Where Ganymede's contract is silent: a file input travels as a data URL holding its
name (``data:;name=<file>;base64,<content>``), as the emulator takes it.

Never prints (``show`` gets each state change) and never imports Invoke.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganymede_sync.errors import (
    ApiError,
    AuthenticationError,
    ConfigError,
    FlowRunError,
    Interrupted,
)
from ganymede_sync.local.deploy_history import deploy_of_run, read_records
from ganymede_sync.remote.opening import open_client
from ganymede_sync.results import RunResult
from ganymede_sync.rules.layout import is_valid_flow_name
from ganymede_sync.rules.visible import visible
from ganymede_sync.settings.config import Environment, Settings, token_variable
from ganymede_sync.state import binding
from ganymede_sync.ui import report

if TYPE_CHECKING:
    from ganymede_sync.remote.client import ClientFactory, GanymedeClient

ENDED = ("Success", "Failed")
MAX_INPUT_FILE_BYTES = 64 << 20
"""Largest file sent as an input: a run's test input, not a data set."""
MAX_STATE_LENGTH = 40


@dataclass(frozen=True)
class RunOptions:
    """The choices of ``invoke run``."""

    flow: str
    inputs: Sequence[str] = ()
    """``TASK.PARAM=VALUE``; ``VALUE`` is ``@path`` for a file input."""
    dry_run: bool = False
    wait: bool = True
    timeout: float = 600.0
    """Seconds to wait for the run to end."""
    poll: float = 2.0


def run_flow_in_ganymede(
    settings: Settings,
    folder: str | None,
    options: RunOptions,
    *,
    connect: ClientFactory = open_client,
    show: Callable[[str], None] = lambda text: None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> RunResult:
    """Check the inputs, trigger the flow, and follow the run until it ends or times out.

    Raises ConfigError for inputs the flow does not take or lacks (nothing triggered),
    FlowRunError when the run fails or outlasts ``timeout``, Interrupted on Ctrl-C.
    """
    environment = settings.environment(folder)
    target = str(binding.check_target(settings, environment, retarget=False))
    settings.require_token(environment)
    if not is_valid_flow_name(options.flow):
        raise ConfigError(f"'{visible(options.flow)}' is not a flow name: give its folder's name")
    if options.wait and not options.timeout > 0:
        raise ConfigError(f"--timeout must be a number of seconds above 0, not {options.timeout}")
    with connect(settings, environment) as client:
        needed = _needed_inputs(client, options.flow)
        inputs = _flow_inputs(options.flow, needed, options.inputs)
        client.trigger_flow(options.flow, inputs, dry_run=True)
        if options.dry_run:
            return RunResult(environment.folder, target, options.flow, None, dry_run=True)
        run_id = client.trigger_flow(options.flow, inputs, dry_run=False)
        show(f"started run {visible(run_id)} of {options.flow} in {target}")
        result = RunResult(environment.folder, target, options.flow, run_id)
        if not options.wait:
            return result
        record = _follow(client, options, run_id, show, sleep, clock, where=environment.folder)
    result = RunResult(environment.folder, target, options.flow, run_id, record)
    if result.state != "Success":
        raise FlowRunError(
            f"run {visible(run_id)} of {options.flow} in {target} ended {result.state}"
            + _failure(record),
            hint=f"invoke runs --env {environment.folder} --flow {options.flow} --json shows "
            "its record",
        )
    return result


def run_smoke(
    settings: Settings,
    environment: Environment,
    *,
    connect: ClientFactory = open_client,
    show: Callable[[str], None] = lambda text: None,
) -> list[RunResult]:
    """Run the folder's smoke flows one by one (``[environments.<folder>] smoke``).

    A file input's ``@path`` is relative to the repository root. Raises FlowRunError
    for the first run that does not succeed.
    """
    results = []
    for smoke in environment.smoke:
        inputs = tuple(_rooted(option, settings.root) for option in smoke.inputs)
        options = RunOptions(flow=smoke.flow, inputs=inputs)
        show(f"smoke run of {smoke.flow}:")
        result = run_flow_in_ganymede(
            settings, environment.folder, options, connect=connect, show=show
        )
        for line in report.describe_run(result):
            show(line)
        results.append(result)
    return results


def _rooted(option: str, root: Path) -> str:
    name, equals, value = option.partition("=")
    if equals and value.startswith("@") and not Path(value[1:]).is_absolute():
        return f"{name}=@{root / value[1:]}"
    return option


def latest_smoke(
    settings: Settings, environment: Environment, *, connect: ClientFactory = open_client
) -> tuple[list[tuple[str, str, str]], str]:
    """Return (flow, state, run id) of the latest run of each smoke flow of a folder, and
    a note when they could not be read (no token of that folder's own, or a refused one).

    A promotion reads its source this way: in a workflow only the target's token is
    there, so a refusal of the token is a note, not a failure.
    """
    if not environment.smoke:
        return [], ""
    if not settings.token_for(environment):
        return [], f"smoke runs of {environment.folder}/ not checked: no token for it"
    latest = []
    try:
        with connect(settings, environment) as client:
            for smoke in environment.smoke:
                runs = client.flow_runs(smoke.flow)
                first = runs[0] if isinstance(runs, list) and runs else {}
                state = str(first.get("state", "no run yet")) if isinstance(first, dict) else ""
                latest.append((smoke.flow, state, str(first.get("id", "")) if first else ""))
    except AuthenticationError:
        variable = token_variable(environment.folder)
        return [], f"smoke runs of {environment.folder}/ not checked: set {variable} to read them"
    return latest, ""


SMOKE_FORMAT = 1
MAX_SMOKE_FILE_BYTES = 1024 * 1024


def save_smoke(path: Path, folder: str, latest: Sequence[tuple[str, str, str]], note: str) -> None:
    """Write a folder's latest smoke runs for a promotion made elsewhere (``--smoke-results``):
    in the promote workflow, only a job in the source's GitHub environment can read them."""
    document = {"format": SMOKE_FORMAT, "folder": folder, "runs": [list(r) for r in latest],
                "note": note}  # fmt: skip
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def load_smoke(path: Path, folder: str) -> tuple[list[tuple[str, str, str]], str]:
    """Read what ``save_smoke`` wrote for ``folder``: one line naming the fix for anything else."""
    problem = (
        f"{visible(str(path))} is not a smoke-runs file of {folder}/ (write one with invoke "
        f"smoke-status --env {folder} --save FILE)"
    )
    if not path.is_file():
        raise ConfigError(f"--smoke-results {visible(str(path))}: no such file")
    try:
        if path.stat().st_size > MAX_SMOKE_FILE_BYTES:
            raise ConfigError(problem)
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ConfigError(problem) from None
    runs = document.get("runs") if isinstance(document, dict) else None
    if (
        document.get("format") != SMOKE_FORMAT or document.get("folder") != folder
        or not isinstance(runs, list) or not isinstance(document.get("note"), str)
        or not all(isinstance(r, list) and len(r) == 3 and all(isinstance(x, str) for x in r)
                   for r in runs)
    ):  # fmt: skip
        raise ConfigError(problem)
    return [(flow, state, run) for flow, state, run in runs], document["note"]


def list_runs(
    settings: Settings,
    folder: str | None,
    flow: str,
    *,
    since: str | None = None,
    connect: ClientFactory = open_client,
    now: float | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """Return the target and the flow's runs, newest first, as Ganymede describes them.

    Each run gets a ``deploy`` key: the recorded deploy (``invoke history``) whose code
    it ran, as ``{"tag", "commit"}``, or None where the repository does not know it.
    """
    environment = settings.environment(folder)
    target = str(binding.check_target(settings, environment, retarget=False))
    settings.require_token(environment)
    if not is_valid_flow_name(flow):
        raise ConfigError(f"'{visible(flow)}' is not a flow name: give its folder's name")
    since_ms = None if since is None else since_epoch_ms(since, time.time() if now is None else now)
    with connect(settings, environment) as client:
        runs = client.flow_runs(flow, since_ms=since_ms)
    if not isinstance(runs, list):
        raise ApiError(f"listing the runs of flow '{flow}': Ganymede answered no list")
    records = [record for record in read_records(settings, environment.folder)
               if record.target == target]  # fmt: skip
    found = []
    for run in runs:
        if isinstance(run, dict):
            record = deploy_of_run(records, flow, run.get("version"), run.get("startTime"))
            deploy = {"tag": record.tag, "commit": record.commit} if record else None
            found.append({**run, "deploy": deploy})
    return target, found


_SPAN = re.compile(r"(\d+)([mhd])")
_SPAN_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def since_epoch_ms(since: str, now: float) -> int:
    """Read ``--since``: a span back from now (``30m``, ``12h``, ``7d``) or a UTC date or
    time (``2026-12-01``, ``2026-12-01T08:00``); return it in epoch milliseconds."""
    text = since.strip()
    span = _SPAN.fullmatch(text)
    if span:
        return int((now - int(span.group(1)) * _SPAN_SECONDS[span.group(2)]) * 1000)
    try:
        moment = datetime.fromisoformat(text.removesuffix("Z"))
    except ValueError:
        raise ConfigError(
            f"--since '{visible(since)}' is neither a span (30m, 12h, 7d) nor a UTC date or "
            "time (2026-12-01, 2026-12-01T08:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def _needed_inputs(client: GanymedeClient, flow: str) -> dict[tuple[str, str], str]:
    answer = client.flow_inputs(flow)
    needed = {}
    for item in answer if isinstance(answer, list) else []:
        if isinstance(item, dict) and all(isinstance(item.get(k), str) for k in ("task", "param")):
            needed[(item["task"], item["param"])] = str(item.get("dataType", "string"))
    return needed


def _flow_inputs(
    flow: str, needed: dict[tuple[str, str], str], given: Sequence[str]
) -> list[dict[str, str]]:
    """Turn ``TASK.PARAM=VALUE`` options into the trigger's inputs; refuse what does not fit."""
    inputs = {}
    for option in given:
        key, value = _split_input(option)
        if key not in needed:
            raise ConfigError(
                f"flow {flow} takes no input {visible(key[0])}.{visible(key[1])}: "
                + _listing(needed)
            )
        inputs[key] = value
    missing = sorted(set(needed) - set(inputs))
    if missing:
        names = ", ".join(f"{task}.{param}" for task, param in missing)
        raise ConfigError(f"flow {flow} needs {names}, not given: " + _listing(needed))
    return [
        {"task": task, "param": param, "dataType": needed[(task, param)],
         "value": _value(needed[(task, param)], value, f"{task}.{param}")}
        for (task, param), value in sorted(inputs.items())
    ]  # fmt: skip


def _split_input(option: str) -> tuple[tuple[str, str], str]:
    name, equals, value = option.partition("=")
    task, dot, param = name.partition(".")
    if not (equals and dot and task and param):
        raise ConfigError(
            f"--input '{visible(option)}' is not TASK.PARAM=VALUE (VALUE @path for a file)"
        )
    return (task, param), value


def _value(data_type: str, value: str, name: str) -> str:
    """Return an input's value as the trigger takes it: a file as a data URL with its name."""
    if data_type != "file":
        return value
    if not value.startswith("@"):
        raise ConfigError(f"--input {name} is a file: give it as {name}=@path")
    path = Path(value[1:])
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_FILE_BYTES:
            raise ConfigError(
                f"{visible(str(path))} is {size} bytes, more than the "
                f"{MAX_INPUT_FILE_BYTES} an input file may be"
            )
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(
            f"cannot read {visible(str(path))} for --input {name}: {error.strerror}"
        ) from None
    encoded = base64.b64encode(data).decode("ascii")
    return f"data:;name={path.name};base64,{encoded}"


def _listing(needed: dict[tuple[str, str], str]) -> str:
    if not needed:
        return "it takes no input"
    shown = ", ".join(
        f"{task}.{param} ({data_type})" for (task, param), data_type in sorted(needed.items())
    )
    return f"it takes {shown}"


def _follow(
    client: GanymedeClient,
    options: RunOptions,
    run_id: str,
    show: Callable[[str], None],
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    *,
    where: str,
) -> dict[str, Any]:
    """Poll the run until it ends; say each new state with the time since it started."""
    started, last, pause = clock(), "", min(0.25, options.poll)
    try:
        while True:
            record = client.flow_run(options.flow, run_id)
            state = (
                str(record.get("state", "unknown"))[:MAX_STATE_LENGTH]
                if isinstance(record, dict)
                else "unknown"
            )
            if state != last:
                show(f"  {visible(state)} after {clock() - started:.0f} s")
                last = state
            if state in ENDED:
                return record
            if clock() - started >= options.timeout:
                raise FlowRunError(
                    f"run {visible(run_id)} of {options.flow} is still {visible(state)} after "
                    f"{options.timeout:.0f} s (--timeout); it goes on in Ganymede",
                    hint=f"invoke runs --env {where} --flow {options.flow} shows how it ends",
                )
            sleep(pause)
            pause = min(pause * 2, options.poll)  # quick runs end quickly, long ones cost little
    except KeyboardInterrupt:
        raise Interrupted(
            f"stopped waiting; run {visible(run_id)} of {options.flow} goes on in Ganymede: "
            f"invoke runs --env {where} --flow {options.flow} shows how it ends"
        ) from None


def _failure(record: dict[str, Any]) -> str:
    """The failure's summary line, as the emulator reports it (Ganymede's API has none)."""
    failure = record.get("failure")
    if not isinstance(failure, str) or not failure.strip():
        return " (Ganymede's API names no failing node: see the run in Ganymede)"
    return f": {visible(failure.strip().splitlines()[0][:300])}"


def check_smoke(settings: Settings, environment: Environment, client: GanymedeClient) -> None:
    """Refuse smoke runs that could not start (an unknown flow, inputs that do not fit,
    a file that cannot be read) before a deploy sends anything."""
    for smoke in environment.smoke:
        where = f"smoke run of {smoke.flow} ([environments.{environment.folder}] smoke)"
        try:
            needed = _needed_inputs(client, smoke.flow)
            inputs = tuple(_rooted(option, settings.root) for option in smoke.inputs)
            _flow_inputs(smoke.flow, needed, inputs)
        except (ConfigError, ApiError) as error:
            raise ConfigError(f"{where}: {error.problem}; nothing was sent") from None
