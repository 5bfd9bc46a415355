"""`invoke github-setup` against a fake `gh` that records every call it gets."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ganymede_sync.local import github
from ganymede_sync.settings.config import load_settings
from tests.tooling.fake_gh import REPOSITORY, FakeGh, hide_gh, install_fake_gh, sha256
from tests.tooling.pull_helpers import copy_tooling

CONFIG = """\
[ganymede]
subdomain = "acme"

[environments.dev]
ganymede_environment = "acme-dev"

[environments.prod]
ganymede_environment = "acme-prod"
"""
DEV_TOKEN = "dev-token-7f3a9c"
PROD_TOKEN = "prod-token-b81e22"


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeGh:
    return install_fake_gh(tmp_path, monkeypatch)


@pytest.fixture(scope="session")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of this repository's tooling with a known two-environment ganymede.toml."""
    root = copy_tooling(tmp_path_factory.mktemp("repository"))
    (root / "ganymede.toml").write_text(CONFIG, encoding="utf-8")
    return root


def invoke(root: Path, *arguments: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *arguments],
        cwd=root,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def set_up(root: Path, tokens: str, *folders: str) -> dict[str, str]:
    """Run the library's set-up the way the task does; return the tokens it read."""
    settings = load_settings(root, environ={})
    cli = github.connect()
    target = github.target_from_settings(settings, folders, github.reviewer_ids(cli, []))
    state = github.read_state(cli, github.resolve_repository(cli), target.environments)
    given = github.read_tokens(state, target, stream=io.StringIO(tokens))
    steps = github.plan_setup(state, target, new_tokens=given)
    github.apply_plan(cli, steps, given)
    return given


def test_setup_of_a_fresh_repository_makes_exactly_the_documented_calls(
    gh: FakeGh, repository: Path
) -> None:
    set_up(repository, f"{DEV_TOKEN}\n{PROD_TOKEN}\n")

    repo = REPOSITORY
    assert gh.changing_calls() == [
        ["variable", "set", "GANYMEDE_SUBDOMAIN", "--body", "acme", "--repo", repo],
        ["api", "-X", "PUT", f"repos/{repo}/environments/dev", *CUSTOM_POLICY],
        ["api", "-X", "POST", f"repos/{repo}/environments/dev/deployment-branch-policies",
         "-f", "name=main", "-f", "type=branch"],
        ["variable", "set", "GANYMEDE_ENVIRONMENT", "--body", "acme-dev", "--env", "dev",
         "--repo", repo],
        ["secret", "set", "GANYMEDE_API_TOKEN", "--env", "dev", "--repo", repo],
        ["api", "-X", "PUT", f"repos/{repo}/environments/prod", *CUSTOM_POLICY],
        ["api", "-X", "POST", f"repos/{repo}/environments/prod/deployment-branch-policies",
         "-f", "name=main", "-f", "type=branch"],
        ["variable", "set", "GANYMEDE_ENVIRONMENT", "--body", "acme-prod", "--env", "prod",
         "--repo", repo],
        ["secret", "set", "GANYMEDE_API_TOKEN", "--env", "prod", "--repo", repo],
        # prod is protected: its deploys wait for the reviewers of prod-review.
        ["api", "-X", "PUT", f"repos/{repo}/environments/prod-review", "--input", "-"],
        ["api", "-X", "POST", f"repos/{repo}/environments/prod-review/deployment-branch-policies",
         "-f", "name=main", "-f", "type=branch"],
        ["api", "-X", "PUT", f"repos/{repo}/actions/permissions/workflow",
         "-f", "default_workflow_permissions=read", "-F", "can_approve_pull_request_reviews=true"],
    ]  # fmt: skip
    state = gh.state
    review = state["environments"]["prod-review"]
    assert review["reviewers"] == [{"type": "User", "reviewer": {"id": 1001}}]  # the gh user
    assert review["secrets"] == {} and review["variables"] == {}
    assert (
        "reviewers" not in state["environments"]["prod"]
        or not state["environments"]["prod"]["reviewers"]
    )
    assert state["variables"] == {"GANYMEDE_SUBDOMAIN": "acme"}
    assert state["environments"]["dev"]["secrets"] == {"GANYMEDE_API_TOKEN": sha256(DEV_TOKEN)}
    assert state["environments"]["prod"]["secrets"] == {"GANYMEDE_API_TOKEN": sha256(PROD_TOKEN)}
    assert state["environments"]["prod"]["variables"] == {"GANYMEDE_ENVIRONMENT": "acme-prod"}
    assert state["workflow_permissions"] == {
        "default_workflow_permissions": "read",
        "can_approve_pull_request_reviews": True,
    }


