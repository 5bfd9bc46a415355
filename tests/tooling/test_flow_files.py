"""Whole flows in git: each flow's structure and settings as <flow>/flow.json, pulled,
planned, deployed, created and promoted against the emulator."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError
from pathlib import Path

import httpx
import jsonschema
import pytest
from conftest import API_KEY
from test_promote import BRANCH, git, repo  # noqa: F401 - the fixture of dev/ and prod/ pulled

from ganymede_sync.remote.client import GanymedeClient
from ganymede_sync.remote.flows import fetch_flow_files
from ganymede_sync.rules import flow_file
from task_runner import run_task as run

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "status.schema.json").read_text())
FLOW = "LIMS_Sample_Sync"
FLOW_FILE = f"{FLOW}/flow.json"
NEW_NODE = f"{FLOW}/Validate_Samples/function.py"
NODE_CODE = b"def execute(records, ganymede_context=None):\n    return records\n"


@pytest.fixture
def lab(repo):  # noqa: F811 - the imported fixture
    """The repository with dev/ and prod/ pulled from the example emulator and committed."""
    return repo


def document(lab, environment: str, flow: str) -> dict:
    """Ganymede's document of ``flow`` (FlowV2), read over the API."""
    url = f"{lab.emu.url}/v2/environment/{environment}/flows/{flow}"
    answer = httpx.get(url, headers={"api-key": API_KEY})
    assert answer.status_code == 200, answer.text
    return answer.json()


def flow_json(lab, folder: str, flow: str = FLOW) -> dict:
    return json.loads((lab.root / folder / flow / "flow.json").read_text(encoding="utf-8"))


def write_flow_json(lab, folder: str, value: dict, flow: str = FLOW) -> None:
    text = json.dumps(value, indent=2, sort_keys=True) + "\n"
    lab.write(f"{folder}/{flow}/flow.json", text.encode())


def commit_edit(lab, change: Callable[[dict], object], message: str) -> None:
    """Change dev's flow file of FLOW with ``change`` (it edits the parsed JSON), commit."""
    value = flow_json(lab, "dev")
    change(value)
    write_flow_json(lab, "dev", value)
    lab.commit(message)


def add_node(value: dict, name: str = "Validate_Samples", after: str = "Map_Fields") -> dict:
    value["pipeline"]["tasks"][name] = {
        "operator": "Python", "params": {}, "dependencies": [after]
    }  # fmt: skip
    value["pipeline"]["tasks"]["Push_To_LIMS"]["dependencies"] = [name]
    return value


def grow(lab, message: str) -> None:
    """Grow FLOW in dev/ as a user would: a new node wired in with its code, a new
    schedule; commit."""
    value = add_node(flow_json(lab, "dev"))
    value["settings"]["schedule_interval"] = "0 3 * * *"
    write_flow_json(lab, "dev", value)
    lab.write(f"dev/{NEW_NODE}", NODE_CODE)
    lab.commit(message)


def requests_that_change(lab) -> list[str]:
    return [f"{r.method} {r.path}" for r in lab.emu.requests if r.method != "GET"]


# --- pull -------------------------------------------------------------------------------
def test_pull_writes_a_canonical_flow_file_per_flow_that_round_trips(lab, capsys):
    data = (lab.root / "dev" / FLOW_FILE).read_bytes()
    remote = document(lab, "dev", FLOW)
    assert data == flow_file.from_document(remote).encode()
    assert json.loads(data) == {"pipeline": remote["pipeline"], "settings": remote["settings"]}
    assert data.endswith(b"}\n") and b'"schedule_interval": "0 2 * * *"' in data
    manifest = json.loads((lab.root / ".ganymede" / "dev.json").read_text(encoding="utf-8"))
    assert FLOW_FILE in manifest["files"]
    code, _, err = run(capsys, "pull", "--env", "dev")
    assert code == 0, err
    assert (lab.root / "dev" / FLOW_FILE).read_bytes() == data  # a re-pull changes no byte


def test_a_settings_edit_in_ganymede_shows_as_drift_and_is_pulled(lab, capsys):
    url = f"{lab.emu.url}/v1/environment/dev/flows/{FLOW}/settings"
    answer = httpx.patch(url, json={"schedule_interval": "0 4 * * *"}, headers={"api-key": API_KEY})
    assert answer.status_code == 200
    code, out, _ = run(capsys, "status", "--env", "dev")
    assert code == 0 and f"dev/{FLOW_FILE}  changed in Ganymede: pull to update" in out
    assert 'in Ganymede: schedule_interval: "0 2 * * *" -> "0 4 * * *"' in out
    code, out, err = run(capsys, "pull", "--env", "dev")
    assert code == 0, err
    assert f"~ dev/{FLOW_FILE}" in out
    assert flow_json(lab, "dev")["settings"]["schedule_interval"] == "0 4 * * *"


