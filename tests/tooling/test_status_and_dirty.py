"""`invoke deploy` sends committed code; `invoke status` answers scripts (exit codes, JSON, diff).

Against the emulator, as a user runs the tasks. The JSON document is validated against
the schema in ``tests/schemas/status.schema.json``, the contract scripts rely on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from invoke import Collection

import tasks
from deploy_workspace import SOURCE_ROOT, git
from task_runner import run_task as run
from task_runner import task_workspace

NODE = "Plate_Reader_Ingest/Map_Wells/function.py"
OTHER = "qPCR_Analysis/Load_Run/function.py"
SCHEMA = json.loads((Path(__file__).parent / "schemas" / "status.schema.json").read_text())


@pytest.fixture
def ws(tmp_path, monkeypatch):
    yield from task_workspace(tmp_path, monkeypatch)


def append(ws, path: str, text: str) -> None:
    ws.write(path, ws.read(path) + text.encode())


def target(ws) -> str:
    return f"{ws.settings().subdomain}/{ws.name}"


# --- deploy sends committed code ---------------------------------------------------
def test_a_deploy_with_uncommitted_changes_is_refused_and_names_them(ws, capsys):
    append(ws, NODE, "# not committed\n")
    before = ws.commit_count()
    code, _, err = run(capsys, "deploy", "--env", ws.folder)
    assert code == 1 and ws.commit_count() == before
    assert err.strip() == (
        f"error: nothing was sent to {target(ws)}: uncommitted changes to files it would "
        f"send: {ws.folder}/{NODE} (commit them: git add {ws.folder} && git commit; or "
        "deploy with --allow-dirty to send them as they are)"
    )


def test_an_untracked_new_lib_file_counts_as_uncommitted(ws, capsys):
    ws.write("lib/labtools/extra.py", b"X = 1\n")
    code, _, err = run(capsys, "deploy", "--env", ws.folder)
    assert code == 1 and f"{ws.folder}/lib/labtools/extra.py" in err


def test_uncommitted_files_that_are_not_sent_do_not_block(ws, capsys):
    append(ws, NODE, "# committed\n")
    ws.commit("Tune well mapping")
    (ws.root / ws.folder / "notes.txt").write_text("scratch\n")  # not flow code
    code, out, err = run(capsys, "deploy", "--env", ws.folder)
    assert code == 0, err and "deployed 1 file" in out


def test_allow_dirty_sends_and_says_so_in_ganymede(ws, capsys):
    append(ws, NODE, "# committed\n")
    ws.commit("Tune well mapping")
    head = git(ws.root, "rev-parse", "--short", "HEAD")
    append(ws, OTHER, "# not committed\n")
    code, out, err = run(capsys, "deploy", "--env", ws.folder, "--allow-dirty")
    assert code == 0, err
    assert "deployed 2 files" in out
    assert ws.emu.commits(ws.name)[0].message == (
        f"Tune well mapping ({head}) [with uncommitted changes to {ws.folder}/{OTHER}]"
    )


def test_only_uncommitted_changes_make_a_message_of_their_own(ws, capsys):
    append(ws, OTHER, "# not committed\n")
    assert run(capsys, "deploy", "--env", ws.folder, "--allow-dirty")[0] == 0
    message = ws.emu.commits(ws.name)[0].message
    assert message == f"Uncommitted changes to {ws.folder}/{OTHER}"


def test_the_default_message_names_what_is_deployed_not_head(ws, capsys):
    append(ws, NODE, "# tuned\n")
    ws.commit("Tune well mapping")
    tuned = git(ws.root, "rev-parse", "--short", "HEAD")
    (ws.root / "README.md").write_text("unrelated\n")
    ws.commit("Reword the README")  # HEAD: nothing to do with the deploy
    assert run(capsys, "deploy", "--env", ws.folder)[0] == 0
    assert ws.emu.commits(ws.name)[0].message == f"Tune well mapping ({tuned})"
    # The next deploy names only the commits made since the version Ganymede now holds.
    append(ws, NODE, "# again\n")
    ws.commit("Map wells by row")
    again = git(ws.root, "rev-parse", "--short", "HEAD")
    assert run(capsys, "deploy", "--env", ws.folder)[0] == 0
    assert ws.emu.commits(ws.name)[0].message == f"Map wells by row ({again})"


def test_a_dry_run_shows_uncommitted_files_without_refusing(ws, capsys):
    append(ws, NODE, "# trying\n")
    code, out, _ = run(capsys, "deploy", "--env", ws.folder, "--dry-run")
    assert code == 0 and "nothing was committed" in out


# --- status for scripts --------------------------------------------------------------
def test_status_exit_codes_follow_terraform_detailed_exitcode(ws, capsys):
    assert run(capsys, "status", "--env", ws.folder)[0] == 0
    append(ws, NODE, "# tuned\n")
    code, _, _ = run(capsys, "status", "--env", ws.folder)
    assert code == 1  # uncommitted: a deploy would be refused
    ws.commit("Tune well mapping")
    assert run(capsys, "status", "--env", ws.folder)[0] == 2
    ws.web_edit(NODE, b"# from the web editor\n")
    code, out, _ = run(capsys, "status", "--env", ws.folder)
    assert code == 1 and "a deploy would be refused: changed here and in Ganymede" in out
    assert ws.puts() == 0


def test_status_error_exits_1(ws, capsys, monkeypatch):
    monkeypatch.setenv("GANYMEDE_API_TOKEN", "wrong-token-71ab")
    code, out, err = run(capsys, "status", "--env", ws.folder)
    assert code == 1 and err.startswith("error:") and "wrong-token-71ab" not in out + err


@pytest.mark.parametrize("case", ["nothing", "send", "refused"])
def test_status_json_follows_the_schema(ws, capsys, case):
    if case != "nothing":
        append(ws, NODE, "# tuned\n")
        ws.commit("Tune well mapping")
    if case == "refused":
        ws.web_edit(NODE, b"# from the web editor\n")
    code, out, _ = run(capsys, "status", "--env", ws.folder, "--json")
    data = json.loads(out)  # standard output holds the document and nothing else
    jsonschema.validate(data, SCHEMA)
    assert data["exit_code"] == code == {"nothing": 0, "send": 2, "refused": 1}[case]
    assert data["target"] == target(ws) and data["folder"] == ws.folder
    node = next(entry for entry in data["files"] if entry["path"] == f"{ws.folder}/{NODE}")
    assert node["status"] == {"nothing": "unchanged", "send": "send", "refused": "conflict"}[case]
    assert bool(data["refusals"]) == (case == "refused")


def test_status_diff_shows_each_file_to_send_against_ganymede(ws, capsys):
    remote = ws.read(NODE)
    append(ws, NODE, "# tuned\n")
    ws.write("lib/labtools/extra.py", b"X = 1\n")
    ws.commit("Tune well mapping, add a helper")
    code, out, _ = run(capsys, "status", "--env", ws.folder, "--diff")
    assert code == 2
    assert f"--- ganymede/{ws.folder}/{NODE}\n+++ local/{ws.folder}/{NODE}\n" in out
    assert "\n+# tuned\n" in out
    assert f"--- /dev/null\n+++ local/{ws.folder}/lib/labtools/extra.py\n" in out
    assert "\n+X = 1\n" in out
    assert ws.read(NODE).startswith(remote) and ws.puts() == 0


def test_status_json_can_carry_the_diffs(ws, capsys):
    append(ws, NODE, "# tuned\n")
    ws.commit("Tune well mapping")
    code, out, _ = run(capsys, "status", "--env", ws.folder, "--json", "--diff")
    data = json.loads(out)
    jsonschema.validate(data, SCHEMA)
    assert code == 2 and "+# tuned" in data["diffs"][f"{ws.folder}/{NODE}"]


def test_offline_status_needs_no_token_and_writes_the_step_summary(
    ws, capsys, monkeypatch, tmp_path
):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.delenv("GANYMEDE_API_TOKEN")
    requests = len(ws.emu.requests)
    append(ws, NODE, "# tuned\n")
    ws.commit("Tune well mapping")
    code, out, _ = run(capsys, "status", "--env", ws.folder, "--offline")
    assert code == 2 and "offline plan" in out and len(ws.emu.requests) == requests
    markdown = summary.read_text()
    assert f"Offline plan for {ws.folder}/ -\\> {target(ws)}" in markdown  # > escaped
    assert f"`{ws.folder}/{NODE}`" in markdown


# --- small things ----------------------------------------------------------------------
def test_output_into_a_closed_pipe_ends_quietly(ws):
    """`invoke pull ... | head` where head is gone before the summary is printed."""
    command = [sys.executable, "-m", "invoke", "--search-root", str(SOURCE_ROOT)]
    process = subprocess.Popen(
        [*command, "pull", "--env", ws.folder],
        cwd=ws.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    process.stdout.close()  # the reader went away
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_short_flags_mean_the_same_option_in_every_task():
    """-f is --force wherever it exists, and an option's short flag, where it has one, is the
    same in every task (tasks whose options would take other letters have none)."""
    flags: dict[str, set[str]] = {}
    for task in Collection.from_module(tasks).tasks.values():
        for argument in task.get_arguments():
            shorts = [flag for flag in argument.names if len(flag) == 1]
            flags.setdefault(argument.name, set()).update(shorts)
            if "f" in shorts:
                assert argument.name == "force", f"-f is --{argument.name} in {task.name}"
    assert flags["force"] == {"f"}
    assert {name: shorts for name, shorts in flags.items() if len(shorts) > 1} == {}
