"""`invoke doctor` against the emulator, real git repositories and the fake `gh`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ganymede_sync.emulator import Emulator
from ganymede_sync.local import gitops
from ganymede_sync.runners import doctor
from tests.tooling.conftest import API_KEY
from tests.tooling.fake_gh import FakeGh, hide_gh, install_fake_gh
from tests.tooling.pull_helpers import copy_tooling

CONFIG = """\
[ganymede]
subdomain = "acme"

[environments.dev]
ganymede_environment = "{dev}"

[environments.prod]
ganymede_environment = "prod"
"""
WORKFLOW = """\
name: pull
on:
  workflow_dispatch:
    inputs:
      environment:
        description: Environment folder to pull
        type: choice
        options:
{options}
      level:
        type: choice
        options: [debug, info]
jobs: {{}}
"""
CONFIGURED_GITHUB = {
    "variables": {"GANYMEDE_SUBDOMAIN": "acme"},
    "environments": {
        folder: {
            "variables": {"GANYMEDE_ENVIRONMENT": folder},
            "secrets": {"GANYMEDE_API_TOKEN": "sha256-of-the-token"},
            "policy": {"protected_branches": False, "custom_branch_policies": True},
            "branches": [{"name": "main", "type": "branch"}],
        }
        for folder in ("dev", "prod")
    }
    | {
        "prod-review": {
            "variables": {},
            "secrets": {},
            "reviewers": [{"type": "User", "reviewer": {"id": 7}}],
            "policy": {"protected_branches": False, "custom_branch_policies": True},
            "branches": [{"name": "main", "type": "branch"}],
        }
    },
    "workflow_permissions": {
        "default_workflow_permissions": "read",
        "can_approve_pull_request_reviews": True,
    },
    "ruleset_checks": ["tests and checks", "deploy plan"],
}


def make_repository(root: Path, *, dev_name: str = "dev", options=("dev", "prod")) -> Path:
    """A committed repository with this project's tooling and a two-environment config."""
    copy_tooling(root)
    (root / "ganymede.toml").write_text(CONFIG.format(dev=dev_name), encoding="utf-8")
    (root / ".gitignore").write_text(".env\n__pycache__/\n", encoding="utf-8")
    for folder in ("dev", "prod"):
        (root / folder).mkdir()
        (root / folder / "README.md").write_text(f"# {folder}\n", encoding="utf-8")
    workflows = root / ".github" / "workflows"
    workflows.mkdir(parents=True)
    lines = "\n".join(f"          - {option}" for option in options)
    (workflows / "pull.yml").write_text(WORKFLOW.format(options=lines), encoding="utf-8")
    gitops.init_repository(root, branch="main")
    return root


def environ_for(emulator: Emulator, token: str = API_KEY) -> dict[str, str]:
    return {"GANYMEDE_API_URL": emulator.url, "GANYMEDE_API_TOKEN": token}


def by_name(checks: list[doctor.Check]) -> dict[str, doctor.Check]:
    return {check.name: check for check in checks}


def failures(checks: list[doctor.Check]) -> list[str]:
    return [check.name for check in checks if not check.ok]


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeGh:
    fake = install_fake_gh(tmp_path, monkeypatch)
    fake.update(**CONFIGURED_GITHUB)
    return fake


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    return make_repository(tmp_path / "repo")


def run_doctor(
    root: Path, *arguments: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "invoke", "doctor", *arguments],
        cwd=root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_healthy_repository_passes_every_check_in_order(
    gh: FakeGh, repository: Path, emulator: Emulator
) -> None:
    checks = doctor.run_checks(repository, folder="dev", environ=environ_for(emulator))

    assert failures(checks) == []
    assert [check.name for check in checks] == [
        "tooling",
        "configuration",
        "environment folders",
        "workflows",
        "target of dev/",
        "token",
        "API",
        "git repository",
        "default branch",
        "git identity",
        "GitHub repository",
        "GitHub variable GANYMEDE_SUBDOMAIN",
        "GitHub environment dev",
        "GitHub workflow permissions",
        "required checks on main",
        "secret SYNC_PR_TOKEN",
    ]
    assert by_name(checks)["token"].detail == f"set in the environment ({len(API_KEY)} characters)"
    assert gh.changing_calls() == []


