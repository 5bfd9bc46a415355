"""Settings: ganymede.toml < GANYMEDE_* variables (and .env) < explicit options."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ganymede_sync.errors import ConfigError
from ganymede_sync.settings.config import MIB, ArchiveLimits, load_settings, read_dotenv

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copy(REPO_ROOT / "ganymede.toml", tmp_path / "ganymede.toml")
    return tmp_path


def test_defaults_come_from_ganymede_toml(root):
    settings = load_settings(root, environ={})
    assert settings.api_url == f"https://{settings.subdomain}.ganymede.bio"
    assert settings.environments
    first = next(iter(settings.environments.values()))
    assert first.path == root / first.folder
    assert first.manifest_path == root / ".ganymede" / f"{first.folder}.json"
    assert settings.token is None


def test_variables_override_the_file_and_options_override_variables(root):
    environ = {
        "GANYMEDE_SUBDOMAIN": "other",
        "GANYMEDE_API_URL": "http://127.0.0.1:9/",
        "GANYMEDE_ENVIRONMENT": "other-env",
        "GANYMEDE_API_TOKEN": "t0ken",
    }
    settings = load_settings(root, environ=environ)
    assert settings.subdomain == "other"
    assert settings.api_url == "http://127.0.0.1:9"
    assert {env.name for env in settings.environments.values()} == {"other-env"}
    assert settings.token == "t0ken"
    local = {**environ, "GANYMEDE_API_URL": "http://127.0.0.1:7"}
    assert load_settings(root, environ=local).api_url == "http://127.0.0.1:7"


def test_dotenv_supplies_the_token_and_real_variables_win(root):
    (root / ".env").write_text(
        '# local secrets\nexport GANYMEDE_API_TOKEN="from-file"\nGANYMEDE_SUBDOMAIN=dotenv\n',
        encoding="utf-8",
    )
    settings = load_settings(root, environ={"GANYMEDE_SUBDOMAIN": "real"})
    assert settings.token == "from-file"
    assert settings.subdomain == "real"


def test_dotenv_syntax_error_names_the_line(tmp_path):
    (tmp_path / ".env").write_text("OK=1\nnot a pair\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2"):
        read_dotenv(tmp_path / ".env")


def test_token_never_appears_in_the_settings_repr(root):
    settings = load_settings(root, environ={"GANYMEDE_API_TOKEN": "s3cr3t-value"})
    assert "s3cr3t-value" not in repr(settings)


def test_unknown_environment_lists_the_known_ones(root):
    settings = load_settings(root, environ={})
    with pytest.raises(ConfigError) as caught:
        settings.environment("nope")
    for folder in settings.environments:
        assert folder in str(caught.value)


def test_missing_token_names_the_environment_and_the_variable(root):
    settings = load_settings(root, environ={})
    environment = next(iter(settings.environments.values()))
    with pytest.raises(ConfigError, match="GANYMEDE_API_TOKEN") as caught:
        settings.require_token(environment)
    assert environment.folder in str(caught.value)


@pytest.mark.parametrize(
    "environ, fragment",
    [
        ({"GANYMEDE_SUBDOMAIN": "Not_A_Label"}, "not a DNS label"),
        ({"GANYMEDE_API_URL": "ftp://x"}, "must start with https://"),
    ],
)
def test_invalid_overrides_name_what_to_fix(root, environ, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_settings(root, environ=environ)


def test_missing_config_file_says_where_to_run(tmp_path):
    with pytest.raises(ConfigError, match="run this from your Ganymede repository"):
        load_settings(tmp_path, environ={})


def test_invalid_toml_is_reported_with_the_file_name(tmp_path):
    (tmp_path / "ganymede.toml").write_text("[ganymede\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"ganymede\.toml is not valid TOML"):
        load_settings(tmp_path, environ={})


def set_archive_table(root: Path, *lines: str) -> None:
    """Replace the shipped, commented ``[archive]`` keys of ganymede.toml with ``lines``."""
    config = root / "ganymede.toml"
    kept = [line for line in config.read_text().splitlines() if not line.startswith("# max_")]
    config.write_text("\n".join([*kept, *lines]) + "\n", encoding="utf-8")


def test_the_shipped_archive_comments_state_the_real_defaults(root):
    config = root / "ganymede.toml"
    assert load_settings(root, environ={}).archive_limits == ArchiveLimits()
    uncommented = config.read_text().replace("# max_", "max_")
    config.write_text(uncommented, encoding="utf-8")
    assert load_settings(root, environ={}).archive_limits == ArchiveLimits()


def test_archive_limits_are_read_in_mib(root):
    set_archive_table(root, "max_file_mb = 0.5", "max_total_mb = 10", "max_entries = 7")
    limits = load_settings(root, environ={}).archive_limits
    assert limits.max_file_bytes == MIB // 2 and limits.max_total_bytes == 10 * MIB
    assert limits.max_entries == 7 and limits.max_ratio == ArchiveLimits().max_ratio


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("max_file_mb = 0", "'archive.max_file_mb' in ganymede.toml must be a positive number"),
        ('max_ratio = "high"', "'archive.max_ratio' in ganymede.toml must be a positive number"),
        ("max_entries = true", "'archive.max_entries' in ganymede.toml must be a positive number"),
        ("max_total_mb = inf", "'archive.max_total_mb' in ganymede.toml must be a positive number"),
        ("max_size_mb = 3", "unknown key 'max_size_mb' in [archive] of ganymede.toml: did you"),
    ],
)
def test_bad_archive_limits_name_the_key(root, line, fragment):
    set_archive_table(root, line)
    with pytest.raises(ConfigError) as caught:
        load_settings(root, environ={})
    assert fragment in str(caught.value)


@pytest.mark.parametrize("name", ["ganymede.toml", ".env"])
def test_a_settings_file_that_is_not_utf8_is_one_clear_error(root, name):
    with (root / name).open("ab") as handle:
        handle.write(b"\nX=\xff\n")
    with pytest.raises(
        ConfigError, match=rf"{name} is not UTF-8 text \(byte \d+\): save it as UTF-8"
    ):
        load_settings(root, environ={})


def insert_under(root: Path, header: str, line: str) -> None:
    """Add ``line`` right under the table ``header`` of the shipped ganymede.toml."""
    config = root / "ganymede.toml"
    text = config.read_text(encoding="utf-8")
    if f"\n{header}\n" not in text:
        text += f"\n{header}\n"
    config.write_text(text.replace(f"\n{header}\n", f"\n{header}\n{line}\n", 1), encoding="utf-8")


@pytest.mark.parametrize(
    "header, line, message",
    [
        (
            "[sync]",
            "max_removed_shar = 0.9",
            "key 'max_removed_shar' in [sync] of ganymede.toml: did you mean max_removed_share?",
        ),
        (
            "[ganymede]",
            'api_ulr = "http://127.0.0.1:1"',
            "key 'api_ulr' in [ganymede] of ganymede.toml: did you mean api_url?",
        ),
        (
            "[network]",
            "request_deadline = 3",
            "key 'request_deadline' in [network] of ganymede.toml: "
            "did you mean request_deadline_s?",
        ),
        (
            "[promotion]",
            "chian = []",
            "key 'chian' in [promotion] of ganymede.toml: did you mean chain?",
        ),
        (
            "[archive]",
            "max_entry = 3",
            "key 'max_entry' in [archive] of ganymede.toml: did you mean max_entries?",
        ),
        (
            "[environments.dev]",
            'ganymede_env = "x"',
            "key 'ganymede_env' in [environments.dev] of ganymede.toml: "
            "did you mean ganymede_environment?",
        ),
        (
            "[promotoin]",
            "chain = []",
            "table [promotoin] in ganymede.toml: did you mean [promotion]?",
        ),
        ("[syncs]", "bot_name = 'x'", "table [syncs] in ganymede.toml: did you mean [sync]?"),
    ],
)
def test_a_misspelt_key_or_table_is_refused_with_the_closest_name(root, header, line, message):
    """Everywhere in ganymede.toml: nothing misspelt loads silently as its default."""
    insert_under(root, header, line)
    with pytest.raises(ConfigError) as caught:
        load_settings(root, environ={})
    assert str(caught.value) == f"unknown {message}"


def test_an_unknown_key_unlike_any_lists_the_known_ones(root):
    config = root / "ganymede.toml"
    config.write_text("colour = 1\n" + config.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(root, environ={})
    assert str(caught.value).startswith("unknown key 'colour' in ganymede.toml: use archive, ")


def two_folders(tmp_path: Path, dev_extra: str = "", prod_extra: str = "") -> Path:
    (tmp_path / "ganymede.toml").write_text(
        '[ganymede]\nsubdomain = "acme"\n\n[environments.dev]\nganymede_environment = "dev"\n'
        f'{dev_extra}\n[environments.prod]\nganymede_environment = "prod"\n{prod_extra}',
        encoding="utf-8",
    )
    return tmp_path


def test_prod_is_protected_and_waits_for_runs_by_default(tmp_path):
    environments = load_settings(two_folders(tmp_path), environ={}).environments
    assert (environments["prod"].protected, environments["prod"].wait_for_runs_s) == (True, 600)
    assert (environments["dev"].protected, environments["dev"].wait_for_runs_s) == (False, 0)


def test_protection_and_the_wait_are_settable(tmp_path):
    root = two_folders(tmp_path, "protected = true\n", "protected = false\nwait_for_runs = 0\n")
    environments = load_settings(root, environ={}).environments
    assert (environments["dev"].protected, environments["dev"].wait_for_runs_s) == (True, 600)
    assert (environments["prod"].protected, environments["prod"].wait_for_runs_s) == (False, 0)


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ('protected = "yes"', "environments.dev.protected in ganymede.toml must be true or false"),
        (
            "wait_for_runs = -1",
            "'environments.dev.wait_for_runs' in ganymede.toml must be a number",
        ),
    ],
)
def test_bad_protection_settings_are_one_line(tmp_path, extra, says):
    with pytest.raises(ConfigError, match=says):
        load_settings(two_folders(tmp_path, extra + "\n"), environ={})
