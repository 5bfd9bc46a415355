"""invoke run and invoke runs against the emulator, which runs the flows it is asked to."""

from __future__ import annotations

import json
import threading
import time

import pytest
from test_promote import repo  # noqa: F401 - the fixture of dev/ and prod/ pulled

from task_runner import run_task as run

FLOW = "qPCR_Analysis"
EXPORT = {"wells": [{"well": "A1", "sample": "S1", "target": "GAPDH", "cq": 18.0},
                    {"well": "A2", "sample": "S1", "target": "IL6", "cq": 25.5}]}  # fmt: skip


@pytest.fixture
def lab(repo, tmp_path):  # noqa: F811 - the imported fixture
    """The repository pulled from the example emulator, and a cycler export to run on."""
    repo.export = tmp_path / "run.json"
    repo.export.write_text(json.dumps(EXPORT), encoding="utf-8")
    return repo


def triggers(lab) -> list[str]:
    return [r.path for r in lab.emu.requests if r.method == "POST" and r.path.endswith("/trigger")]


def test_a_flow_runs_in_ganymede_and_the_task_follows_it_to_success(lab, capsys):
    code, out, err = run(capsys, "run", "--env", "dev", "--flow", FLOW,
                         "--input", f"Load_Run.file_data=@{lab.export}")  # fmt: skip
    assert code == 0, err
    assert "started run " in out and f"of {FLOW} in acme/dev" in out
    assert f"{FLOW} in acme/dev: Success" in out
    assert "tables: qpcr_delta_cq, qpcr_flagged, qpcr_wells" in out and "files: delta_cq.csv" in out
    assert len(triggers(lab)) == 2  # Ganymede's dry run first, then the run
    code, out, _ = run(capsys, "runs", "--env", "dev", "--flow", FLOW)
    assert code == 0 and f"runs of {FLOW} in acme/dev, newest first:" in out
    assert len([line for line in out.splitlines() if "Success" in line]) == 1


@pytest.mark.parametrize(
    ("inputs", "why"),
    [
        (
            [],
            "flow qPCR_Analysis needs Load_Run.file_data, not given: it takes "
            "Load_Run.file_data (file)",
        ),
        (["Load_Run.other=x"], "flow qPCR_Analysis takes no input Load_Run.other"),
        (["Load_Run.file_data=run.json"], "is a file: give it as Load_Run.file_data=@path"),
        (["Load_Run=x"], "is not TASK.PARAM=VALUE"),
    ],
    ids=["missing", "unknown", "file-without-at", "malformed"],
)
def test_inputs_that_do_not_fit_are_refused_before_any_trigger(lab, capsys, inputs, why):
    options = [item for value in inputs for item in ("--input", value)]
    code, _, err = run(capsys, "run", "--env", "dev", "--flow", FLOW, *options)
    assert code == 1 and why in err and len(err.strip().splitlines()) == 1
    assert triggers(lab) == []


def test_a_dry_run_has_ganymede_check_the_inputs_and_starts_nothing(lab, capsys):
    code, out, err = run(capsys, "run", "--env", "dev", "--flow", FLOW, "--dry-run",
                         "--input", f"Load_Run.file_data=@{lab.export}")  # fmt: skip
    assert code == 0 and "no run was started" in out, err
    code, out, _ = run(capsys, "runs", "--env", "dev", "--flow", FLOW)
    assert "no runs of qPCR_Analysis in acme/dev" in out


def test_a_failing_node_fails_the_task_and_names_the_node(lab, capsys):
    path = "dags/qPCR_Analysis/Flag_Outliers/function.py"
    broken = b"def execute(ganymede_context=None):\n    raise RuntimeError('threshold unset')\n"
    lab.emu.write_file("dev", path, broken)
    code, _, err = run(capsys, "run", "--env", "dev", "--flow", FLOW,
                         "--input", f"Load_Run.file_data=@{lab.export}")  # fmt: skip
    assert code == 1 and "ended Failed" in err
    assert "qPCR_Analysis/Flag_Outliers" in err and "invoke runs --env dev --flow" in err