def test_healthy_doctor_exits_zero_and_never_shows_the_token(
    gh: FakeGh, repository: Path, emulator: Emulator
) -> None:
    result = run_doctor(repository, "--env", "dev", env=environ_for(emulator))

    assert result.returncode == 0, result.stdout + result.stderr
    assert API_KEY not in result.stdout + result.stderr
    assert "[ok]   API: Ganymede environment 'dev'" in result.stdout
    assert "doctor: everything checked is in place" in result.stdout


def test_wrong_token_is_refused_by_the_named_environment(
    gh: FakeGh, repository: Path, emulator: Emulator
) -> None:
    result = run_doctor(repository, "--env", "dev", env=environ_for(emulator, "wrong-token-123"))

    assert result.returncode == 1
    assert "[FAIL] API: token refused by environment dev:" in result.stdout
    assert "fix: set GANYMEDE_API_TOKEN to the API token of Ganymede environment 'dev'" in (
        result.stdout
    )
    assert "wrong-token-123" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == "doctor: 1 problem(s) found: apply the fix lines above"


def test_unknown_environment_names_the_setting_to_fix(
    gh: FakeGh, tmp_path: Path, emulator: Emulator
) -> None:
    root = make_repository(tmp_path / "repo", dev_name="acme-dev")

    checks = doctor.run_checks(root, folder="dev", environ=environ_for(emulator))

    api = by_name(checks)["API"]
    assert failures(checks) == ["API", "GitHub environment dev"]
    assert api.detail.startswith("environment dev unknown: Ganymede environment 'acme-dev'")
    assert "ganymede_environment under [environments.dev]" in api.fix


def test_missing_configuration_fails_first_and_skips_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hide_gh(tmp_path, monkeypatch)
    copy_tooling(tmp_path)

    result = run_doctor(tmp_path, env={})

    assert result.returncode == 1
    tooling, *lines = result.stdout.splitlines()
    assert tooling.startswith("[ok]   tooling: ganymede-sync ")
    assert lines[0].startswith("[FAIL] configuration: no ganymede.toml in")
    assert (
        lines[1] == "       fix: run this in your repository's folder (the one with ganymede.toml)"
    )
    assert all(line.startswith("[-]") for line in lines[2:])
    assert "Traceback" not in result.stderr


def test_invalid_configuration_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "ganymede.toml").write_text("[ganymede\n", encoding="utf-8")

    check = doctor.run_checks(tmp_path, environ={})[1]

    assert not check.ok
    assert "not valid TOML" in check.detail
    assert check.fix == f"fix {tmp_path.resolve() / 'ganymede.toml'}"


def test_missing_token_and_folder_and_stale_workflow_are_each_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hide_gh(tmp_path, monkeypatch)
    root = make_repository(tmp_path / "repo", options=("dev", "staging"))
    shutil.rmtree(root / "prod")

    checks = by_name(doctor.run_checks(root, environ={}))

    assert checks["environment folders"].detail == "missing: prod"
    assert "mkdir prod" in checks["environment folders"].fix
    assert checks["workflows"].detail == (
        "pull.yml offers dev, staging; ganymede.toml lists dev, prod"
    )
    assert checks["token"].detail == "GANYMEDE_API_TOKEN is not set"
    assert checks["API"].skipped
    assert checks["GitHub"].detail == "skipped: gh not available (https://cli.github.com)"


def test_token_from_dotenv_is_reported_by_length_only(repository: Path) -> None:
    (repository / ".env").write_text("GANYMEDE_API_TOKEN=from-the-dotenv-file\n", encoding="utf-8")

    check = by_name(doctor.run_checks(repository, environ={}))["token"]

    assert check.detail == f"set in .env ({len('from-the-dotenv-file')} characters)"


