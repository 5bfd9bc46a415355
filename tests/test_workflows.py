"""Workflow rules as tests: the generated workflows stay least-privilege and injection-free.

Each rule parses the rendered workflows of every answer set and checks one property
that a security review would ask for: empty default permissions, per-job grants,
actions pinned to commits with a matching version comment, no expression inside a
shell script, shell steps that only install tools and call `invoke`, no persisted
credentials, timeouts, and the deploy rules of docs/workflows.md: the tip of the default
branch deployed, one concurrency group per environment shared by pull and deploy, manual
deploys from the default branch only, nothing deployed before the GitHub set-up, two-dot
diffs, pull request plans that need no environment, and one aggregate check.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import answer

WORKFLOWS = ("pull.yml", "deploy.yml", "ci.yml", "promote.yml")
# The commits the workflows pin: SHA -> (action, version in its comment). Change both together.
PINS = {
    "fbc6f3992d24b796d5a048ff273f7fcc4a7b6c09": ("actions/checkout", "v5.1.0"),
    "ece7cb06caefa5fff74198d8649806c4678c61a1": ("actions/setup-python", "v6.3.0"),
    "5f6978faf089d4d20b00c7766989d076bb2fc7f1": ("peter-evans/create-pull-request", "v8.1.1"),
    "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f": ("actions/upload-artifact", "v7.0.0"),
    "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c": ("actions/download-artifact", "v8.0.1"),
}
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<action>[^@\s]+)@(?P<ref>\S+)(?P<rest>.*)$")
PINNED_COMMENT = re.compile(r"^\s+#\s+(?P<version>v\d+\.\d+\.\d+)\s*$")
# What a shell step may do: install the pinned tools, call a task or a checker.
ALLOWED_RUN_LINES = (
    re.compile(
        r"python -m pip install --require-hashes -r \.ganymede-sync/requirements\.txt"
        r"( -r requirements-dev\.txt)?( -r requirements-flows\.txt)?"
    ),
    re.compile(
        r'invoke [a-z-]+( --[a-z-]+( "\$[A-Z_]+"| [a-z]+)?)*( \$\{FLOW:\+--flow "\$FLOW"\})?'
        r"( \$\{NO_LIB:\+--no-lib\})?( \$\{IGNORE_SMOKE:\+--ignore-smoke\})?"
        r"( \$\{NOTHING_CHANGED:\+--nothing-changed\})?"
    ),
    re.compile(r"ruff (check|format --check)"),
    re.compile(r"actionlint"),
    re.compile(r'echo "::notice title=[^:$`"]+::[^$`"]+"'),
    re.compile(r'echo "::error title=[^:$`"]+::[^$`"]+"'),
    re.compile(r"exit 1"),
    # status exits 2 for "something to send": only that code is let through (or stopped).
    re.compile(
        r'invoke status( --offline)? --env "\$ENVIRONMENT"'
        r'( --json-file "\$RUNNER_TEMP/plan-\$ENVIRONMENT\.json")? \|\| test "\$\?" -(eq|ne) 2'
    ),
    re.compile(r'echo "[^`"]*" >> "\$GITHUB_STEP_SUMMARY"'),
    # A task's name=value lines become step outputs (the settings in ganymede.toml).
    re.compile(r'invoke [a-z-]+ --env "\$ENVIRONMENT" >> "\$GITHUB_OUTPUT"'),
    # The deploy record (a tag) leaves the deploy job as a git bundle.
    re.compile(
        r'git bundle create "\$RUNNER_TEMP/deploy-record-\$ENVIRONMENT\.bundle" "\$RECORD" \^HEAD'
    ),
)
RECORD_JOB = ("deploy.yml", "record")
"""Runs git only (no Python, no task): its script is run for real in its own tests below."""
HANDOFF_STEPS = {
    "Hand the changes to the propose job", "Apply the pulled changes",
    "Hand the promotion to the propose job", "Apply the promotion",
}  # fmt: skip
"""Steps that pass a job's changes to the next as a patch: run for real in tests below."""
# Exactly the permissions each job needs; anything else is a finding.
JOB_PERMISSIONS = {
    ("pull.yml", "pull"): {"contents": "read"},
    ("pull.yml", "propose"): {"contents": "write", "pull-requests": "write"},
    ("deploy.yml", "changes"): {"contents": "read"},
    ("deploy.yml", "deploy"): {"contents": "read"},
    ("deploy.yml", "record"): {"contents": "write"},
    ("deploy.yml", "review"): {},
    ("deploy.yml", "plan"): {"contents": "read"},
    ("deploy.yml", "plans"): {},
    ("deploy.yml", "comment"): {"contents": "read", "pull-requests": "write"},
    ("ci.yml", "checks"): {"contents": "read"},
    ("promote.yml", "smoke"): {"contents": "read"},
    ("promote.yml", "promote"): {"contents": "read"},
    ("promote.yml", "propose"): {"contents": "write", "pull-requests": "write"},
}


def environment_names(answers: dict[str, str]) -> list[str]:
    return [name.strip() for name in answer(answers, "environments").split(",")]