def test_a_run_that_never_ends_stops_the_wait_at_the_timeout(lab, capsys):
    lab.emu.add_fault("hang_run")
    code, out, err = run(capsys, "run", "--env", "dev", "--flow", FLOW, "--timeout", "1",
                         "--input", f"Load_Run.file_data=@{lab.export}")  # fmt: skip
    assert code == 1 and "is still Running after 1 s (--timeout); it goes on in Ganymede" in err
    code, out, _ = run(capsys, "run", "--env", "dev", "--flow", FLOW, "--no-wait",
                       "--input", f"Load_Run.file_data=@{lab.export}")  # fmt: skip
    assert code == 0 and "not waited for" in out


def with_smoke(lab, inputs: str) -> None:
    """Set dev's smoke run of the qPCR flow in ganymede.toml."""
    config = lab.root / "ganymede.toml"
    text = config.read_text(encoding="utf-8").replace(
        'ganymede_environment = "dev"\n',
        f'ganymede_environment = "dev"\nsmoke = [{{ flow = "{FLOW}", inputs = [{inputs}] }}]\n',
    )
    config.write_text(text, encoding="utf-8")


def test_deploy_smoke_runs_the_smoke_flows_after_the_deploy(lab, capsys):
    (lab.root / "tests" / "smoke").mkdir(parents=True)
    (lab.root / "tests" / "smoke" / "run.json").write_text(json.dumps(EXPORT), encoding="utf-8")
    with_smoke(lab, '"Load_Run.file_data=@tests/smoke/run.json"')
    lab.append("dev/qPCR_Analysis/Delta_Ct/function.py", "# tuned\n")
    lab.commit("Tune, with a smoke run")
    code, out, err = run(capsys, "deploy", "--env", "dev", "--smoke")
    assert code == 0, err
    assert "smoke run of qPCR_Analysis:" in out and f"{FLOW} in acme/dev: Success" in out
    *_, deployed, recorded = out.strip().splitlines()
    assert deployed.startswith("deployed 1 file to acme/dev")
    assert recorded.startswith("recorded in git as tag deploy/dev/")


def test_a_smoke_run_that_could_not_start_stops_the_deploy_before_it_sends(lab, capsys):
    with_smoke(lab, '"Load_Run.file_data=@tests/missing.json"')
    lab.commit("A smoke run whose input is missing")
    code, _, err = run(capsys, "deploy", "--env", "dev", "--smoke")
    assert code == 1 and "nothing was sent" in err
    assert "smoke run of qPCR_Analysis ([environments.dev] smoke): cannot read" in err
    assert not [r for r in lab.emu.requests if r.method in ("PUT", "POST", "PATCH")]


def test_a_malformed_smoke_setting_is_one_line(lab, capsys):
    config = lab.root / "ganymede.toml"
    text = config.read_text(encoding="utf-8").replace(
        'ganymede_environment = "dev"\n', 'ganymede_environment = "dev"\nsmoke = "qPCR"\n'
    )
    config.write_text(text, encoding="utf-8")
    code, _, err = run(capsys, "deploy", "--env", "dev", "--smoke")
    assert code == 1 and "environments.dev.smoke in ganymede.toml must be a list of" in err


def test_a_deploy_waits_for_no_run_but_refuses_while_one_is_running(lab, capsys):
    lab.emu.add_fault("hang_run")
    code, _, err = run(capsys, "run", "--env", "dev", "--flow", FLOW, "--no-wait",
                       "--input", f"Load_Run.file_data=@{lab.export}")  # fmt: skip
    assert code == 0, err
    lab.append("dev/qPCR_Analysis/Delta_Ct/function.py", "# tuned\n")
    lab.append("dev/LIMS_Sample_Sync/Map_Fields/function.py", "# tuned\n")
    lab.commit("Tune both")
    puts = len([r for r in lab.emu.requests if r.method == "PUT"])
    code, _, err = run(capsys, "deploy", "--env", "dev")
    assert code == 1 and "runs of the flows it would change are queued or running" in err
    assert "qPCR_Analysis: " in err and "--force" in err
    assert len([r for r in lab.emu.requests if r.method == "PUT"]) == puts
    code, out, err = run(capsys, "deploy", "--env", "dev", "--flow", "LIMS_Sample_Sync")
    assert code == 0, err  # another flow's run is no reason to wait
    code, out, err = run(capsys, "deploy", "--env", "dev", "--force")
    assert code == 0 and "deployed 1 file" in out, err