def test_token_travels_only_on_standard_input_and_never_in_output(
    gh: FakeGh, repository: Path
) -> None:
    result = invoke(repository, "github-setup", stdin=f"{DEV_TOKEN}\n{PROD_TOKEN}\n")

    assert result.returncode == 0, result.stderr
    for call in gh.calls():
        assert DEV_TOKEN not in " ".join(call["argv"])
        assert PROD_TOKEN not in " ".join(call["argv"])
    secret_inputs = [c["stdin"] for c in gh.calls() if c["argv"][:2] == ["secret", "set"]]
    assert secret_inputs == [f"{DEV_TOKEN}\n", f"{PROD_TOKEN}\n"]
    bodies = [c["stdin"] for c in gh.calls() if c["argv"][-2:] == ["--input", "-"]]
    assert len(bodies) == 1 and json.loads(bodies[0])["reviewers"]  # the review environment
    others = [
        c for c in gh.calls() if c["argv"][:2] != ["secret", "set"] and "--input" not in c["argv"]
    ]
    assert all(not c["stdin"] for c in others)
    for token in (DEV_TOKEN, PROD_TOKEN):
        assert token not in result.stdout + result.stderr
    assert "- set secret GANYMEDE_API_TOKEN in environment dev" in result.stdout


def test_running_setup_again_changes_nothing(gh: FakeGh, repository: Path) -> None:
    set_up(repository, f"{DEV_TOKEN}\n{PROD_TOKEN}\n")
    gh.clear_log()

    result = invoke(repository, "github-setup", stdin="")

    assert result.returncode == 0, result.stderr
    assert gh.changing_calls() == []
    assert "already set up" in result.stdout


def test_new_token_replaces_only_that_environments_secret(gh: FakeGh, repository: Path) -> None:
    set_up(repository, f"{DEV_TOKEN}\n{PROD_TOKEN}\n")
    gh.clear_log()

    set_up(repository, "\nrotated-prod-token\n")

    assert gh.changing_calls() == [
        ["secret", "set", "GANYMEDE_API_TOKEN", "--env", "prod", "--repo", REPOSITORY]
    ]
    secrets = {name: env["secrets"] for name, env in gh.state["environments"].items()}
    assert secrets["dev"] == {"GANYMEDE_API_TOKEN": sha256(DEV_TOKEN)}
    assert secrets["prod"] == {"GANYMEDE_API_TOKEN": sha256("rotated-prod-token")}


def test_changed_environment_name_in_config_is_overwritten(gh: FakeGh, repository: Path) -> None:
    set_up(repository, f"{DEV_TOKEN}\n{PROD_TOKEN}\n")
    environments = gh.state["environments"]
    environments["dev"]["variables"]["GANYMEDE_ENVIRONMENT"] = "old-name"
    gh.update(environments=environments)
    gh.clear_log()

    set_up(repository, "")

    assert gh.changing_calls() == [
        ["variable", "set", "GANYMEDE_ENVIRONMENT", "--body", "acme-dev", "--env", "dev",
         "--repo", REPOSITORY],
    ]  # fmt: skip


def test_dry_run_prints_the_plan_and_changes_nothing(gh: FakeGh, repository: Path) -> None:
    result = invoke(repository, "github-setup", "--dry-run", stdin=f"{DEV_TOKEN}\n")

    assert result.returncode == 0, result.stderr
    assert gh.changing_calls() == []
    assert gh.state["variables"] == {}
    assert "$ gh variable set GANYMEDE_SUBDOMAIN --body acme --repo" in result.stdout
    secret_line = f"$ gh secret set GANYMEDE_API_TOKEN --env prod --repo {REPOSITORY} < token"
    assert secret_line in result.stdout
    assert "12 step(s)" in result.stdout
    assert "create GitHub environment prod-review for approving deploys of prod" in result.stdout


def test_env_option_limits_setup_to_that_environment(gh: FakeGh, repository: Path) -> None:
    set_up(repository, f"{PROD_TOKEN}\n", "prod")

    assert set(gh.state["environments"]) == {"prod", "prod-review"}
    secrets = gh.state["environments"]["prod"]["secrets"]
    assert secrets == {"GANYMEDE_API_TOKEN": sha256(PROD_TOKEN)}