def load_workflow(path: Path) -> dict:
    """Parse a workflow; PyYAML reads the key `on` as True, so put it back."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in document:
        document["on"] = document.pop(True)
    return document


def steps_of(document: dict):
    for job_id, job in document["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, job, step


@pytest.fixture
def generated(baked):
    """The repository of one answer set, its answers and its parsed workflows."""
    folder = baked.path / ".github" / "workflows"
    workflows = {name: load_workflow(folder / name) for name in WORKFLOWS}
    return baked.path, baked.answers, workflows


def test_repository_has_exactly_the_four_workflows(generated):
    repo, _, _ = generated
    found = sorted(path.name for path in (repo / ".github" / "workflows").iterdir())
    assert found == sorted(WORKFLOWS)


def test_default_permissions_are_empty_in_every_workflow(generated):
    _, _, workflows = generated
    for name, document in workflows.items():
        assert document["permissions"] == {}, name


def test_every_job_gets_only_the_permissions_it_needs(generated):
    _, _, workflows = generated
    jobs = {
        (name, job_id): job
        for name, doc in workflows.items()
        for job_id, job in doc["jobs"].items()
    }
    assert set(jobs) == set(JOB_PERMISSIONS)
    for key, job in jobs.items():
        assert job.get("permissions") == JOB_PERMISSIONS[key], key


def test_every_action_is_pinned_to_a_known_commit_with_its_version(generated):
    repo, _, workflows = generated
    for name in workflows:
        lines = (repo / ".github" / "workflows" / name).read_text(encoding="utf-8").splitlines()
        uses = [USES_LINE.match(line) for line in lines if USES_LINE.match(line)]
        assert uses, name
        for match in uses:
            assert re.fullmatch(r"[0-9a-f]{40}", match["ref"]), match.group(0)
            comment = PINNED_COMMENT.match(match["rest"])
            assert comment, f"{name}: no version comment on {match.group(0).strip()}"
            assert PINS[match["ref"]] == (match["action"], comment["version"]), match.group(0)


def test_parsed_uses_are_all_commit_pins(generated):
    """The same rule from the parsed YAML, so a `uses:` the line regex misses still counts."""
    _, _, workflows = generated
    for name, document in workflows.items():
        for job_id, _, step in steps_of(document):
            if "uses" in step:
                action, _, ref = step["uses"].partition("@")
                assert ref in PINS and PINS[ref][0] == action, (name, job_id, step["uses"])


def test_no_expression_is_expanded_inside_a_shell_script(generated):
    _, _, workflows = generated
    for name, document in workflows.items():
        for job_id, _, step in steps_of(document):
            assert "${{" not in step.get("run", ""), (name, job_id, step.get("name"))


def test_shell_steps_only_install_tools_and_call_tasks(generated):
    _, _, workflows = generated
    for name, document in workflows.items():
        for job_id, _, step in steps_of(document):
            if (name, job_id) == RECORD_JOB or step.get("name") in HANDOFF_STEPS:
                continue
            for line in step.get("run", "").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    allowed = any(pattern.fullmatch(line) for pattern in ALLOWED_RUN_LINES)
                    assert allowed, f"{name} job {job_id}: {line}"


def test_checkout_never_leaves_credentials_behind(generated):
    _, _, workflows = generated
    for name, document in workflows.items():
        for job_id, _, step in steps_of(document):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, (name, job_id)


def test_every_job_has_a_timeout(generated):
    _, _, workflows = generated
    for name, document in workflows.items():
        for job_id, job in document["jobs"].items():
            assert 0 < job["timeout-minutes"] <= 30, (name, job_id)


def test_deploys_queue_per_environment_in_its_github_environment(generated):
    _, _, workflows = generated
    job = workflows["deploy.yml"]["jobs"]["deploy"]
    assert job["environment"] == "${{ matrix.environment }}"
    # queue: max keeps every pending job (first in, first out): by default GitHub keeps
    # one and a newer one cancels it, so a pull queued behind a deploy dropped a deploy.
    assert job["concurrency"] == {
        "group": "ganymede-${{ matrix.environment }}",
        "cancel-in-progress": False,
        "queue": "max",
    }
    checkout = job["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"]["fetch-depth"] == 0, "deploy reads history"
    # Then the smoke runs: a deployed flow that no longer runs fails the job.
    deploy = next(step for step in job["steps"] if step.get("id") == "deploy")
    assert (
        deploy["run"]
        == 'invoke deploy --env "$ENVIRONMENT" --smoke ${FLOW:+--flow "$FLOW"} ${NO_LIB:+--no-lib}'
    )


def test_flow_tests_run_on_pull_requests_with_the_flows_packages(generated):
    _, _, workflows = generated
    ci = workflows["ci.yml"]
    assert "pull_request" in ci["on"]
    runs = [step.get("run", "") for step in ci["jobs"]["checks"]["steps"]]
    install = next(i for i, run in enumerate(runs) if "pip install" in run)
    assert runs[install].endswith("-r requirements-flows.txt")
    assert runs.index("invoke test") > install
    assert not [run for run in runs if "pytest" in run], "the flow tests run once, by invoke test"


def test_a_deploy_runs_only_after_its_environments_flow_tests_pass(generated):
    """Steps run in order and a failed step skips the rest: a failing test stops the deploy."""
    _, _, workflows = generated
    steps = workflows["deploy.yml"]["jobs"]["deploy"]["steps"]
    runs = [step.get("run", "") for step in steps]
    install = next(i for i, run in enumerate(runs) if "pip install" in run)
    tests = runs.index('invoke test --env "$ENVIRONMENT"')
    assert runs[install].endswith("-r requirements-flows.txt")
    deploy = runs.index(
        'invoke deploy --env "$ENVIRONMENT" --smoke ${FLOW:+--flow "$FLOW"} ${NO_LIB:+--no-lib}'
    )
    assert install < tests < deploy
    assert steps[tests]["env"] == {"ENVIRONMENT": "${{ matrix.environment }}"}
    assert not any(
        "if" in step or "continue-on-error" in step for step in steps[tests : deploy + 1]
    )
    # After the deploy, only its record is handed on (when the deploy made one), and the
    # team told; the notice never fails the job (invoke notify warns instead).
    *handing, tell = steps[deploy + 1 :]
    assert all(step["if"].endswith("steps.deploy.outputs.record != ''") for step in handing)
    assert tell["if"] == "always()" and tell["run"].startswith("invoke notify ")


def test_a_deploy_sends_the_tip_of_the_default_branch_not_its_own_commit(generated):
    """Queued jobs run in wait order, not push order: each must deploy the tip, or a job of
    an older push could send older code after a newer one."""
    _, answers, workflows = generated
    checkout = workflows["deploy.yml"]["jobs"]["deploy"]["steps"][0]
    assert checkout["with"]["ref"] == answer(answers, "default_branch")


def record_steps(workflows) -> tuple[dict, dict]:
    """The deploy job's bundling step and the record job's pushing step."""
    jobs = workflows["deploy.yml"]["jobs"]
    bundle = next(s for s in jobs["deploy"]["steps"] if "git bundle create" in s.get("run", ""))
    push = next(s for s in jobs["record"]["steps"] if "push" in s.get("run", ""))
    return bundle, push


def git_in(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_deploy_records_travel_as_bundles_and_only_the_record_job_pushes_them(generated, tmp_path):
    """The deploy job (Ganymede token, read-only GITHUB_TOKEN) bundles its tag; the record
    job (no secret, contents: write) pushes exactly the bundled deploy/ tags."""
    _, _, workflows = generated
    bundle, push = record_steps(workflows)
    jobs = workflows["deploy.yml"]["jobs"]
    assert "environment" not in jobs["record"] and "secrets." not in json.dumps(jobs["record"])
    assert jobs["record"]["needs"] == "deploy" and "always()" in jobs["record"]["if"]
    assert bundle["if"] == push_if(jobs) == "always() && steps.deploy.outputs.record != ''"
    origin, runner, recorder, temp = (tmp_path / name for name in ("origin", "a", "b", "temp"))
    temp.mkdir()
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    subprocess.run(["git", "clone", "-q", str(origin), str(runner)], check=True)
    git_in(runner, "commit", "-q", "--allow-empty", "-m", "deployed")
    git_in(runner, "push", "-q", "origin", "HEAD")
    git_in(runner, "tag", "-a", "-m", "record", "deploy/dev/20261204T000000Z")
    git_in(runner, "tag", "-a", "-m", "other", "v1")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "RUNNER_TEMP": str(temp)}
    shell = ["bash", "-e", "-o", "pipefail", "-c"]
    step = {**env, "ENVIRONMENT": "dev", "RECORD": "refs/tags/deploy/dev/20261204T000000Z"}
    subprocess.run([*shell, bundle["run"]], cwd=runner, env=step, check=True)
    subprocess.run(["git", "clone", "-q", str(origin), str(recorder)], check=True)
    pushing = {**env, "GH_TOKEN": "ghs_secret-value", "RECORDS": str(temp)}
    done = subprocess.run([*shell, push["run"]], cwd=recorder, env=pushing, capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = [line for line in done.stdout.splitlines() if not line.startswith("::add-mask::")]
    assert shown == ["recorded refs/tags/deploy/dev/20261204T000000Z"]
    assert "ghs_secret" not in done.stdout + done.stderr
    assert git_in(origin, "tag", "--list") == "deploy/dev/20261204T000000Z"
    # A bundle that holds anything but a deploy/ tag is refused, and nothing is pushed.
    git_in(runner, "bundle", "create", str(temp / "deploy-record-prod.bundle"), "v1", "^HEAD")
    done = subprocess.run([*shell, push["run"]], cwd=recorder, env=pushing, capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 1 and "not a deploy/ tag" in done.stdout
    assert git_in(origin, "tag", "--list") == "deploy/dev/20261204T000000Z"
    # No bundle at all: nothing was sent, nothing to push.
    for found in temp.iterdir():
        found.unlink()
    done = subprocess.run([*shell, push["run"]], cwd=recorder, env=pushing, capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0 and "no record to push" in done.stdout


def push_if(jobs: dict) -> str:
    upload = next(s for s in jobs["deploy"]["steps"] if "upload-artifact" in s.get("uses", ""))
    return upload["if"]


def test_pull_and_deploy_of_an_environment_share_one_concurrency_group(generated):
    _, _, workflows = generated
    deploy = workflows["deploy.yml"]["jobs"]["deploy"]["concurrency"]
    pull = workflows["pull.yml"]["jobs"]["pull"]["concurrency"]
    assert pull == deploy
    assert pull["cancel-in-progress"] is False


def test_a_pull_stops_while_the_default_branch_holds_undeployed_code(generated, tmp_path):
    """A pull must not propose to undo code a deploy has not sent yet, and says why."""
    _, answers, workflows = generated
    steps = workflows["pull.yml"]["jobs"]["pull"]["steps"]
    runs = [s.get("run", "") for s in steps]
    guard = next(i for i, run in enumerate(runs) if "invoke status" in run)
    assert guard < next(i for i, run in enumerate(runs) if run.startswith("invoke pull"))
    fake = tmp_path / "invoke"
    codes = {}
    for status in (0, 1, 2):
        fake.write_text(f"#!/bin/sh\nexit {status}\n", encoding="utf-8")
        fake.chmod(0o755)
        done = subprocess.run(
            ["bash", "-e", "-c", runs[guard]], capture_output=True, text=True,
            env={"PATH": f"{tmp_path}:/usr/bin:/bin", "ENVIRONMENT": "prod"},
        )  # fmt: skip
        codes[status] = done.returncode
    # Only "something to send" (2) stops the pull; Ganymede's own edits (1) are its job.
    assert codes == {0: 0, 1: 0, 2: 1}
    explain = steps[guard + 1]
    assert explain["if"] == f"failure() && steps.{steps[guard]['id']}.outcome == 'failure'"
    assert explain["run"].startswith('echo "::error title=Not deployed yet::')
    assert "Run the deploy workflow for this environment" in explain["run"]
    assert answer(answers, "default_branch") in explain["run"]


def test_only_the_default_branch_deploys_and_only_after_the_github_set_up(generated):
    _, answers, workflows = generated
    ref = f"refs/heads/{answer(answers, 'default_branch')}"
    jobs = workflows["deploy.yml"]["jobs"]
    condition = jobs["deploy"]["if"]
    assert f"github.ref == '{ref}'" in condition
    assert "vars.GANYMEDE_SUBDOMAIN != ''" in condition
    guard = jobs["changes"]["steps"][0]
    assert guard["if"] == f"github.event_name == 'workflow_dispatch' && github.ref != '{ref}'"
    assert guard["run"].strip().endswith("exit 1")
    notice = jobs["changes"]["steps"][1]
    assert notice["if"] == "github.event_name == 'push' && vars.GANYMEDE_SUBDOMAIN == ''"
    pull = workflows["pull.yml"]["jobs"]["pull"]["if"]
    assert pull == f"vars.GANYMEDE_SUBDOMAIN != '' && github.ref == '{ref}'"


def test_every_job_that_holds_an_environments_token_runs_only_from_the_default_branch(
    generated,
):
    """A manual run "from my-branch" would run that branch's tasks.py with the token."""
    _, answers, workflows = generated
    guard = f"github.ref == 'refs/heads/{answer(answers, 'default_branch')}'"
    holders = [
        (name, job_name, job)
        for name, workflow in workflows.items()
        for job_name, job in workflow["jobs"].items()
        if "environment" in job
    ]
    assert {(name, job_name) for name, job_name, _ in holders} >= {
        ("deploy.yml", "deploy"), ("pull.yml", "pull"), ("promote.yml", "promote"),
    }  # fmt: skip
    for name, job_name, job in holders:
        assert guard in job.get("if", ""), f"{name} job {job_name} has no ref guard"