# --- deploy ------------------------------------------------------------------------------
def test_a_schedule_edit_in_git_is_planned_then_deployed(lab, capsys):
    value = flow_json(lab, "dev")
    value["settings"]["schedule_interval"] = "0 3 * * *"
    write_flow_json(lab, "dev", value)
    lab.commit("Run the LIMS sync at three")
    code, out, _ = run(capsys, "status", "--env", "dev")
    assert code == 2
    assert f"dev/{FLOW_FILE}" in out and 'schedule_interval: "0 2 * * *" -> "0 3 * * *"' in out
    code, out, _ = run(capsys, "status", "--env", "dev", "--json")
    data = json.loads(out)
    jsonschema.validate(data, SCHEMA)
    assert data["flows"] == {f"dev/{FLOW_FILE}": ['schedule_interval: "0 2 * * *" -> "0 3 * * *"']}
    code, out, err = run(capsys, "deploy", "--env", "dev")
    assert code == 0, err
    assert document(lab, "dev", FLOW)["settings"]["schedule_interval"] == "0 3 * * *"
    assert requests_that_change(lab)[-1] == f"PATCH /v1/environment/dev/flows/{FLOW}/settings"
    code, out, _ = run(capsys, "deploy", "--env", "dev")
    assert code == 0 and "nothing to deploy" in out


def test_a_node_added_in_git_is_created_with_its_code_in_one_deploy(lab, capsys):
    write_flow_json(lab, "dev", add_node(flow_json(lab, "dev")))
    lab.write(f"dev/{NEW_NODE}", NODE_CODE)
    lab.commit("Validate samples before they reach the LIMS")
    code, out, err = run(capsys, "deploy", "--env", "dev")
    assert code == 0, err
    assert "node Validate_Samples added (Python) after Map_Fields" in out
    assert f"dev/{NEW_NODE}" in out and "send (code of a node its flow.json adds)" in out
    changes = requests_that_change(lab)
    assert changes[-2:] == [
        f"PUT /v1/environment/dev/flows/{FLOW}/pipeline", "PUT /v0/environment/dev/commits"
    ]  # the node exists before its code arrives  # fmt: skip
    assert lab.remote("dev", FLOW)[NEW_NODE] == NODE_CODE
    before = lab.files("dev")
    code, out, err = run(capsys, "pull", "--env", "dev")
    assert code == 0 and "no file changes" in out, out + err
    assert lab.files("dev") == before


def test_a_new_flow_folder_is_created_end_to_end(lab, capsys):
    value = {
        "pipeline": {"tasks": {"Read": {"operator": "Python", "params": {}, "dependencies": []}}},
        "settings": {"displayName": "Sample QC", "schedule_interval": "None"},
    }
    write_flow_json(lab, "dev", value, flow="Sample_QC")
    lab.write("dev/Sample_QC/Read/function.py", NODE_CODE)
    lab.commit("A sample QC flow")
    code, out, err = run(capsys, "deploy", "--env", "dev")
    assert code == 0, err
    assert "create flow 'Sample QC'" in out
    assert requests_that_change(lab)[-4:] == [
        "POST /v1/environment/dev/flows",
        "PUT /v1/environment/dev/flows/Sample_QC/pipeline",
        "PATCH /v1/environment/dev/flows/Sample_QC/settings",
        "PUT /v0/environment/dev/commits",
    ]
    assert flow_file.from_document(document(lab, "dev", "Sample_QC")) == flow_file.parse(
        (lab.root / "dev/Sample_QC/flow.json").read_bytes()
    )
    code, out, _ = run(capsys, "deploy", "--env", "dev")
    assert code == 0 and "nothing to deploy" in out


def test_a_folder_whose_derived_id_differs_is_refused_before_any_change(lab, capsys):
    value = {"pipeline": {"tasks": {}}, "settings": {"displayName": "Sample QC (v2)"}}
    write_flow_json(lab, "dev", value, flow="Sample_QC")
    lab.commit("A flow whose name derives another id")
    before = len(requests_that_change(lab))
    code, _, err = run(capsys, "deploy", "--env", "dev")
    assert code == 1
    assert "would create the flow with id 'Sample_QC_v2'" in err
    assert "rename the folder to dev/Sample_QC_v2/" in err
    assert len(requests_that_change(lab)) == before


