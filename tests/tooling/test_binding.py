"""Each folder is bound to one Ganymede tenant and environment; tokens can be given per folder.

The case that started it: a shell where `GANYMEDE_ENVIRONMENT=dev` was left exported, and
`invoke deploy --env prod` sent a prod hotfix to Ganymede's dev. Every task runs as the
`invoke` command runs it, against an emulator with a different key per environment.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ganymede_sync.emulator import Emulator
from ganymede_sync.errors import ConfigError
from ganymede_sync.settings.config import load_settings, token_variable
from task_runner import run_task as run
from tests.tooling.pull_helpers import CONFIG, commit_all, make_repository

KEYS = {"dev": "dev-key-7d1e", "prod": "prod-key-2b9c"}
NODE = "Plate_Reader_Ingest/Map_Wells/function.py"


@pytest.fixture
def emulator(tmp_path: Path):
    """Environments dev and prod, each opened by its own key."""
    with Emulator(tmp_path / "emulator", api_key=KEYS, environments=("dev", "prod")) as running:
        yield running


@pytest.fixture
def repo(tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capsys) -> Path:
    """Both folders pulled and committed; tokens per folder in .env, nothing exported."""
    root = make_repository(tmp_path / "repo")
    (root / ".gitignore").write_text(".env\n")
    (root / ".env").write_text(
        f"GANYMEDE_API_TOKEN_DEV={KEYS['dev']}\nGANYMEDE_API_TOKEN_PROD={KEYS['prod']}\n"
    )
    monkeypatch.chdir(root)
    monkeypatch.setenv("GANYMEDE_API_URL", emulator.url)
    for folder in ("dev", "prod"):
        assert run(capsys, "pull", "--env", folder)[0] == 0
    commit_all(root, "Pull dev and prod")
    return root


def hotfix(root: Path) -> None:
    path = root / "prod" / NODE
    path.write_bytes(path.read_bytes() + b"# hotfix\n")
    commit_all(root, "Hotfix well mapping")


def commits(emulator: Emulator) -> dict[str, int]:
    return {name: len(emulator.commits(name)) for name in ("dev", "prod")}


def test_the_manifest_records_tenant_and_environment(repo: Path):
    manifest = json.loads((repo / ".ganymede" / "prod.json").read_text())
    assert (manifest["tenant"], manifest["environment"]) == ("acme", "prod")


@pytest.mark.parametrize("task", ["deploy", "status", "pull"])
def test_an_environment_override_is_refused_naming_both_targets(
    repo, emulator, capsys, monkeypatch, task
):
    hotfix(repo)
    before_code, requests = (repo / "prod" / NODE).read_bytes(), len(emulator.requests)
    monkeypatch.setenv("GANYMEDE_ENVIRONMENT", "dev")
    code, out, err = run(capsys, task, "--env", "prod")
    assert code == 1 and out == ""
    assert err.strip() == (
        "error: prod/ is bound to acme/prod (.ganymede/prod.json) but this run targets "
        "acme/dev (set by GANYMEDE_ENVIRONMENT): unset that override, or pass --retarget "
        "to use acme/dev for prod/ on purpose"
    )
    assert len(emulator.requests) == requests  # refused before asking Ganymede anything
    assert (repo / "prod" / NODE).read_bytes() == before_code


def test_a_tenant_override_is_refused_too(repo, capsys, monkeypatch):
    monkeypatch.setenv("GANYMEDE_SUBDOMAIN", "other")
    code, _, err = run(capsys, "status", "--env", "prod")
    assert code == 1
    assert "bound to acme/prod" in err and "targets other/prod" in err
    assert "GANYMEDE_SUBDOMAIN" in err


def test_an_override_with_a_trailing_space_is_shown_quoted(repo, capsys, monkeypatch):
    """``acme/prod `` would read as the bound target itself: the space must be seen."""
    monkeypatch.setenv("GANYMEDE_ENVIRONMENT", "prod ")
    code, _, err = run(capsys, "status", "--env", "prod")
    assert code == 1
    assert "bound to acme/prod (" in err and "targets acme/'prod ' (set by" in err


def test_retarget_deploys_where_asked_and_says_so(repo, emulator, capsys, monkeypatch):
    hotfix(repo)
    before = commits(emulator)
    monkeypatch.setenv("GANYMEDE_ENVIRONMENT", "dev")
    monkeypatch.setenv("GANYMEDE_API_TOKEN_PROD", KEYS["dev"])  # dev's key opens dev
    code, out, err = run(capsys, "deploy", "--env", "prod", "--retarget")
    assert code == 0, err
    assert "plan for prod/ -> acme/dev:" in out
    assert "deployed 1 file to acme/dev (from prod/) as one commit" in out
    assert commits(emulator) == {"dev": before["dev"] + 1, "prod": before["prod"]}
    # A deploy binds nothing: without the option, the folder still refuses dev.
    assert run(capsys, "deploy", "--env", "prod")[0] == 1


def test_retarget_on_pull_binds_the_folder_to_the_new_target(repo, capsys, monkeypatch):
    monkeypatch.setenv("GANYMEDE_ENVIRONMENT", "dev")
    monkeypatch.setenv("GANYMEDE_API_TOKEN_PROD", KEYS["dev"])
    code, out, err = run(capsys, "pull", "--env", "prod", "--retarget")
    assert code == 0, err
    assert "pulled prod/ -> acme/dev" in out
    assert json.loads((repo / ".ganymede" / "prod.json").read_text())["environment"] == "dev"
    monkeypatch.delenv("GANYMEDE_ENVIRONMENT")
    code, _, err = run(capsys, "status", "--env", "prod")
    assert code == 1 and "bound to acme/dev (.ganymede/prod.json)" in err
    assert "targets acme/prod" in err


def test_editing_ganymede_toml_is_a_retarget_as_well(repo, capsys):
    config = repo / "ganymede.toml"
    text = config.read_text().replace('environment = "prod"', 'environment = "dev"')
    config.write_text(text)
    code, _, err = run(capsys, "status", "--env", "prod")
    assert code == 1 and "bound to acme/prod" in err and "targets acme/dev" in err


def test_a_folder_never_pulled_is_bound_by_ganymede_toml(tmp_path, emulator, capsys, monkeypatch):
    root = make_repository(tmp_path / "fresh")
    monkeypatch.chdir(root)
    monkeypatch.setenv("GANYMEDE_API_URL", emulator.url)
    monkeypatch.setenv("GANYMEDE_API_TOKEN", KEYS["dev"])
    monkeypatch.setenv("GANYMEDE_ENVIRONMENT", "prod")
    code, _, err = run(capsys, "pull", "--env", "dev")
    assert code == 1 and "dev/ is bound to acme/dev (ganymede.toml)" in err
    assert not (root / ".ganymede").exists()


def test_per_folder_tokens_let_one_shell_work_on_both(repo, emulator, capsys):
    hotfix(repo)
    dev = run(capsys, "status", "--env", "dev")
    prod = run(capsys, "status", "--env", "prod")
    assert dev[0] == 0 and "dev/ -> acme/dev matches Ganymede" in dev[1]
    assert prod[0] == 2 and "plan for prod/ -> acme/prod:" in prod[1]
    assert KEYS["dev"] not in dev[1] + dev[2] + prod[1] + prod[2]
    assert KEYS["prod"] not in dev[1] + dev[2] + prod[1] + prod[2]


def test_a_folder_token_wins_over_the_shared_one(repo, capsys, monkeypatch):
    monkeypatch.setenv("GANYMEDE_API_TOKEN", "shared-but-wrong")
    assert run(capsys, "status", "--env", "prod")[0] == 0
    monkeypatch.setenv("GANYMEDE_API_TOKEN_PROD", "wrong-for-prod")
    code, _, err = run(capsys, "status", "--env", "prod")
    assert code == 1 and "wrong-for-prod" not in err


def test_a_missing_token_names_the_folder_variable(repo, capsys):
    (repo / ".env").write_text("")
    code, _, err = run(capsys, "status", "--env", "prod")
    assert code == 1 and "GANYMEDE_API_TOKEN_PROD (or GANYMEDE_API_TOKEN)" in err


@pytest.mark.parametrize(
    ("folder", "variable"),
    [("dev", "GANYMEDE_API_TOKEN_DEV"), ("prod-eu.v2", "GANYMEDE_API_TOKEN_PROD_EU_V2")],
)
def test_token_variable_names_are_shell_names(folder, variable):
    assert token_variable(folder) == variable


def test_folders_that_would_share_a_token_variable_are_refused(tmp_path):
    (tmp_path / "ganymede.toml").write_text(
        CONFIG
        + '\n[environments."prod-eu"]\nganymede_environment = "a"\n'
        + '\n[environments."prod_eu"]\nganymede_environment = "b"\n'
    )
    with pytest.raises(ConfigError, match="GANYMEDE_API_TOKEN_PROD_EU"):
        load_settings(tmp_path, environ={})
