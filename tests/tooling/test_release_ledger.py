"""Deploy history in git, rollback, and runs joined to deploys: real git, the emulator."""

# ruff: noqa: F811 - the tests take the imported repo fixture

from __future__ import annotations

import json
import subprocess

import pytest
from test_promote import (
    NODE,
    git,
    repo,  # noqa: F401 - the fixture of dev/ and prod/ pulled
)

from task_runner import run_task as run

FLOW = "qPCR_Analysis"


def deploy(capsys, *options: str, folder: str = "dev") -> str:
    code, out, err = run(capsys, "deploy", "--env", folder, *options)
    assert code == 0, err
    return out


def edit(repo, text: str, path: str = f"dev/{NODE}") -> str:
    repo.append(path, text)
    repo.commit(f"Edit {text.strip()}")
    return git(repo.root, "rev-parse", "HEAD")


def records(capsys, *options: str) -> list[dict]:
    code, out, err = run(capsys, "history", "--env", "dev", "--json", *options)
    assert code == 0, err
    return json.loads(out)


def remote_node(repo) -> bytes:
    return repo.emu.files("dev")[f"dags/{NODE}"]


def test_each_deploy_is_recorded_as_a_tag_and_history_lists_them_newest_first(repo, capsys):
    first = edit(repo, "# one\n")
    out = deploy(capsys)
    assert "recorded in git as tag deploy/dev/" in out and "git push origin refs/tags/" in out
    second = edit(repo, "# two\n")
    deploy(capsys)
    found = records(capsys)
    assert [record["commit"] for record in found] == [second, first]
    newest = found[0]
    assert newest["folder"] == "dev" and newest["target"] == "acme/dev"
    assert list(newest["files"]) == [NODE] and newest["message"].startswith("Edit # two")
    assert newest["author"] and newest["versions"][FLOW]
    tags = git(repo.root, "tag", "--list", "deploy/dev/*").splitlines()
    assert sorted(tags) == sorted(record["tag"] for record in found)
    code, out, _ = run(capsys, "history", "--env", "dev")
    assert code == 0 and out.splitlines()[0] == "deploys of dev/, newest first:"
    assert second[:10] in out.splitlines()[2] and first[:10] in out.splitlines()[3]


def test_history_is_per_folder_and_per_flow_and_says_when_there_is_none(repo, capsys):
    code, out, _ = run(capsys, "history", "--env", "prod")
    assert code == 0 and "no recorded deploys of prod/" in out
    edit(repo, "# dev only\n")
    deploy(capsys)
    repo.append("dev/LIMS_Sample_Sync/Map_Fields/function.py", "# lims\n")
    repo.commit("Edit LIMS")
    deploy(capsys, "--flow", "LIMS_Sample_Sync")
    assert len(records(capsys)) == 2
    selective = records(capsys, "--flow", "LIMS_Sample_Sync")
    assert [record["only"] for record in selective] == [["LIMS_Sample_Sync"]]
    assert len(records(capsys, "--flow", FLOW)) == 1
    assert run(capsys, "history", "--env", "prod", "--json")[1].strip() == "[]"


def test_a_deploy_that_sends_nothing_records_nothing(repo, capsys):
    out = deploy(capsys)
    assert "recorded in git" not in out and records(capsys) == []


def deploy_b_then_c_and_force_push_back(repo, capsys, clone, *, keep_record=True) -> None:
    """Deploy B then C, reset main to B, and clone it fresh, as a runner would."""
    b = edit(repo, "# B\n")
    deploy(capsys)
    edit(repo, "# C\n")
    deploy(capsys)
    if not keep_record:
        git(repo.root, "tag", "-d", records(capsys)[0]["tag"])
    git(repo.root, "reset", "-q", "--hard", b)
    subprocess.run(["git", "clone", "-q", str(repo.root), str(clone)], check=True)


def test_a_force_push_back_deploys_the_older_code_in_a_fresh_clone(
    repo, capsys, tmp_path, monkeypatch
):
    """C's record recognises C's code in Ganymede as ours: no false conflict."""
    deploy_b_then_c_and_force_push_back(repo, capsys, tmp_path / "clone")
    monkeypatch.chdir(tmp_path / "clone")
    code, _, err = run(capsys, "deploy", "--env", "dev")
    assert code == 0, err
    assert remote_node(repo).endswith(b"# B\n")
    assert remote_node(repo) == (tmp_path / "clone" / "dev" / NODE).read_bytes()


def test_without_the_record_the_force_push_back_is_a_conflict(repo, capsys, tmp_path, monkeypatch):
    """The record is what recognises C: without its tag, the same deploy refuses."""
    deploy_b_then_c_and_force_push_back(repo, capsys, tmp_path / "clone", keep_record=False)
    monkeypatch.chdir(tmp_path / "clone")
    code, _, err = run(capsys, "deploy", "--env", "dev")
    assert code == 1 and "changed here and in Ganymede" in err
    assert remote_node(repo).endswith(b"# C\n")