def test_a_conflicting_settings_edit_in_ganymede_is_refused(lab, capsys):
    value = flow_json(lab, "dev")
    value["settings"]["max_active_runs"] = 2
    write_flow_json(lab, "dev", value)
    lab.commit("Two runs at once")
    url = f"{lab.emu.url}/v1/environment/dev/flows/{FLOW}/settings"
    httpx.patch(url, json={"max_active_runs": 3}, headers={"api-key": API_KEY})
    before = len(requests_that_change(lab))
    code, _, err = run(capsys, "deploy", "--env", "dev")
    assert code == 1 and f"dev/{FLOW_FILE}" in err and "changed here and in Ganymede" in err
    assert f"dev/{FLOW_FILE} differs from Ganymede's in: max_active_runs: 3 -> 2" in err
    assert len(requests_that_change(lab)) == before
    assert document(lab, "dev", FLOW)["settings"]["max_active_runs"] == 3


def test_an_unknown_operator_gets_the_one_line_422_message(lab, capsys):
    commit_edit(
        lab, lambda v: v["pipeline"]["tasks"]["Map_Fields"].update(operator="Quantum_Read"),
        "An operator this environment lacks",
    )  # fmt: skip
    code, _, err = run(capsys, "deploy", "--env", "dev")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "(422)" in lines[0] and "Quantum_Read" in lines[0]
    assert "operators (node types) that environment 'dev' has" in lines[0]


def test_a_node_removal_is_shown_and_needs_the_explicit_choice(lab, capsys):
    commit_edit(lab, lambda v: v["pipeline"]["tasks"].pop("Push_To_LIMS"), "Stop the LIMS push")
    code, out, err = run(capsys, "deploy", "--env", "dev")
    assert code == 1 and "node Push_To_LIMS removed" in out
    assert "deploy with --prune-nodes" in err
    assert "Push_To_LIMS" in document(lab, "dev", FLOW)["pipeline"]["tasks"]
    code, out, err = run(capsys, "deploy", "--env", "dev", "--prune-nodes")
    assert code == 0, err
    assert "Push_To_LIMS" not in document(lab, "dev", FLOW)["pipeline"]["tasks"]


def test_a_malformed_flow_file_is_refused_naming_the_file(lab, capsys):
    lab.write(f"dev/{FLOW_FILE}", b'{"pipeline": {"tasks": {"A": {}}}}\n')
    lab.commit("Broken flow file")
    code, _, err = run(capsys, "deploy", "--env", "dev")
    assert code == 1 and f"dev/{FLOW_FILE} is not a flow file" in err and "operator" in err


# --- promote -----------------------------------------------------------------------------
def test_a_flow_grown_in_dev_is_promoted_and_prod_then_equals_dev(lab, capsys):
    grow(lab, "Grow the LIMS sync in dev")
    code, out, err = run(capsys, "deploy", "--env", "dev")
    assert code == 0, err
    code, out, err = run(
        capsys, "promote", "--from", "dev", "--to", "prod", "--flow", FLOW, "--commit"
    )
    assert code == 0, err
    assert f"prod/{NEW_NODE}" in out and "node Validate_Samples added" in out
    assert git(lab.root, "branch", "--show-current") == BRANCH
    code, out, err = run(capsys, "deploy", "--env", "prod")
    assert code == 0, err
    assert lab.remote("prod", FLOW) == lab.remote("dev", FLOW)
    assert document(lab, "prod", FLOW)["settings"]["schedule_interval"] == "0 3 * * *"


# --- interrupted and odd deploys --------------------------------------------------------
def test_a_deploy_cut_off_between_its_flow_requests_is_finished_by_the_next(lab, capsys):
    grow(lab, "Grow the flow")
    lab.emu.add_fault("error", count=4, endpoint="flow_settings", status=500)
    code, _, err = run(capsys, "deploy", "--env", "dev")
    assert code == 1 and "updating the settings of flow" in err
    assert "Validate_Samples" in document(lab, "dev", FLOW)["pipeline"]["tasks"]  # half done
    # A pull now must not take the half-done flow for Ganymede's edit of committed work.
    before = lab.files("dev")
    code, out, err = run(capsys, "pull", "--env", "dev")
    assert lab.files("dev") == before, out + err
    code, out, err = run(capsys, "deploy", "--env", "dev")
    assert code == 0, err
    assert document(lab, "dev", FLOW)["settings"]["schedule_interval"] == "0 3 * * *"
    assert lab.remote("dev", FLOW)[NEW_NODE] == NODE_CODE