def test_changed_folders_come_from_a_two_dot_diff_or_the_merge_commits_first_parent(generated):
    _, _, workflows = generated
    step = next(s for s in workflows["deploy.yml"]["jobs"]["changes"]["steps"]
                if s.get("id") == "changed")  # fmt: skip
    assert step["env"]["BEFORE"] == (
        "${{ github.event_name == 'pull_request' && format('{0}^1', github.sha) "
        "|| github.event_name == 'merge_group' && github.event.merge_group.base_sha "
        "|| github.event.before }}"
    )
    assert "base.sha" not in json.dumps(step)


def test_push_runs_are_never_cancelled_by_later_pushes(generated):
    """A cancelled push run would never deploy its commits; only pull requests cancel."""
    _, _, workflows = generated
    concurrency = workflows["deploy.yml"]["concurrency"]
    assert "github.run_id" in concurrency["group"]
    assert concurrency["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"


def test_dispatch_choices_are_the_generated_environments(generated):
    _, answers, workflows = generated
    for name in ("pull.yml", "deploy.yml"):
        inputs = workflows[name]["on"]["workflow_dispatch"]["inputs"]
        assert inputs["environment"]["type"] == "choice"
        assert inputs["environment"]["options"] == environment_names(answers), name


def test_scheduled_pull_covers_every_environment_only_when_asked(generated):
    _, answers, workflows = generated
    pull = workflows["pull.yml"]
    schedule = answer(answers, "pull_schedule").strip()
    if schedule:
        assert pull["on"]["schedule"] == [{"cron": schedule}]
    else:
        assert "schedule" not in pull["on"]
    matrix = pull["jobs"]["pull"]["strategy"]["matrix"]["environment"]
    literal = re.search(r"'(\[[^']*\])'", matrix)
    assert literal and json.loads(literal.group(1)) == environment_names(answers)


def test_push_and_pull_request_triggers_follow_the_answers(generated):
    _, answers, workflows = generated
    branch = answer(answers, "default_branch")
    deploy = workflows["deploy.yml"]["on"]
    # No paths filter: GitHub matches it against a push's first 300 changed files only.
    assert deploy["push"] == {"branches": [branch]}
    assert deploy["pull_request"] is None, "a required check must never be skipped by paths"
    assert workflows["ci.yml"]["on"]["push"] == {"branches": [branch]}


def test_merge_groups_get_the_checks_and_the_plan_but_never_a_deploy(generated):
    _, _, workflows = generated
    deploy = workflows["deploy.yml"]
    assert "merge_group" in deploy["on"] and "merge_group" in workflows["ci.yml"]["on"]
    jobs = deploy["jobs"]
    assert "merge_group" in jobs["plan"]["if"] and "merge_group" in jobs["plans"]["if"]
    assert "github.event_name != 'merge_group'" in jobs["deploy"]["if"]
    before = next(
        step["env"]["BEFORE"] for step in jobs["changes"]["steps"] if step.get("id") == "changed"
    )
    # A merge group's payload has no "before": its base is merge_group.base_sha.
    assert "github.event_name == 'merge_group' && github.event.merge_group.base_sha" in before


def test_python_is_the_answered_version_with_a_pip_cache_of_the_installed_file(generated):
    _, answers, workflows = generated
    for name, document in workflows.items():
        for job_id, job in document["jobs"].items():
            setups = [
                s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python@")
            ]
            installs = [s["run"] for s in job["steps"] if "pip install" in s.get("run", "")]
            if (not job.get("permissions") and not setups) or (name, job_id) == RECORD_JOB:
                continue  # a job that runs no Python: the aggregate check, the record job
            assert len(setups) == 1 and len(installs) == 1, (name, job_id)
            settings = setups[0]["with"]
            assert settings["python-version"] == answer(answers, "python_version")
            assert settings["cache"] == "pip"
            cached = settings["cache-dependency-path"].split()
            assert installs[0].endswith(" ".join(f"-r {f}" for f in cached)), (name, job_id)


def test_the_api_token_reaches_only_pull_deploy_and_promote_steps(generated):
    _, _, workflows = generated
    for name, document in workflows.items():
        for job_id, job in document["jobs"].items():
            for key, value in job.get("env", {}).items():
                assert "secrets." not in value or value.endswith("!= '' }}"), (name, job_id, key)
            for step in job.get("steps", []):
                uses_token = "secrets.GANYMEDE_API_TOKEN" in json.dumps(step)
                calls_api = re.match(
                    r"invoke (pull|deploy|status|promote|smoke-status) ", step.get("run", "")
                )
                assert not uses_token or calls_api, (name, job_id, step.get("name"))


def sync_request_outputs(repo: Path, environment: str) -> dict[str, str]:
    """The outputs the pull workflow's settings step gives for ``environment``."""
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "sync-request", "--env", environment],
        cwd=repo,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(line.split("=", 1) for line in result.stdout.splitlines())


