"""The deploy plan as one pull request comment: rendered from status --json, updated in place."""

from __future__ import annotations

import pytest
from test_promote import (
    NODE,
    repo,  # noqa: F401 - the fixture of dev/ and prod/ pulled
)

from ganymede_sync.local.pr_comment import MARKER
from task_runner import run_task as run
from tests.tooling.fake_gh import REPOSITORY, install_fake_gh


@pytest.fixture
def plans(repo, tmp_path):  # noqa: F811 - the imported fixture
    """A folder for the plan jobs' files, as the comment job downloads them."""
    folder = tmp_path / "plans"
    folder.mkdir()
    repo.plans = folder
    return repo


def plan(capsys, plans, folder: str, *options: str) -> int:
    target = plans.plans / f"plan-{folder}.json"
    code, _, _ = run(capsys, "status", "--offline", "--env", folder, "--json-file", str(target),
                     *options)  # fmt: skip
    return code


def comment(capsys, plans) -> str:
    url = "https://github.com/acme-lab/flows/actions/runs/7"
    code, out, err = run(capsys, "plan-comment", "--plans", str(plans.plans), "--dry-run",
                         "--run-url", url)  # fmt: skip
    assert code == 0, err
    return out


def test_every_plan_shape_renders_refusals_first_and_escapes_names(plans, capsys):
    assert plan(capsys, plans, "prod") == 0  # nothing to send
    plans.append(f"dev/{NODE}", "# tuned\n")
    plans.write("dev/qPCR_Analysis/evil_*name*_<b>x</b>.py", b"x = 1\n")
    plans.commit("Tune dev")
    assert plan(capsys, plans, "dev") == 1  # a stray file: refused
    body = comment(capsys, plans)
    assert body.startswith("## Deploy plan")
    dev, prod = body.index("### `dev/` -> acme/dev"), body.index("### `prod/` -> acme/prod")
    assert dev < prod and "**a deploy would be refused**" in body[dev:prod]
    assert body.index(":x:") < body.index("| path | status |")
    assert f"| `dev/{NODE}` | send |" in body
    # A name is shown only inside a code span, where markdown and HTML are inert.
    assert body.count("<b>") == 1 and "`dev/qPCR_Analysis/evil_*name*_<b>x</b>.py`" in body
    assert "prod/` -> acme/prod: nothing to send" in body
    assert "[The plan jobs of this run](https://github.com/acme-lab/flows/actions/runs/7)" in body


def test_a_plan_that_sends_lists_its_files(plans, capsys):
    plans.append(f"dev/{NODE}", "# tuned\n")
    plans.commit("Tune dev")
    assert plan(capsys, plans, "dev") == 2
    body = comment(capsys, plans)
    assert "### `dev/` -> acme/dev: 1 file(s) to send" in body and ":x:" not in body


def test_no_plan_says_nothing_deploys_only_when_told_nothing_changed(plans, capsys):
    code, out, err = run(capsys, "plan-comment", "--nothing-changed", "--dry-run")
    assert code == 0 and "changes no environment folder" in out, err
    # Plans that never arrived are an error, never "merging deploys nothing".
    for where in (plans.plans, plans.plans / "missing"):
        code, out, err = run(capsys, "plan-comment", "--plans", str(where), "--dry-run")
        assert code == 1 and "--plans" in err and "deploys nothing" not in out


def test_a_line_break_in_a_file_name_stays_in_its_cell(plans, capsys):
    plans.write("dev/qPCR_Analysis/Load_Run/a\n## injected|x.py", b"x = 1\n")
    plans.commit("A name with a line break")
    plan(capsys, plans, "dev")
    body = comment(capsys, plans)
    assert "\n## injected" not in body and "a\\n## injected" in body
    _, out, _ = run(capsys, "status", "--offline", "--env", "dev")
    assert "\n## injected" not in out


def test_the_comment_is_created_once_then_updated_in_place(plans, capsys, tmp_path, monkeypatch):
    gh = install_fake_gh(tmp_path, monkeypatch)
    gh.update(comments=[{"id": 7, "issue": 12, "body": "an unrelated comment"}])
    plans.append(f"dev/{NODE}", "# tuned\n")
    plans.commit("Tune dev")
    plan(capsys, plans, "dev")
    post = ["plan-comment", "--plans", str(plans.plans), "--pr", "12", "--repo", REPOSITORY]
    code, out, err = run(capsys, *post)
    assert code == 0 and "deploy plan comment: created" in out, err
    plans.append(f"dev/{NODE}", "# again\n")
    plans.commit("Tune dev again")
    (plans.plans / "plan-dev.json").unlink()
    plan(capsys, plans, "prod")
    code, out, err = run(capsys, *post)
    assert code == 0 and "deploy plan comment: updated" in out, err
    comments = gh.state["comments"]
    assert [c["id"] for c in comments] == [7, 1001]
    assert comments[1]["body"].startswith(MARKER) and "acme/prod" in comments[1]["body"]
    # A push that no longer touches an environment folder corrects the comment ...
    (plans.plans / "plan-prod.json").unlink()
    code, out, _ = run(capsys, *post[:1], "--nothing-changed", *post[3:])
    assert "updated" in out and "changes no environment folder" in gh.state["comments"][1]["body"]
    # ... and a pull request that never did gets no comment at all.
    code, out, _ = run(capsys, "plan-comment", "--nothing-changed", "--pr", "13",
                       "--repo", REPOSITORY)  # fmt: skip
    assert code == 0 and "deploy plan comment: none" in out
    assert len(gh.state["comments"]) == 2


def test_a_plan_file_that_is_not_a_plan_is_one_line(plans, capsys):
    (plans.plans / "plan-dev.json").write_text("[1, 2]", encoding="utf-8")
    code, _, err = run(capsys, "plan-comment", "--plans", str(plans.plans), "--dry-run")
    assert code == 1 and "not a plan of invoke status" in err and len(err.splitlines()) == 1
    (plans.plans / "plan-dev.json").write_text("{", encoding="utf-8")
    code, _, err = run(capsys, "plan-comment", "--plans", str(plans.plans), "--dry-run")
    assert code == 1 and "is not JSON" in err