def test_rollback_to_a_deploy_commits_its_content_on_a_branch_and_plans_it(repo, capsys):
    first = edit(repo, "# first\n")
    deploy(capsys)
    other = "dev/LIMS_Sample_Sync/Map_Fields/function.py"
    repo.append(other, "# second\n")
    edit(repo, "# second\n")
    deploy(capsys)
    tag = records(capsys)[-1]["tag"]
    body = repo.root.parent / "body.md"
    code, out, err = run(capsys, "rollback", "--env", "dev", "--to", tag.rsplit("/", 1)[-1],
                         "--body-file", str(body))  # fmt: skip
    assert code == 0, err
    assert tag in body.read_text(encoding="utf-8") and other in body.read_text(encoding="utf-8")
    assert f"rollback of dev/ -> acme/dev to {tag}" in out
    assert f"rolled dev/ back to {tag}: 2 file(s)" in out and f"rollback/dev-{first[:10]}" in out
    assert git(repo.root, "branch", "--show-current") == f"rollback/dev-{first[:10]}"
    assert git(repo.root, "diff", "--stat", first, "HEAD", "--", "dev") == ""
    planned = [line.split()[0] for line in out.splitlines() if line.split()[1:] == ["send"]]
    assert planned == [other, f"dev/{NODE}"]


def test_rollback_to_a_commit_and_deploy_ships_it(repo, capsys):
    original = (repo.root / "dev" / NODE).read_bytes()
    start = git(repo.root, "rev-parse", "HEAD")
    edit(repo, "# later\n")
    deploy(capsys)
    code, out, err = run(capsys, "rollback", "--env", "dev", "--to", start[:12], "--deploy")
    assert code == 0, err
    assert remote_node(repo) == original
    assert f"commit {start[:10]}" in out and "recorded in git as tag" in out
    assert len(records(capsys)) == 2


def test_rollback_dry_run_changes_nothing_and_refuses_bad_targets(repo, capsys):
    start = git(repo.root, "rev-parse", "HEAD")
    edit(repo, "# later\n")
    before = repo.state()
    code, out, _ = run(capsys, "rollback", "--env", "dev", "--to", start, "--dry-run")
    assert code == 0 and "1 file(s) would change" in out and repo.state() == before
    code, _, err = run(capsys, "rollback", "--env", "dev", "--to", "nope")
    assert code == 1 and "neither a deploy of dev/" in err and repo.state() == before
    code, _, err = run(capsys, "rollback", "--env", "dev")
    assert code == 1 and "--to" in err
    code, out, _ = run(capsys, "rollback", "--env", "dev", "--to", "HEAD")
    assert code == 0 and "nothing to roll back" in out


def test_runs_are_joined_to_the_deploy_whose_version_they_ran(repo, capsys, tmp_path):
    flow_path = repo.root / "dev" / FLOW / "flow.json"
    document = json.loads(flow_path.read_text(encoding="utf-8"))
    document["settings"]["description"] = "joined"
    flow_path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    repo.commit("Describe the flow")
    sha = git(repo.root, "rev-parse", "HEAD")
    deploy(capsys)
    export = tmp_path / "run.json"
    export.write_text(json.dumps({"wells": [{"well": "A1", "sample": "S1", "target": "GAPDH",
                                              "cq": 18.0}]}), encoding="utf-8")  # fmt: skip
    code, _, err = run(capsys, "run", "--env", "dev", "--flow", FLOW,
                       "--input", f"Load_Run.file_data=@{export}")  # fmt: skip
    assert code == 0, err
    code, out, err = run(capsys, "runs", "--env", "dev", "--flow", FLOW, "--json")
    assert code == 0, err
    (found,) = json.loads(out)
    assert found["deploy"]["commit"] == sha
    code, out, _ = run(capsys, "runs", "--env", "dev", "--flow", FLOW, "--since", "1h")
    assert "deployed from" in out and sha[:10] in out
    code, _, err = run(capsys, "runs", "--env", "dev", "--flow", FLOW, "--since", "soon")
    assert code == 1 and "--since 'soon'" in err


@pytest.mark.parametrize("since", ["2d", "2026-01-01", "2026-01-01T08:00"])
def test_since_reads_spans_and_dates(since):
    from ganymede_sync.runners.runs import since_epoch_ms

    assert 0 < since_epoch_ms(since, now=1_800_000_000.0) < 1_800_000_000_000


def test_hostile_commit_messages_reach_history_and_notifications_escaped(repo, capsys):
    """A deploy record holds the commit subjects: shown, they keep no control byte raw."""
    repo.append(f"dev/{NODE}", "# x\n")
    repo.commit("Tune \x1b]0;PWNED\x07\x1b[2J\u202egnp.exe")
    deploy(capsys)
    code, out, err = run(capsys, "history", "--env", "dev")
    assert code == 0, err
    assert "\x1b" not in out and "\u202e" not in out and "\\x1b" in out
    code, out, _ = run(capsys, "history", "--env", "dev", "--json")
    # Ganymede's commit message (and so the record) holds the subject escaped, too.
    assert json.loads(out)[0]["message"].startswith("Tune \\x1b]0;PWNED")
    log = git(repo.emu.data_dir / "dev", "log", "-1", "--format=%s")
    assert "\x1b" not in log and "Tune \\x1b" in log


def test_history_counts_what_a_deploy_sent_as_the_deploy_said_it(repo, capsys):
    flow_path = repo.root / "dev" / FLOW / "flow.json"
    document = json.loads(flow_path.read_text(encoding="utf-8"))
    document["settings"]["description"] = "counted"
    flow_path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    edit(repo, "# counted\n")
    said = deploy(capsys)
    assert "deployed 1 file " in said and "updated 1 flow" in said
    code, out, _ = run(capsys, "history", "--env", "dev")
    assert code == 0 and "  1 file and 1 flow  " in out.splitlines()[2]