def test_sync_pull_request_comes_from_a_fixed_branch_with_the_bot_identity(generated):
    """The values come from ganymede.toml through a task, resolved here per environment."""
    repo, answers, workflows = generated
    steps = workflows["pull.yml"]["jobs"]["propose"]["steps"]
    create = next(s for s in steps if s.get("uses", "").startswith("peter-evans/"))
    read = next(s for s in steps if s.get("run", "").startswith("invoke sync-request"))
    assert read["env"]["ENVIRONMENT"] == "${{ matrix.environment }}"
    assert read["run"].endswith('>> "$GITHUB_OUTPUT"')
    identity = f"{answer(answers, 'sync_bot_name')} <{answer(answers, 'sync_bot_email')}>"
    output = re.compile(rf"\$\{{\{{ steps\.{read['id']}\.outputs\.([a-z-]+) \}}\}}")
    for environment in environment_names(answers):
        outputs = sync_request_outputs(repo, environment)
        resolved = {
            key: output.sub(lambda match, given=outputs: given[match[1]], value)
            for key, value in create["with"].items()
            if isinstance(value, str)
        }
        assert resolved["branch"] == f"ganymede-sync/{environment}"
        assert resolved["author"] == identity
        assert resolved["committer"] == identity
        expected = f"Sync flows in environment {environment} from Ganymede"
        assert resolved["commit-message"] == expected
    pulling = workflows["pull.yml"]["jobs"]["pull"]["steps"]
    pull = next(s for s in pulling if s.get("run", "").startswith("invoke pull"))
    assert pull["env"]["FLOW"] == "${{ inputs.flow }}", "the free-text input goes through env"