def hang_a_run_and_tune(lab, capsys, wait: float) -> None:
    """Leave a qPCR run going, give dev a wait_for_runs, and commit a change to the flow."""
    config = lab.root / "ganymede.toml"
    text = config.read_text(encoding="utf-8").replace(
        'ganymede_environment = "dev"\n', f'ganymede_environment = "dev"\nwait_for_runs = {wait}\n'
    )
    config.write_text(text, encoding="utf-8")
    lab.emu.add_fault("hang_run")
    code, _, err = run(capsys, "run", "--env", "dev", "--flow", FLOW, "--no-wait",
                       "--input", f"Load_Run.file_data=@{lab.export}")  # fmt: skip
    assert code == 0, err
    lab.append("dev/qPCR_Analysis/Delta_Ct/function.py", "# tuned\n")
    lab.commit("Tune")


def test_a_deploy_waits_for_a_running_run_to_end_then_deploys(lab, capsys):
    hang_a_run_and_tune(lab, capsys, wait=30)
    timer = threading.Timer(1.0, lab.emu.finish_hung_runs)
    timer.start()
    started = time.monotonic()
    code, out, err = run(capsys, "deploy", "--env", "dev")
    timer.join()
    assert code == 0, err
    assert "waiting up to 30 s for runs of the flows this deploy changes to end" in out
    assert "deployed 1 file" in out and time.monotonic() - started < 20


def test_a_deploy_refuses_when_the_run_outlasts_the_wait(lab, capsys):
    hang_a_run_and_tune(lab, capsys, wait=1)
    code, _, err = run(capsys, "deploy", "--env", "dev")
    assert code == 1 and "queued or running after waiting 1 s (qPCR_Analysis: " in err
    code, out, err = run(capsys, "deploy", "--env", "dev", "--dry-run")
    assert code == 1 and "waiting" not in out  # a dry run only tells
    code, out, err = run(capsys, "deploy", "--env", "dev", "--force")
    assert code == 0 and "deployed 1 file" in out, err


def test_a_failing_smoke_run_fails_the_deploy_after_it(lab, capsys):
    (lab.root / "tests" / "smoke").mkdir(parents=True)
    (lab.root / "tests" / "smoke" / "run.json").write_text("not json", encoding="utf-8")
    with_smoke(lab, '"Load_Run.file_data=@tests/smoke/run.json"')
    lab.append("dev/qPCR_Analysis/Delta_Ct/function.py", "# tuned\n")
    lab.commit("A smoke input the flow cannot read")
    code, _, err = run(capsys, "deploy", "--env", "dev", "--smoke")
    assert code == 1 and "dev/ was deployed, but its smoke run failed: run " in err
    assert "qPCR_Analysis/Load_Run failed: JSONDecodeError" in err and "--json" in err


@pytest.mark.parametrize(
    ("options", "why"),
    [
        (["--timeout", "0"], "--timeout must be a number of seconds above 0, not 0.0"),
        (["--timeout", "abc"], "--timeout must be a number of seconds, not 'abc'"),
    ],
)
def test_a_timeout_that_cannot_be_waited_is_refused_before_any_run(lab, capsys, options, why):
    code, _, err = run(capsys, "run", "--env", "dev", "--flow", FLOW, *options,
                       "--input", f"Load_Run.file_data=@{lab.export}")  # fmt: skip
    assert code == 1 and why in err and triggers(lab) == []


def test_runs_needs_a_known_flow(lab, capsys):
    code, _, err = run(capsys, "runs", "--env", "dev")
    assert code == 1 and "choose the flow with --flow" in err
    code, _, err = run(capsys, "runs", "--env", "dev", "--flow", "Nope")
    assert code == 1 and "(404)" in err


def test_the_example_lims_flow_runs_on_its_seeded_tables(lab, capsys):
    code, out, err = run(capsys, "run", "--env", "dev", "--flow", "LIMS_Sample_Sync")
    assert code == 0 and "LIMS_Sample_Sync in acme/dev: Success" in out, err