def test_a_new_flow_refused_after_its_creation_deploys_once_fixed(lab, capsys):
    value = {"pipeline": {"tasks": {"Read": {"operator": "Foo_Read"}}}, "settings": {}}
    write_flow_json(lab, "dev", value, flow="Sample_QC")
    lab.commit("A flow with an operator dev lacks")
    code, _, err = run(capsys, "deploy", "--env", "dev")
    assert code == 1 and "(422)" in err
    value["pipeline"]["tasks"]["Read"]["operator"] = "Python"
    write_flow_json(lab, "dev", value, flow="Sample_QC")
    lab.commit("Use a Python node")
    code, _, err = run(capsys, "deploy", "--env", "dev")
    assert code == 0, err
    assert document(lab, "dev", "Sample_QC")["pipeline"]["tasks"]["Read"]["operator"] == "Python"


def test_a_key_left_out_of_default_args_is_refused(lab, capsys):
    commit_edit(lab, lambda v: v["settings"]["default_args"].pop("retries"), "No retries")
    code, _, err = run(capsys, "deploy", "--env", "dev")
    assert code == 1 and "cannot remove: default_args.retries" in err


def test_a_flow_file_in_another_layout_is_the_same_flow_for_status_and_pull(lab, capsys):
    value = flow_json(lab, "dev")
    text = json.dumps(value, indent=4).replace("\n", "\r\n")  # keys unsorted, CRLF
    lab.write(f"dev/{FLOW_FILE}", text.encode())
    lab.commit("Reformat the flow file")
    code, out, _ = run(capsys, "status", "--env", "dev")
    assert code == 0 and "nothing to deploy" in out
    code, out, err = run(capsys, "pull", "--env", "dev")
    assert code == 0 and "no changes" in out and "kept" not in out, out + err
    assert (lab.root / "dev" / FLOW_FILE).read_bytes() == text.encode()  # left as it is


def test_an_author_ganymede_does_not_know_gets_the_options_to_fix_it(lab, capsys):
    lab.append(f"dev/{FLOW}/Map_Fields/function.py", "# tuned\n")
    lab.commit("Tune")
    code, _, err = run(capsys, "deploy", "--env", "dev", "--author-email", "who@example.com")
    assert code == 1
    assert "--author-email or GANYMEDE_AUTHOR_EMAIL" in err and "who@example.com" in err


# --- one flow alone ----------------------------------------------------------------------
def test_deploy_flow_ships_one_flow_and_leaves_the_rest_planned(lab, capsys):
    lab.append(f"dev/{FLOW}/Map_Fields/function.py", "# tuned\n")
    lab.append("dev/qPCR_Analysis/Delta_Ct/function.py", "# tuned too\n")
    lab.append("dev/lib/labtools/units.py", "# shared\n")
    commit_edit(lab, lambda v: v["settings"].update(schedule_interval="0 5 * * *"), "Tune")
    code, out, err = run(capsys, "deploy", "--env", "dev", "--flow", FLOW, "--no-lib")
    assert code == 0, err
    assert "qPCR_Analysis" not in out and "lib/" not in out
    assert "deployed 1 file to acme/dev (from dev/) as one commit" in out
    assert document(lab, "dev", FLOW)["settings"]["schedule_interval"] == "0 5 * * *"
    code, out, _ = run(capsys, "status", "--env", "dev")
    assert code == 2 and "dev/qPCR_Analysis/Delta_Ct/function.py" in out
    assert "dev/lib/labtools/units.py" in out and FLOW not in out


def test_deploy_flows_with_lib_sends_those_flows_and_lib_only(lab, capsys):
    lab.append(f"dev/{FLOW}/Map_Fields/function.py", "# tuned\n")
    lab.append("dev/qPCR_Analysis/Delta_Ct/function.py", "# tuned too\n")
    lab.append("dev/lib/labtools/units.py", "# shared\n")
    lab.commit("Tune")
    code, out, err = run(capsys, "deploy", "--env", "dev", "--flow", FLOW)
    assert code == 0, err
    assert "dev/lib/labtools/units.py" in out and "qPCR_Analysis" not in out
    assert "deployed 2 files" in out
    code, out, _ = run(capsys, "status", "--env", "dev")
    assert code == 2 and "dev/qPCR_Analysis/Delta_Ct/function.py" in out and "lib/" not in out
    code, out, err = run(capsys, "deploy", "--env", "dev", "--flow", f"{FLOW},qPCR_Analysis")
    assert code == 0 and "deployed 1 file" in out, err


