"""The plan as people read it: terminal table, totals and step-summary markdown."""

from __future__ import annotations

from deploy_workspace import plan_of_contents as plan
from ganymede_sync.results import SendOutcome
from ganymede_sync.rules.hashing import sha256_bytes
from ganymede_sync.ui.report import append_step_summary, outcome_line, plan_markdown, plan_table

OLD, NEW = b"a = 1\n", b"a = 2\n"


def sample_plan():
    local = {"f/n/function.py": NEW, "f/same/function.py": OLD, "f/pipe|`x`/query.sql": NEW}
    remote = {"f/n/function.py": OLD, "f/same/function.py": OLD, "f/pipe|`x`/query.sql": OLD}
    base = {path: sha256_bytes(OLD) for path in remote}
    return plan(local, remote, base)


def test_table_lists_changed_paths_aligned_and_counts_unchanged_ones():
    lines = plan_table(sample_plan(), "dev").splitlines()
    assert lines[0].split() == ["path", "status"]
    assert lines[1].startswith("dev/f/n/function.py") and lines[1].endswith("  send")
    assert len({line.index("  send") for line in lines[1:3]}) == 1
    assert lines[-1] == "total: 1 unchanged, 2 to send"


def test_table_of_a_folder_in_sync_says_so():
    in_sync = plan({"f/n/function.py": OLD}, {"f/n/function.py": OLD}, {})
    assert "nothing to deploy" in plan_table(in_sync, "dev")


def test_markdown_keeps_file_names_from_breaking_the_table():
    markdown = plan_markdown(sample_plan(), "dev", title="Deploy of dev/", outcome="done")
    row = next(line for line in markdown.splitlines() if "pipe" in line)
    assert row.count(" | ") == 1 and "`" not in row.split("`", 1)[1].rsplit("`", 1)[0]


def test_step_summary_is_appended_only_when_github_asks_for_it(tmp_path):
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n")
    assert append_step_summary("### plan", {"GITHUB_STEP_SUMMARY": str(target)})
    assert target.read_text() == "earlier step\n### plan\n"
    assert not append_step_summary("### plan", {})


def test_outcome_line_tells_a_dry_run_from_a_deploy():
    deploy_plan = sample_plan()
    sent = tuple(deploy_plan.to_send)
    dry = SendOutcome(deploy_plan, sent, dry_run=True)
    real = SendOutcome(deploy_plan, sent, dry_run=False)
    assert "nothing was committed" in outcome_line(dry, "dev", author_email="a@example.com")
    assert outcome_line(real, "dev", author_email="a@example.com") == (
        "deployed 2 files to dev as one commit by a@example.com"
    )