def test_a_failed_smoke_run_in_the_source_blocks_its_promotion(lab, capsys, tmp_path):
    with_smoke(lab, f'"Load_Run.file_data=@{lab.export}"')
    broken = b"def execute(ganymede_context=None):\n    raise RuntimeError('threshold unset')\n"
    lab.emu.write_file("dev", "dags/qPCR_Analysis/Flag_Outliers/function.py", broken)
    assert run(capsys, "run", "--env", "dev", "--flow", FLOW,
               "--input", f"Load_Run.file_data=@{lab.export}")[0] == 1  # fmt: skip
    lab.append("dev/qPCR_Analysis/Delta_Ct/function.py", "# tuned\n")
    lab.commit("Tune dev, with a smoke run")
    before = lab.files("prod")
    code, _, err = run(capsys, "promote", "--from", "dev", "--to", "prod")
    assert code == 1 and "the latest smoke run in dev/ failed: qPCR_Analysis (run " in err
    assert "--ignore-smoke" in err and lab.files("prod") == before
    body = tmp_path / "body.md"
    code, _, err = run(capsys, "promote", "--from", "dev", "--to", "prod", "--ignore-smoke",
                       "--body-file", str(body))  # fmt: skip
    assert code == 0, err
    assert "Latest smoke runs in `dev/`: `qPCR_Analysis` Failed (run `" in body.read_text()


def test_a_promotion_reads_smoke_runs_saved_by_a_job_with_the_sources_token(lab, capsys, tmp_path):
    """The promote workflow: one job reads dev's runs with dev's token and saves them, the
    job holding only prod's token promotes from that file."""
    with_smoke(lab, f'"Load_Run.file_data=@{lab.export}"')
    broken = b"def execute(ganymede_context=None):\n    raise RuntimeError('threshold unset')\n"
    lab.emu.write_file("dev", "dags/qPCR_Analysis/Flag_Outliers/function.py", broken)
    run(
        capsys,
        "run",
        "--env",
        "dev",
        "--flow",
        FLOW,
        "--input",
        f"Load_Run.file_data=@{lab.export}",
    )
    saved = tmp_path / "smoke.json"
    code, out, err = run(capsys, "smoke-status", "--env", "dev", "--save", str(saved))
    assert code == 0 and out.startswith(f"{FLOW}: Failed (run "), err
    lab.append("dev/qPCR_Analysis/Delta_Ct/function.py", "# tuned\n")
    lab.commit("Tune dev")
    before = lab.files("prod")
    lab.emu.add_fault("error", endpoint="flow_runs", count=100)  # the runs are not read again
    code, _, err = run(capsys, "promote", "--from", "dev", "--to", "prod", "--smoke-results",
                       str(saved))  # fmt: skip
    assert code == 1 and "the latest smoke run in dev/ failed: qPCR_Analysis (run " in err
    assert lab.files("prod") == before
    saved.write_text('{"format": 1, "folder": "prod", "runs": [], "note": ""}', encoding="utf-8")
    code, _, err = run(capsys, "promote", "--from", "dev", "--to", "prod", "--smoke-results",
                       str(saved))  # fmt: skip
    assert code == 1 and "is not a smoke-runs file of dev/" in err and lab.files("prod") == before


def test_saved_smoke_runs_must_cover_every_smoke_flow_and_exist(lab, capsys, tmp_path):
    with_smoke(lab, f'"Load_Run.file_data=@{lab.export}"')
    lab.append("dev/qPCR_Analysis/Delta_Ct/function.py", "# tuned\n")
    lab.commit("Tune dev")
    before = lab.files("prod")
    saved = tmp_path / "smoke.json"
    saved.write_text('{"format": 1, "folder": "dev", "runs": [], "note": ""}', encoding="utf-8")
    code, _, err = run(capsys, "promote", "--from", "dev", "--to", "prod", "--smoke-results",
                       str(saved))  # fmt: skip
    assert code == 1 and "has no smoke run of qPCR_Analysis" in err and lab.files("prod") == before
    code, _, err = run(capsys, "promote", "--from", "dev", "--to", "prod", "--smoke-results",
                       str(tmp_path / "absent.json"))  # fmt: skip
    assert code == 1 and "no such file" in err
    code, _, err = run(capsys, "promote", "--from", "dev", "--to", "prod",
                       "--body-file", str(tmp_path / "nodir" / "body.md"))  # fmt: skip
    assert code == 1 and "its folder does not exist" in err and lab.files("prod") == before