def test_environment_variable_comes_from_config_even_with_a_local_override(
    gh: FakeGh, repository: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GANYMEDE_ENVIRONMENT", "acme-dev")

    result = invoke(repository, "github-setup", stdin=f"{DEV_TOKEN}\n{PROD_TOKEN}\n")

    assert result.returncode == 0, result.stderr
    variables = gh.state["environments"]["prod"]["variables"]
    assert variables == {"GANYMEDE_ENVIRONMENT": "acme-prod"}


def test_missing_token_stops_before_any_change(gh: FakeGh, repository: Path) -> None:
    with pytest.raises(github.GitHubError) as caught:
        set_up(repository, f"{DEV_TOKEN}\n")

    assert gh.changing_calls() == []
    assert str(caught.value) == (
        "no API token for environment prod: give one line per environment on "
        "standard input (in this order: dev, prod), or run this in a terminal to be asked"
    )


def test_missing_gh_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repository: Path
) -> None:
    hide_gh(tmp_path, monkeypatch)

    result = invoke(repository, "github-setup", stdin="")

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == f"error: {github.INSTALL_HELP}"
    assert "https://cli.github.com" in result.stderr


def test_unauthenticated_gh_says_to_log_in(gh: FakeGh, repository: Path) -> None:
    gh.update(authenticated=False)

    result = invoke(repository, "github-setup", stdin=f"{DEV_TOKEN}\n{PROD_TOKEN}\n")

    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {github.LOGIN_HELP}"
    assert "Traceback" not in result.stderr
    assert gh.changing_calls() == []


def test_folder_without_github_remote_asks_for_repo_option(gh: FakeGh) -> None:
    gh.update(remote=False)

    with pytest.raises(github.GitHubError, match="pass --repo OWNER/NAME"):
        github.resolve_repository(github.connect())


def test_repo_option_is_checked_before_use(gh: FakeGh) -> None:
    cli = github.connect()

    with pytest.raises(github.GitHubError, match="not of the form OWNER/NAME"):
        github.resolve_repository(cli, "no-slash; rm -rf /")
    assert github.resolve_repository(cli, REPOSITORY) == REPOSITORY


def test_refused_step_reports_ghs_reason_in_one_line_without_the_token(
    gh: FakeGh, repository: Path
) -> None:
    gh.update(refuse_permissions=f"HTTP 409: organization policy forbids this ({DEV_TOKEN})")

    with pytest.raises(github.GitHubError) as caught:
        set_up(repository, f"{DEV_TOKEN}\n{PROD_TOKEN}\n")

    message = str(caught.value)
    assert message.startswith("gh api -X PUT repos/")
    assert "HTTP 409: organization policy forbids this" in message
    assert "\n" not in message
    assert DEV_TOKEN not in message


def test_secret_failure_message_never_contains_the_token() -> None:
    failing = github.GitHubCli(sys.executable)

    with pytest.raises(github.GitHubError) as caught:
        failing.run(["-c", "import sys; print(sys.stdin.read()); sys.exit(1)"], secret=DEV_TOKEN)

    assert DEV_TOKEN not in str(caught.value)
    assert "***" in str(caught.value)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_asks_each_token_without_echo_and_enter_keeps_a_secret() -> None:
    state = github.GitHubState(
        repository=REPOSITORY,
        variables={},
        environments=frozenset({"dev", "prod"}),
        environment_secrets={"dev": frozenset({"GANYMEDE_API_TOKEN"})},
    )
    target = github.Target("acme", {"dev": "acme-dev", "prod": "acme-prod"})
    prompts: list[str] = []
    answers = iter(["", "", PROD_TOKEN])

    def hidden_prompt(text: str) -> str:
        prompts.append(text)
        return next(answers)

    tokens = github.read_tokens(state, target, stream=_Terminal(), prompt=hidden_prompt)

    assert tokens == {"prod": PROD_TOKEN}
    assert "Enter keeps the current secret" in prompts[0]
    assert len(prompts) == 3  # an empty answer is asked again where no secret exists yet


def test_plan_is_empty_when_github_matches_the_config() -> None:
    target = github.Target("acme", {"dev": "acme-dev"})
    state = github.GitHubState(
        repository=REPOSITORY,
        variables={"GANYMEDE_SUBDOMAIN": "acme", "OTHER": "x"},
        environments=frozenset({"dev", "staging"}),
        environment_variables={"dev": {"GANYMEDE_ENVIRONMENT": "acme-dev"}},
        environment_secrets={"dev": frozenset({"GANYMEDE_API_TOKEN"})},
        workflow_permissions=dict(github.WORKFLOW_PERMISSIONS),
        branch_policies={"dev": frozenset({"main", "release"})},
    )

    assert github.plan_setup(state, target) == []
    assert [s.environment for s in github.plan_setup(state, target, new_tokens=["dev"])] == ["dev"]


