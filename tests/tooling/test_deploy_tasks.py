"""`invoke deploy`, `invoke status` and `invoke check` as a user runs them."""

from __future__ import annotations

import os
import signal
import time

import pytest

from deploy_workspace import SOURCE_ROOT, TOKEN, USER
from task_runner import run_task as run
from task_runner import task_workspace
from tests.tooling.processes import background, python_module, read_until

NODE = "Plate_Reader_Ingest/Map_Wells/function.py"


@pytest.fixture
def ws(tmp_path, monkeypatch):
    yield from task_workspace(tmp_path, monkeypatch)


def target(ws) -> str:
    """Where the workspace's folder deploys: ``<tenant>/<environment>``."""
    return f"{ws.settings().subdomain}/{ws.name}"


def edit(ws, text: str) -> None:
    ws.write(NODE, ws.read(NODE) + text.encode())
    ws.commit("Tune well mapping")


def test_status_shows_the_plan_and_sends_nothing(ws, capsys):
    edit(ws, "# tuned\n")
    ws.web_edit("qPCR_Analysis/Load_Run/function.py", b"# from the web editor\n")
    code, out, _ = run(capsys, "status", "--env", ws.folder)
    assert code == 2  # something to send
    assert f"{ws.folder}/{NODE}  send" in out
    assert "changed in Ganymede: pull to update" in out
    assert "1 to send" in out and "1 changed in Ganymede" in out
    assert ws.puts() == 0


def test_deploy_prints_plan_and_result_and_writes_the_step_summary(
    ws, capsys, tmp_path, monkeypatch
):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    edit(ws, "# tuned\n")
    code, out, err = run(capsys, "deploy", "--env", ws.folder)
    assert code == 0, err
    assert f"deployed 1 file to {target(ws)} (from {ws.folder}/) as one commit by {USER}" in out
    assert ws.emu.commits(ws.name)[0].message.startswith("Tune well mapping (")
    markdown = summary.read_text()
    assert "| path | status |" in markdown and f"`{ws.folder}/{NODE}`" in markdown
    assert TOKEN not in out + err + markdown


def test_status_reads_the_remote_within_the_archive_limits_of_ganymede_toml(ws, capsys):
    config = ws.root / "ganymede.toml"
    text = config.read_text()
    assert "# max_file_mb = 64" in text
    config.write_text(text.replace("# max_file_mb = 64", "max_file_mb = 0.0001"))
    code, _, err = run(capsys, "status", "--env", ws.folder)
    assert code == 1 and "[archive] max_file_mb in ganymede.toml" in err


def test_dry_run_says_nothing_was_committed(ws, capsys):
    edit(ws, "# tuned\n")
    before = ws.commit_count()
    code, out, _ = run(capsys, "deploy", "--env", ws.folder, "--dry-run")
    assert code == 0 and "nothing was committed" in out
    assert ws.commit_count() == before


def test_refused_deploy_exits_non_zero_with_one_line(ws, capsys, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    ws.web_edit(NODE, b"# from the web editor\n")
    edit(ws, "# tuned\n")
    code, out, err = run(capsys, "deploy", "--env", ws.folder)
    assert code == 1
    assert "conflict" in out
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and f"{ws.folder}/{NODE}" in error_lines[0]
    assert "Not deployed" in summary.read_text()


def test_deploy_with_a_wrong_token_exits_non_zero_without_showing_it(ws, capsys, monkeypatch):
    monkeypatch.setenv("GANYMEDE_API_TOKEN", "wrong-token-5c1d")
    code, out, err = run(capsys, "deploy", "--env", ws.folder)
    assert code == 1 and err.startswith("error:")
    assert "wrong-token-5c1d" not in out + err


def test_deploy_without_token_says_where_to_put_it(ws, capsys, monkeypatch):
    monkeypatch.delenv("GANYMEDE_API_TOKEN")
    code, _, err = run(capsys, "deploy", "--env", ws.folder)
    assert code == 1 and "GANYMEDE_API_TOKEN" in err


def test_check_passes_on_pulled_code(ws, capsys):
    code, out, _ = run(capsys, "check")
    assert code == 0 and "no problems" in out


def test_check_reports_every_problem_and_fails(ws, capsys):
    ws.write(NODE, b"def broken(:\n")
    ws.write("lib/labtools/data.csv", b"a,b\n")
    ws.write("Plate_Reader_Ingest/New_Node/function.py", b"x = 1\n")
    code, out, err = run(capsys, "check", "--env", ws.folder)
    assert code == 1 and "3 problem(s)" in err
    assert f"{ws.folder}/{NODE} line 1:" in out
    assert f"{ws.folder}/lib/labtools/data.csv:" in out
    assert f"{ws.folder}/Plate_Reader_Ingest/New_Node/function.py:" in out


def test_an_interrupted_deploy_says_how_to_learn_whether_it_arrived(ws, capsys):
    edit(ws, "# tuned\n")
    ws.emu.add_fault("slow", endpoint="commits_put", seconds=2)
    before = ws.commit_count()
    command = python_module(
        "invoke", "--search-root", str(SOURCE_ROOT), "deploy", "--env", ws.folder
    )
    environ = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with background(command, cwd=ws.root, env=environ) as process:
        read_until(process, lambda line: "to send" in line)
        deadline = time.monotonic() + 20
        while ws.emu.pending_faults and time.monotonic() < deadline:
            time.sleep(0.02)  # until the PUT arrives; the emulator then holds it for 2 s
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 130, out + err
    expected = f"interrupted; run invoke status --env {ws.folder} to see whether the deploy"
    assert err.strip().splitlines()[-1].startswith(f"error: {expected}")
    assert "Traceback" not in err and TOKEN not in err
    # The emulator applies the PUT it held, as Ganymede may have: status shows it arrived.
    deadline = time.monotonic() + 20
    while ws.commit_count() == before and time.monotonic() < deadline:
        time.sleep(0.1)
    code, out, _ = run(capsys, "status", "--env", ws.folder)
    assert code == 0 and "nothing to deploy" in out


def test_ctrl_c_before_a_task_handles_it_is_one_line_and_exit_130(monkeypatch, capsys):
    """Ctrl-C while a task still imports or reads its options: Invoke alone would exit 1
    without a word."""
    import ganymede_sync.runners.pull

    def pressed(**options: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ganymede_sync.runners.pull, "PullOptions", pressed)
    code, out, err = run(capsys, "pull", "--env", "dev")
    assert (code, out, err.strip()) == (130, "", "error: interrupted")