def test_pull_request_plans_need_no_github_environment_and_no_secret(generated):
    """A "Selected branches" policy refuses pull request jobs in the environment."""
    _, _, workflows = generated
    job = workflows["deploy.yml"]["jobs"]["plan"]
    assert "environment" not in job
    assert "secrets." not in json.dumps(job)
    runs = [step.get("run", "") for step in job["steps"]]
    assert 'invoke check --env "$ENVIRONMENT"' in runs
    saved = '--json-file "$RUNNER_TEMP/plan-$ENVIRONMENT.json"'
    assert f'invoke status --offline --env "$ENVIRONMENT" {saved} || test "$?" -eq 2' in runs


def test_one_aggregate_check_reports_every_pull_request(generated):
    _, _, workflows = generated
    job = workflows["deploy.yml"]["jobs"]["plans"]
    assert job["name"] == "deploy plan"
    assert job["needs"] == ["changes", "plan"]
    assert job["if"] == (
        "always() && (github.event_name == 'pull_request' || github.event_name == 'merge_group')"
    )
    failing = job["steps"][0]
    assert "contains(needs.*.result, 'failure')" in failing["if"]
    assert "contains(needs.*.result, 'cancelled')" in failing["if"]
    assert failing["run"].strip().endswith("exit 1")


def test_the_pull_summary_links_the_sync_pull_request(generated):
    _, _, workflows = generated
    steps = workflows["pull.yml"]["jobs"]["propose"]["steps"]
    create = next(s for s in steps if s.get("uses", "").startswith("peter-evans/"))
    link = next(s for s in steps if s.get("name") == "Link the sync pull request in the summary")
    outputs = f"steps.{create['id']}.outputs"
    assert link["env"]["URL"] == f"${{{{ {outputs}.pull-request-url }}}}"
    assert link["env"]["OPERATION"] == f"${{{{ {outputs}.pull-request-operation }}}}"
    assert '$URL" >> "$GITHUB_STEP_SUMMARY"' in link["run"]


def test_only_the_reviewed_zizmor_ignores_are_present(generated):
    """Each zizmor ignore is a proven false positive, explained in its workflow."""
    repo, _, workflows = generated
    ignores = []
    for path in sorted((repo / ".github").rglob("*.yml")):
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            if "zizmor: ignore" in line:
                ignores.append((path.name, line.strip()))
        if "ignore[cache-poisoning]" in text:
            assert "# Pip cache note:" in text, path.name
    cache = "cache: pip # zizmor: ignore[cache-poisoning] -- see the pip cache note above"
    create_pr = "- name: Open or update the pull request # zizmor: ignore[superfluous-actions]"
    expected = [("ci.yml", cache)] + [("deploy.yml", cache)] * 4
    expected += [("promote.yml", create_pr), ("pull.yml", create_pr)]
    assert ignores == expected
    for name in ("ci.yml", "deploy.yml"):
        installs = [s["run"] for _, _, s in steps_of(workflows[name]) if "pip" in s.get("run", "")]
        assert installs and all("--require-hashes" in run for run in installs), name