@pytest.mark.parametrize("gh_state", ["missing", "logged out"])
def test_dry_run_shows_the_plan_without_github(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repository: Path, gh_state: str
) -> None:
    if gh_state == "missing":
        hide_gh(tmp_path, monkeypatch)
    else:
        install_fake_gh(tmp_path, monkeypatch).update(authenticated=False)

    result = invoke(repository, "github-setup", "--dry-run", "--repo", "lab/flows")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("note: ") and "as for a repository with nothing set up" in lines[0]
    assert "$ gh variable set GANYMEDE_SUBDOMAIN --body acme --repo lab/flows" in result.stdout
    assert "12 step(s)" in result.stdout
    assert "default_workflow_permissions=read" in result.stdout


def test_setup_keeps_default_workflow_permissions_read(gh: FakeGh, repository: Path) -> None:
    gh.update(workflow_permissions={
        "default_workflow_permissions": "write", "can_approve_pull_request_reviews": True,
    })  # fmt: skip

    assert invoke(repository, "github-setup", stdin=f"{DEV_TOKEN}\n{PROD_TOKEN}\n").returncode == 0

    assert gh.state["workflow_permissions"]["default_workflow_permissions"] == "read"


CUSTOM_POLICY = [
    "-F", "deployment_branch_policy[protected_branches]=false",
    "-F", "deployment_branch_policy[custom_branch_policies]=true",
]  # fmt: skip


def test_every_environment_is_deployable_from_the_default_branch_only(
    gh: FakeGh, repository: Path
) -> None:
    """Without a policy any branch's own workflow could name the environment and get its token."""
    set_up(repository, f"{DEV_TOKEN}\n{PROD_TOKEN}\n")

    for folder in ("dev", "prod"):
        record = gh.state["environments"][folder]
        assert record["policy"] == {"protected_branches": False, "custom_branch_policies": True}
        assert record["branches"] == [{"name": "main", "type": "branch"}]
    assert github.plan_setup(read_state(), target_of(repository)) == [], "re-run: nothing to do"


def test_an_environment_open_to_every_branch_is_restricted(gh: FakeGh, repository: Path) -> None:
    environments = {
        "dev": {"variables": {}, "secrets": {}},
        "prod": {"variables": {}, "secrets": {}, "policy": {"protected_branches": True,
                                                           "custom_branch_policies": False}},
    }  # fmt: skip
    gh.update(environments=environments)
    steps = github.plan_setup(read_state(), target_of(repository))
    described = [step.description for step in steps]
    assert "restrict GitHub environment dev: deployable from named branches only" in described
    assert "allow branch main to deploy to environment dev" in described
    assert not [
        line
        for line in described
        if "environment prod:" in line or line.endswith("to deploy to environment prod")
    ], "protected branches only is the owner's safe choice, left as it is"


def test_a_custom_policy_without_the_default_branch_gets_it_added(
    gh: FakeGh, repository: Path
) -> None:
    environments = {
        name: {"variables": {}, "secrets": {}, "branches": [{"name": "release", "type": "branch"}],
               "policy": {"protected_branches": False, "custom_branch_policies": True}}
        for name in ("dev", "prod")
    }  # fmt: skip
    gh.update(environments=environments)
    steps = github.plan_setup(read_state(), target_of(repository))
    assert [step.description for step in steps if "branch" in step.description] == [
        "allow branch main to deploy to environment dev",
        "allow branch main to deploy to environment prod",
        "allow branch main to deploy to environment prod-review",  # made with the review step
    ]


def target_of(root: Path) -> github.Target:
    return github.target_from_settings(load_settings(root, environ={}))


def read_state() -> github.GitHubState:
    cli = github.connect()
    return github.read_state(cli, github.resolve_repository(cli), ["dev", "prod"])


def test_reviewers_are_the_logins_given(gh: FakeGh, repository: Path) -> None:
    result = invoke(repository, "github-setup", "--reviewer", "alice", "--reviewer", "bob",
                    stdin=f"{DEV_TOKEN}\n{PROD_TOKEN}\n")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "(required reviewers: alice, bob; it holds no secret)" in result.stdout
    assert len(gh.state["environments"]["prod-review"]["reviewers"]) == 2


def test_a_plan_without_reviewers_is_said_plainly_and_the_rest_is_set_up(
    gh: FakeGh, repository: Path
) -> None:
    gh.update(refuse_reviewers="HTTP 422: Failed to create the environment protection rule")
    result = invoke(repository, "github-setup", stdin=f"{DEV_TOKEN}\n{PROD_TOKEN}\n")
    assert result.returncode == 0, result.stderr
    assert "warning: GitHub refused required reviewers on prod-review" in result.stdout
    assert "GitHub Enterprise" in result.stdout and "HTTP 422" in result.stdout
    assert gh.state["workflow_permissions"]["can_approve_pull_request_reviews"] is True