def test_deploy_flow_refuses_a_flow_that_is_nowhere(lab, capsys):
    code, _, err = run(capsys, "deploy", "--env", "dev", "--flow", "No_Such_Flow")
    assert code == 1 and "no flow 'No_Such_Flow' in dev/ or in Ganymede" in err
    code, _, err = run(capsys, "deploy", "--env", "dev", "--flow", "../x")
    assert code == 1 and "is not a flow name" in err


def test_deploy_flow_takes_a_completed_folder_name_and_suggests_the_id(lab, capsys):
    lab.append(f"dev/{FLOW}/Map_Fields/function.py", "# tuned\n")
    lab.commit("Tune")
    code, _, err = run(capsys, "deploy", "--env", "dev", "--flow", "LIMS Sample Sync")
    assert code == 1 and "(did you mean LIMS_Sample_Sync?)" in err
    code, _, err = run(capsys, "deploy", "--env", "dev", "--flow", "")
    assert code == 1 and "is not a flow name" in err
    code, out, err = run(capsys, "deploy", "--env", "dev", "--flow", f"{FLOW}/")
    assert code == 0 and "deployed 1 file" in out, err


# --- reading only the flows that changed -------------------------------------------------
def test_flow_reads_not_yet_sent_once_stopped_are_never_sent(lab):
    stop = threading.Event()
    stop.set()  # the caller failed, e.g. its download
    lab.emu.clear_requests()
    with GanymedeClient(lab.emu.url, API_KEY, "dev") as client, pytest.raises(CancelledError):
        fetch_flow_files(client, stop=stop)
    assert flow_reads(lab) == []


def flow_reads(lab, environment: str = "dev") -> list[str]:
    """The flow documents read (getFlowV2) since the log was last looked at."""
    prefix = f"/v2/environment/{environment}/flows/"
    reads = [r.path.rsplit("/", 1)[1] for r in lab.emu.requests
             if r.method == "GET" and r.path.startswith(prefix)]  # fmt: skip
    lab.emu.clear_requests()
    return sorted(reads)


def test_a_pull_reads_only_the_flows_listed_at_another_version(lab, capsys):
    manifest = json.loads((lab.root / ".ganymede" / "dev.json").read_text(encoding="utf-8"))
    versions = manifest["flow_versions"]
    assert set(versions) == {
        path.split("/")[0] for path in manifest["files"] if path.endswith("/flow.json")
    }
    flow_reads(lab)
    assert run(capsys, "pull", "--env", "dev")[0] == 0
    assert flow_reads(lab) == []  # every flow still at the version pulled
    assert run(capsys, "status", "--env", "dev")[0] == 0 and flow_reads(lab) == []
    # Saved in Ganymede: its version moves on, and that flow alone is read again.
    url = f"{lab.emu.url}/v1/environment/dev/flows/{FLOW}/settings"
    answer = httpx.patch(url, headers={"api-key": API_KEY}, json={"schedule_interval": "0 6 * * *"})
    assert answer.status_code == 200, answer.text
    lab.emu.clear_requests()
    code, _, err = run(capsys, "pull", "--env", "dev")
    assert code == 0, err
    assert flow_reads(lab) == [FLOW]
    assert flow_json(lab, "dev")["settings"]["schedule_interval"] == "0 6 * * *"
    # A pull whose download fails stops its flow reads (they run meanwhile) and says why.
    lab.emu.add_fault("error", count=8, endpoint="download", status=403)
    code, _, err = run(capsys, "pull", "--env", "dev", "--force")
    assert code == 1 and "403" in err and "Traceback" not in err
    lab.emu.clear_faults()
    # A flow file edited here is not as pulled: a plan reads Ganymede's document of it.
    lab.commit("Pull the new schedule")
    commit_edit(lab, lambda v: v["settings"].update(description="edited here"), "Describe")
    assert run(capsys, "status", "--env", "dev")[0] == 2
    assert flow_reads(lab) == [FLOW]