def test_git_problems_name_their_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hide_gh(tmp_path, monkeypatch)
    root = make_repository(tmp_path / "repo")
    shutil.rmtree(root / ".git")

    checks = by_name(doctor.run_checks(root, environ={}))
    assert checks["git repository"].fix == "run invoke init"

    gitops.init_repository(root, branch="trunk")
    checks = by_name(doctor.run_checks(root, environ={}))
    assert checks["git repository"].ok
    assert checks["default branch"].fix.startswith("git branch -m trunk main")


def test_github_gaps_point_to_github_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repository: Path
) -> None:
    fake = install_fake_gh(tmp_path, monkeypatch)
    fake.update(variables={"GANYMEDE_SUBDOMAIN": "other"}, environments={
        "dev": {"variables": {"GANYMEDE_ENVIRONMENT": "dev"}, "secrets": {}},
    })  # fmt: skip

    checks = by_name(doctor.run_checks(repository, environ={}))

    assert checks["GitHub variable GANYMEDE_SUBDOMAIN"].detail == "is 'other', expected 'acme'"
    assert checks["GitHub environment dev"].detail == (
        "secret GANYMEDE_API_TOKEN is missing; "
        "any branch may deploy to it (no deployment branch policy)"
    )
    assert checks["GitHub environment prod"].detail == "missing"
    assert checks["GitHub environment prod"].fix == "run invoke github-setup --env prod"
    assert not checks["GitHub workflow permissions"].ok
    assert fake.changing_calls() == []


def test_unauthenticated_gh_skips_the_github_checks(gh: FakeGh, repository: Path) -> None:
    gh.update(authenticated=False)

    checks = doctor.run_checks(repository, environ={})

    assert checks[-1].skipped
    assert "gh auth login" in checks[-1].detail


def test_environment_choices_are_read_from_inline_and_block_lists() -> None:
    text = WORKFLOW.format(options="          - dev\n          - 'prod'  # production")
    text += '      env_name:\n        options: [ qa , "prod" ]\n'

    assert doctor.environment_choices(text) == [["dev", "prod"], ["qa", "prod"]]


def test_an_override_that_agrees_is_a_warning(gh: FakeGh, repository: Path) -> None:
    checks = by_name(doctor.run_checks(repository, environ={"GANYMEDE_ENVIRONMENT": "dev"}))

    target = checks["target of dev/"]
    assert target.ok and target.warning
    assert "override active: GANYMEDE_ENVIRONMENT=dev" in target.detail
    assert doctor.format_check(target).startswith("[warn] target of dev/: dev/ -> acme/dev")


def test_an_override_that_moves_a_folder_fails_naming_both_targets(
    gh: FakeGh, repository: Path
) -> None:
    manifest = repository / ".ganymede" / "prod.json"
    manifest.parent.mkdir()
    manifest.write_text('{"environment": "prod", "files": {}, "tenant": "acme"}\n')

    checks = by_name(doctor.run_checks(repository, environ={"GANYMEDE_ENVIRONMENT": "dev"}))

    assert checks["target of dev/"].ok
    prod = checks["target of prod/"]
    assert not prod.ok
    assert prod.detail == (
        "bound to acme/prod (.ganymede/prod.json) but resolved to acme/dev "
        "by GANYMEDE_ENVIRONMENT=dev"
    )
    assert "--retarget" in prod.fix


def test_read_only_default_workflow_permissions_pass(gh: FakeGh, repository: Path) -> None:
    checks = by_name(doctor.run_checks(repository, environ={}))
    assert checks["GitHub workflow permissions"].ok
    assert not checks["GitHub workflow permissions"].warning

    gh.update(workflow_permissions={
        "default_workflow_permissions": "write", "can_approve_pull_request_reviews": True,
    })  # fmt: skip
    checks = by_name(doctor.run_checks(repository, environ={}))
    assert (
        checks["GitHub workflow permissions"].ok and checks["GitHub workflow permissions"].warning
    )


def test_tokens_per_folder_count_as_set(gh: FakeGh, repository: Path) -> None:
    environ = {"GANYMEDE_API_TOKEN_DEV": "dev-token-1", "GANYMEDE_API_TOKEN_PROD": "prod-token-22"}

    every = by_name(doctor.run_checks(repository, environ=environ))["token"]
    prod = by_name(doctor.run_checks(repository, folder="prod", environ=environ))["token"]

    assert every.ok and every.detail == "a token of its own for dev/, prod/"
    assert (
        prod.ok and prod.detail == "GANYMEDE_API_TOKEN_PROD set in the environment (13 characters)"
    )
    assert "prod-token-22" not in every.detail + prod.detail