def test_dependabot_updates_actions_and_python_tools_after_a_cooldown(generated):
    repo, _, _ = generated
    config = yaml.safe_load((repo / ".github" / "dependabot.yml").read_text(encoding="utf-8"))
    ecosystems = {update["package-ecosystem"]: update for update in config["updates"]}
    assert set(ecosystems) == {"github-actions", "pip"}
    for update in ecosystems.values():
        assert update["cooldown"]["default-days"] >= 7


def test_pre_commit_runs_the_pinned_tools_locally(generated):
    repo, answers, _ = generated
    config = yaml.safe_load((repo / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    (local,) = config["repos"]
    assert local["repo"] == "local"
    hooks = {hook["id"]: hook for hook in local["hooks"]}
    assert set(hooks) == {"ruff-check", "ruff-format", "invoke-check", "actionlint"}
    assert {hook["language"] for hook in hooks.values()} == {"system"}
    check = re.compile(hooks["invoke-check"]["files"])
    for name in environment_names(answers):
        assert check.search(f"{name}/flow/node/function.py"), name
    assert not check.search("tests/test_x.py")
    assert re.search(hooks["actionlint"]["files"], ".github/workflows/ci.yml")


def test_codeowners_is_an_example_that_changes_nothing_until_edited(generated):
    repo, answers, _ = generated
    lines = (repo / ".github" / "CODEOWNERS").read_text(encoding="utf-8").splitlines()
    assert all(not line.strip() or line.startswith("#") for line in lines)
    for name in environment_names(answers):
        assert any(line.startswith(f"# /{name}/ ") for line in lines), name


def test_promotion_opens_one_pull_request_per_pair_with_the_plan_as_its_body(generated):
    _, answers, workflows = generated
    promote = workflows["promote.yml"]
    inputs = promote["on"]["workflow_dispatch"]["inputs"]
    names = environment_names(answers)
    assert inputs["source"]["type"] == inputs["target"]["type"] == "choice"
    assert inputs["source"]["options"] == names
    assert sorted(inputs["target"]["options"]) == sorted(names)
    assert inputs["flows"]["type"] == "string" and inputs["flows"]["required"] is False
    job = promote["jobs"]["promote"]
    assert job["if"] == f"github.ref == 'refs/heads/{answer(answers, 'default_branch')}'"
    # The target's environment: its token reads the target's state for the plan.
    assert job["environment"] == {"name": "${{ inputs.target }}", "deployment": False}
    group = promote["concurrency"]["group"]
    assert group == "promote-${{ inputs.source }}-to-${{ inputs.target }}"
    assert job["steps"][0]["with"]["fetch-depth"] == 0, "the plan reads the target's history"
    run = next(s for s in job["steps"] if s.get("run", "").startswith("invoke promote"))
    assert run["run"] == (
        'invoke promote --from "$SOURCE" --to "$TARGET" --body-file "$PR_BODY" '
        '--smoke-results "$SMOKE" ${FLOW:+--flow "$FLOW"} ${IGNORE_SMOKE:+--ignore-smoke}'
    )
    assert (
        inputs["ignore_smoke"]["type"] == "boolean" and inputs["ignore_smoke"]["default"] is False
    )
    assert run["env"]["FLOW"] == "${{ inputs.flows }}", "the free-text input goes through env"
    assert "--commit" not in run["run"], "create-pull-request makes the commit"
    proposing = promote["jobs"]["propose"]["steps"]
    create = next(s for s in proposing if "create-pull-request" in s.get("uses", ""))
    assert create["uses"].startswith("peter-evans/create-pull-request@")
    assert create["with"]["branch"] == "promote/${{ inputs.source }}-to-${{ inputs.target }}"
    assert create["with"]["base"] == answer(answers, "default_branch")
    assert create["with"]["add-paths"].strip() == "${{ inputs.target }}/**"
    assert create["with"]["body-path"] == "${{ runner.temp }}/promotion/promotion.md"
    assert run["env"]["PR_BODY"] == "${{ runner.temp }}/promotion.md"


def test_only_the_comment_job_writes_the_plan_comment_and_never_for_forks(generated):
    """One job may write pull request comments; it holds no secret, and a fork or
    Dependabot pull request (read-only token) gets a notice instead of a failing post."""
    _, _, workflows = generated
    jobs = workflows["deploy.yml"]["jobs"]
    writers = [
        (name, job_id)
        for name, document in workflows.items()
        for job_id, job in document["jobs"].items()
        if (job.get("permissions") or {}).get("pull-requests") == "write"
    ]
    assert ("deploy.yml", "comment") in writers
    comment = jobs["comment"]
    assert "environment" not in comment and "secrets." not in json.dumps(comment)
    assert comment["needs"] == ["changes", "plan"] and "always()" in comment["if"]
    same_repository = "github.event.pull_request.head.repo.full_name == github.repository"
    notice, *rest = comment["steps"]
    assert notice["run"].startswith('echo "::notice title=No plan comment::')
    assert all(same_repository in step["if"] for step in rest)
    assert all("user.login != 'dependabot[bot]'" in step["if"] for step in rest)
    post = rest[-1]
    assert post["run"].startswith('invoke plan-comment --plans "$PLANS" --pr "$PULL_REQUEST"')
    assert post["env"]["GH_TOKEN"] == "${{ github.token }}"
    assert post["run"].endswith("${NOTHING_CHANGED:+--nothing-changed}")
    assert post["env"]["NOTHING_CHANGED"].startswith(
        "${{ needs.changes.outputs.environments == '[]'"
    )
    upload = next(s for s in jobs["plan"]["steps"] if "upload-artifact" in s.get("uses", ""))
    assert upload["with"]["name"] == "plan-${{ matrix.environment }}"


def test_the_team_is_told_of_deploys_drift_and_waiting_promotions(generated):
    """Each notice runs invoke notify with the optional webhook secret, and nothing else."""
    _, _, workflows = generated
    tells = {
        name: [s for _, _, s in steps_of(document) if s.get("run", "").startswith("invoke notify")]
        for name, document in workflows.items()
    }
    assert [len(tells[name]) for name in ("deploy.yml", "pull.yml", "promote.yml")] == [1, 1, 1]
    assert tells["ci.yml"] == []
    events = {name: found[0]["run"].split("--event ")[1].split()[0]
              for name, found in tells.items() if found}  # fmt: skip
    assert events == {"deploy.yml": "deploy", "pull.yml": "drift", "promote.yml": "promotion"}
    for found in tells.values():
        for step in found:
            assert step["env"]["GANYMEDE_WEBHOOK_URL"] == "${{ secrets.GANYMEDE_WEBHOOK_URL }}"
    for name in ("pull.yml", "promote.yml"):
        assert "pull-request-operation == 'created'" in tells[name][0]["if"]


def test_a_manual_deploy_may_choose_flows_and_leave_lib_out(generated):
    """The dispatch's flows and lib inputs reach invoke deploy through variables, and only
    on a manual run: inputs are null on a push, and null == false in expressions."""
    _, _, workflows = generated
    deploy_yml = workflows["deploy.yml"]
    inputs = deploy_yml["on"]["workflow_dispatch"]["inputs"]
    assert inputs["flows"]["type"] == "string" and inputs["lib"]["default"] is True
    step = next(s for s in deploy_yml["jobs"]["deploy"]["steps"] if s.get("id") == "deploy")
    assert step["env"]["FLOW"].startswith("${{ github.event_name == 'workflow_dispatch' && ")
    assert step["env"]["NO_LIB"].startswith("${{ github.event_name == 'workflow_dispatch' && !")


def test_no_job_holds_both_a_ganymede_token_and_a_write_token(generated):
    """Jobs that read Ganymede (its token, its archives) cannot push or open pull requests;
    the jobs that can never name the token."""
    _, _, workflows = generated
    for name, document in workflows.items():
        for job_id, job in document["jobs"].items():
            writes = "write" in (job.get("permissions") or {}).values()
            if writes:
                assert "secrets.GANYMEDE_API_TOKEN" not in json.dumps(job), (name, job_id)


def step_named(job: dict, name: str) -> dict:
    return next(step for step in job["steps"] if step.get("name") == name)


def run_script(script: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"], "HOME": str(cwd.parent)}
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd,
                          env={**base, **env}, capture_output=True, text=True)  # fmt: skip


def test_a_pulls_changes_reach_the_propose_job_as_a_patch_of_the_folder_only(generated, tmp_path):
    _, _, workflows = generated
    jobs = workflows["pull.yml"]["jobs"]
    hand = step_named(jobs["pull"], "Hand the changes to the propose job")
    apply = step_named(jobs["propose"], "Apply the pulled changes")
    origin, puller, proposer, temp = (tmp_path / n for n in ("origin", "a", "b", "temp"))
    (temp / "sync").mkdir(parents=True)
    origin.mkdir()
    git_in(origin, "init", "-q", "-b", "main")
    for path, text in {"dev/flow/node/function.py": "v1\n", ".ganymede/dev.json": "{}\n",
                       "tasks.py": "ours\n"}.items():  # fmt: skip
        (origin / path).parent.mkdir(parents=True, exist_ok=True)
        (origin / path).write_text(text)
    git_in(origin, "add", "-A")
    git_in(origin, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "start")
    for clone in (puller, proposer):
        subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
    (puller / "dev/flow/node/function.py").write_text("v2 from Ganymede\n")
    (puller / "dev/flow/new/function.py").parent.mkdir()
    (puller / "dev/flow/new/function.py").write_bytes(b"\x00binary\n")
    (puller / ".ganymede/dev.json").write_text('{"pulled": 2}\n')
    (puller / "tasks.py").write_text("changed by a hostile pull\n")  # never handed on
    done = run_script(hand["run"], puller, ENVIRONMENT="dev", RUNNER_TEMP=str(temp))
    assert done.returncode == 0, done.stderr
    (temp / "sync-dev.patch").rename(temp / "sync" / "sync-dev.patch")
    output = temp / "output"
    patch = str(temp / "sync" / "sync-dev.patch")
    done = run_script(apply["run"], proposer, ENVIRONMENT="dev", PATCH=patch,
                      GITHUB_OUTPUT=str(output))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert output.read_text() == "ready=yes\n"
    assert (proposer / "dev/flow/node/function.py").read_text() == "v2 from Ganymede\n"
    assert (proposer / "dev/flow/new/function.py").read_bytes() == b"\x00binary\n"
    assert (proposer / ".ganymede/dev.json").read_text() == '{"pulled": 2}\n'
    assert (proposer / "tasks.py").read_text() == "ours\n"
    # A patch that reaches outside the folder applies only its folder part.
    git_in(puller, "add", "-A")
    (temp / "sync" / "sync-dev.patch").write_text(
        git_in(puller, "diff", "--cached", "--binary") + "\n"
    )
    git_in(proposer, "reset", "-q", "--hard")
    done = run_script(apply["run"], proposer, ENVIRONMENT="dev", PATCH=patch,
                      GITHUB_OUTPUT=str(output))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (proposer / "tasks.py").read_text() == "ours\n"
    # No patch (the pull stopped): nothing is proposed, so the sync pull request stays.
    (temp / "sync" / "sync-dev.patch").unlink()
    output.unlink()
    done = run_script(apply["run"], proposer, ENVIRONMENT="dev", PATCH=patch,
                      GITHUB_OUTPUT=str(output))  # fmt: skip
    assert done.returncode == 0 and "::notice title=Nothing to propose::" in done.stdout
    assert not output.exists()
    proposing = [s for s in jobs["propose"]["steps"] if "sync-request" in s.get("run", "")
                 or "create-pull-request" in s.get("uses", "")]  # fmt: skip
    assert all(s["if"].startswith("steps.pulled.outputs.ready == 'yes'") for s in proposing)


def test_a_promotion_reaches_the_propose_job_as_a_patch_of_the_target_only(generated, tmp_path):
    _, _, workflows = generated
    jobs = workflows["promote.yml"]["jobs"]
    hand = step_named(jobs["promote"], "Hand the promotion to the propose job")
    apply = step_named(jobs["propose"], "Apply the promotion")
    assert jobs["promote"]["needs"] == "smoke" and jobs["propose"]["needs"] == "promote"
    assert jobs["smoke"]["environment"]["name"] == "${{ inputs.source }}"
    work, other, temp = tmp_path / "a", tmp_path / "b", tmp_path / "temp"
    temp.mkdir()
    work.mkdir()
    git_in(work, "init", "-q", "-b", "main")
    (work / "prod").mkdir()
    (work / "prod/f.py").write_text("old\n")
    (work / "dev").mkdir()
    (work / "dev/f.py").write_text("new\n")
    git_in(work, "add", "-A")
    git_in(work, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "start")
    subprocess.run(["git", "clone", "-q", str(work), str(other)], check=True)
    (work / "prod/f.py").write_text("new\n")
    (work / "dev/f.py").write_text("not promoted\n")
    done = run_script(hand["run"], work, TARGET="prod", RUNNER_TEMP=str(temp))
    assert done.returncode == 0, done.stderr
    done = run_script(apply["run"], other, TARGET="prod", PATCH=str(temp / "promotion.patch"))
    assert done.returncode == 0, done.stderr
    assert (other / "prod/f.py").read_text() == "new\n" and (
        other / "dev/f.py"
    ).read_text() == "new\n"


def test_reviewers_gate_protected_deploys_outside_every_concurrency_group(generated):
    """A job waiting for approval holds its concurrency group: the review job has none, in
    an environment of its own with no secret, and the deploy job needs it."""
    _, _, workflows = generated
    jobs = workflows["deploy.yml"]["jobs"]
    review, deploy = jobs["review"], jobs["deploy"]
    assert "concurrency" not in review and review["permissions"] == {}
    assert review["environment"]["name"] == "${{ matrix.environment }}-review"
    assert (
        review["strategy"]["matrix"]["environment"]
        == "${{ fromJSON(needs.changes.outputs.reviewed) }}"
    )
    assert "needs.changes.outputs.reviewed != '[]'" in review["if"]
    assert "secrets." not in json.dumps(review) and "uses" not in json.dumps(review["steps"])
    assert deploy["needs"] == ["changes", "review"]
    reviewed = "(needs.review.result == 'success' || needs.review.result == 'skipped')"
    for rule in ("always()", "needs.changes.result == 'success'", reviewed):
        assert rule in deploy["if"]
    changed = next(s for s in jobs["changes"]["steps"] if s.get("id") == "changed")
    assert (
        changed["run"].endswith('--only "$CHOSEN"')
        and changed["env"]["CHOSEN"] == "${{ inputs.environment }}"
    )
    assert jobs["changes"]["outputs"]["reviewed"] == "${{ steps.changed.outputs.reviewed || '[]' }}"


class ConcurrencyGroup:
    """GitHub's documented model of one concurrency group, as far as queueing goes: one
    running job; by default one pending slot, where a newer pending job cancels the older
    one; with ``queue: max``, up to 100 pending jobs, first in, first out."""

    def __init__(self, settings: dict) -> None:
        self.limit = 100 if settings.get("queue") == "max" else 1
        self.running: str | None = None
        self.pending: list[str] = []
        self.cancelled: list[str] = []
        self.ran: list[str] = []

    def arrive(self, job: str) -> None:
        if self.running is None:
            self.running = job
            return
        self.pending.append(job)
        if len(self.pending) > self.limit:
            self.cancelled.append(self.pending.pop(0))

    def finish(self) -> None:
        self.ran.append(self.running)
        self.running = self.pending.pop(0) if self.pending else None


def test_a_pull_queued_behind_a_pending_deploy_cancels_nothing(generated):
    """Deploy A runs, deploy B waits, a scheduled pull arrives: in the workflows' own
    concurrency settings all three run in order; in GitHub's default, B would be lost."""
    _, _, workflows = generated
    deploy = workflows["deploy.yml"]["jobs"]["deploy"]["concurrency"]
    pull = workflows["pull.yml"]["jobs"]["pull"]["concurrency"]
    assert deploy == pull
    for settings, expected_cancelled in (
        (deploy, []),
        ({**deploy, "queue": "single"}, ["deploy B"]),
    ):
        group = ConcurrencyGroup(settings)
        for job in ("deploy A", "deploy B", "scheduled pull"):
            group.arrive(job)
        while group.running:
            group.finish()
        assert group.cancelled == expected_cancelled
        if not expected_cancelled:
            assert group.ran == ["deploy A", "deploy B", "scheduled pull"]
    # And the approval wait holds no group: the review job has none.
    assert "concurrency" not in workflows["deploy.yml"]["jobs"]["review"]
