"""The emulator runs triggered flows: their inputs, the trigger, the runs and their states.

A triggered flow runs for real, through the flow tests' runner, and its answers match
the published OpenAPI file (the flows part of tests/tooling/fixtures).
"""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
from openapi_core import OpenAPI
from test_emulator_conformance import SPEC_PATH, SpecRequest, SpecResponse

FLOW = "/v1/environment/dev/flows/qPCR_Analysis"
RUNS = "/v2/environment/dev/flows/qPCR_Analysis/flowruns"
EXPORT = {
    "wells": [
        {"well": "A1", "sample": "S1", "target": "GAPDH", "cq": 18.0},
        {"well": "A2", "sample": "S1", "target": "IL6", "cq": 25.5},
    ]
}


def file_input(task: str, param: str, name: str, data: bytes) -> dict[str, str]:
    url = f"data:application/json;name={name};base64,{base64.b64encode(data).decode()}"
    return {"task": task, "param": param, "value": url, "dataType": "file"}


CYCLER_EXPORT = file_input("Load_Run", "file_data", "run.json", json.dumps(EXPORT).encode())


def finished(api: httpx.Client, run_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api.get(f"{FLOW}/flowruns/{run_id}").json()
        if run["state"] in ("Success", "Failed"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish in {timeout} s")


@pytest.fixture(scope="module")
def spec() -> OpenAPI:
    return OpenAPI.from_file_path(str(SPEC_PATH))


def check(spec: OpenAPI, response: httpx.Response) -> httpx.Response:
    spec.validate_request(SpecRequest(response.request))
    spec.validate_response(SpecRequest(response.request), SpecResponse(response))
    return response


def test_a_flow_lists_the_inputs_its_input_nodes_take(api, spec):
    inputs = check(spec, api.get(f"{FLOW}/inputs")).json()
    assert inputs == [
        {"task": "Load_Run", "param": "file_data", "value": "", "dataType": "file", "multi": False}
    ]


def test_a_triggered_qpcr_flow_runs_its_nodes_and_succeeds(api, spec):
    answer = check(spec, api.post(f"{FLOW}/trigger", json={"flowInputs": [CYCLER_EXPORT]}))
    assert answer.status_code == 201
    run = finished(api, answer.json())
    check(spec, api.get(f"{FLOW}/flowruns/{run['id']}"))
    assert run["state"] == "Success", run.get("failure")
    assert run["inputFiles"] == ["run.json"] and run["outputFiles"] == ["delta_cq.csv"]
    assert run["outputTables"] == ["qpcr_delta_cq", "qpcr_flagged", "qpcr_wells"]
    assert run["startTime"] <= run["endTime"]
    listed = check(spec, api.get(RUNS)).json()
    assert [item["id"] for item in listed] == [run["id"]]


def test_a_node_that_raises_fails_the_run_and_the_failure_names_it(emulator, api):
    path = "dags/qPCR_Analysis/Delta_Ct/function.py"
    broken = (
        emulator.files("dev")[path]
        + b"\n\ndef execute(**_):\n    raise ValueError('no reference gene')\n"
    )
    emulator.write_file("dev", path, broken)
    run_id = api.post(f"{FLOW}/trigger", json={"flowInputs": [CYCLER_EXPORT]}).json()
    run = finished(api, run_id)
    assert run["state"] == "Failed"
    assert "qPCR_Analysis/Delta_Ct" in run["failure"] and "no reference gene" in run["failure"]


@pytest.mark.parametrize(
    ("inputs", "why"),
    [
        ([], "Load_Run.file_data is missing"),
        ([{**CYCLER_EXPORT, "dataType": "string"}], "Load_Run.file_data is a file, not a string"),
        ([{**CYCLER_EXPORT, "value": "run.json"}], "is not a data URL with a file name"),
        (
            [CYCLER_EXPORT, {**CYCLER_EXPORT, "task": "Flag_Outliers"}],
            "Flag_Outliers.file_data is no input",
        ),
    ],
    ids=["missing", "mistyped", "not-a-file", "unknown"],
)
def test_bad_inputs_are_refused_with_422_and_start_no_run(api, spec, inputs, why):
    answer = check(spec, api.post(f"{FLOW}/trigger", json={"flowInputs": inputs}))
    assert answer.status_code == 422 and why in answer.json()
    assert api.get(RUNS).json() == []


def test_a_dry_run_checks_the_inputs_and_starts_nothing(api, spec):
    body = {"flowInputs": [CYCLER_EXPORT], "dry_run": True}
    answer = check(spec, api.post(f"{FLOW}/trigger", json=body))
    assert answer.status_code == 200 and answer.json() == ""
    assert api.get(RUNS).json() == []


def test_a_hung_run_stays_running_and_runs_filter_by_time(emulator, api):
    emulator.add_fault("hang_run")
    started = time.time() * 1000
    run_id = api.post(f"{FLOW}/trigger", json={"flowInputs": [CYCLER_EXPORT]}).json()
    time.sleep(0.3)
    assert api.get(f"{FLOW}/flowruns/{run_id}").json()["state"] == "Running"
    assert [run["id"] for run in api.get(RUNS, params={"runAfter": started - 1}).json()] == [run_id]
    assert api.get(RUNS, params={"runBefore": started - 1}).json() == []
    assert api.get(f"{FLOW}/flowruns/not-a-run").status_code == 404