def test_an_environment_open_to_every_branch_fails_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repository: Path
) -> None:
    fake = install_fake_gh(tmp_path, monkeypatch)
    configured = json.loads(json.dumps(CONFIGURED_GITHUB))
    del configured["environments"]["prod"]["policy"]
    configured["environments"]["dev"]["branches"] = [{"name": "feature", "type": "branch"}]
    fake.update(**configured)

    checks = by_name(doctor.run_checks(repository, environ={}))

    prod, dev = checks["GitHub environment prod"], checks["GitHub environment dev"]
    assert not prod.ok and "no deployment branch policy" in prod.detail
    assert prod.fix == "run invoke github-setup --env prod"
    assert not dev.ok and dev.detail == "its deployment branch policy does not allow main"


def test_a_protected_folder_needs_reviewers_on_its_review_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repository: Path
) -> None:
    fake = install_fake_gh(tmp_path, monkeypatch)
    configured = json.loads(json.dumps(CONFIGURED_GITHUB))
    fake.update(**configured)
    check = by_name(doctor.run_checks(repository, environ={}))["GitHub environment prod-review"]
    assert (
        check.ok
        and not check.warning
        and check.detail == "1 required reviewer(s) approve deploys of prod"
    )
    # Reviewers on prod itself: its jobs would wait for them holding its concurrency group.
    configured["environments"]["prod"]["reviewers"] = [{"type": "User", "reviewer": {"id": 7}}]
    fake.update(**configured)
    check = by_name(doctor.run_checks(repository, environ={}))["GitHub environment prod-review"]
    assert check.ok and check.warning and "holding its concurrency group" in check.detail
    configured["environments"]["prod-review"]["reviewers"] = []
    fake.update(**configured)
    check = by_name(doctor.run_checks(repository, environ={}))["GitHub environment prod-review"]
    assert not check.ok and check.detail == "it has no required reviewers"
    del configured["environments"]["prod-review"]
    fake.update(**configured)
    check = by_name(doctor.run_checks(repository, environ={}))["GitHub environment prod-review"]
    assert not check.ok and "deploys of the protected folder prod need no approval" in check.detail
    assert check.fix.startswith("run invoke github-setup --env prod")
    assert "GitHub environment dev-review" not in by_name(doctor.run_checks(repository, environ={}))


def test_merges_to_the_default_branch_must_require_both_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repository: Path
) -> None:
    fake = install_fake_gh(tmp_path, monkeypatch)
    configured = json.loads(json.dumps(CONFIGURED_GITHUB))
    fake.update(**configured)
    check = by_name(doctor.run_checks(repository, environ={}))["required checks on main"]
    assert check.ok and check.detail == '"tests and checks", "deploy plan" required before a merge'
    fake.update(ruleset_checks=None, classic_checks=["tests and checks"])
    check = by_name(doctor.run_checks(repository, environ={}))["required checks on main"]
    assert not check.ok and check.detail == '"deploy plan" not required'
    assert "Settings > Rules > Rulesets" in check.fix
    fake.update(ruleset_checks=["deploy plan"], classic_checks=["tests and checks"])
    assert by_name(doctor.run_checks(repository, environ={}))["required checks on main"].ok


def test_a_repository_wide_sync_token_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repository: Path
) -> None:
    fake = install_fake_gh(tmp_path, monkeypatch)
    fake.update(**CONFIGURED_GITHUB)
    assert not by_name(doctor.run_checks(repository, environ={}))["secret SYNC_PR_TOKEN"].warning
    fake.update(repository_secrets=["SYNC_PR_TOKEN"])
    check = by_name(doctor.run_checks(repository, environ={}))["secret SYNC_PR_TOKEN"]
    assert check.ok and check.warning and "any branch's workflow can read it" in check.detail
    assert "gh secret set SYNC_PR_TOKEN --env <folder>" in check.fix
