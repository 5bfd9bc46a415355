"""Every key of the shipped ganymede.toml is read, and the [sync] keys reach the workflows.

A key that nothing reads misleads the user who edits it. Each key of the file as
generated (its commented-out examples switched on) is set to a value of the wrong
type: loading must then fail with a message naming that key, which it can only do
if ``load_settings`` reads it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from ganymede_sync.errors import ConfigError
from ganymede_sync.runners.sync_request import sync_request
from ganymede_sync.settings.config import load_settings
from task_runner import run_task as run

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = re.compile(r"^# (?P<key>[a-z_]+) = (?P<value>.+?)(?:\s+#.*)?$")
"""A commented-out example setting: ``# max_ratio = 200   # explanation``."""


def shipped_with_examples() -> str:
    """The generated ganymede.toml with every commented-out example key switched on."""
    text = (REPO_ROOT / "ganymede.toml").read_text(encoding="utf-8")
    lines = []
    for line in text.splitlines():
        example = EXAMPLE.match(line)
        lines.append(f"{example['key']} = {example['value']}" if example else line)
    return "\n".join(lines) + "\n"


def keys_of(text: str) -> list[tuple[int, str]]:
    """(line index, key) of every ``key = value`` line of a TOML text."""
    pattern = re.compile(r"^(?P<key>[a-z_]+) = ")
    return [
        (index, match["key"])
        for index, line in enumerate(text.splitlines())
        if (match := pattern.match(line))
    ]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "ganymede.toml").write_text(shipped_with_examples(), encoding="utf-8")
    return tmp_path


def test_the_examples_switched_on_are_a_valid_configuration(root):
    """The baseline: the file with every example loads, so each failure below is its key's."""
    text = (root / "ganymede.toml").read_text(encoding="utf-8")
    keys = {key for _, key in keys_of(text)}
    assert {"api_url", "max_removed_share", "request_deadline_s", "max_entries"} <= keys
    assert load_settings(root, environ={}).api_url == "http://127.0.0.1:8765"


def test_every_key_of_the_shipped_file_is_read(root):
    text = (root / "ganymede.toml").read_text(encoding="utf-8")
    keys = keys_of(text)
    assert len(keys) >= 12, keys
    for index, key in keys:
        lines = text.splitlines()
        lines[index] = f"{key} = [true]"
        (root / "ganymede.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=re.escape(key)):
            load_settings(root, environ={})


def test_the_sync_keys_make_the_sync_pull_request(root):
    text = (root / "ganymede.toml").read_text(encoding="utf-8")
    for key, value in {
        "branch_prefix": "lab/sync-",
        "bot_name": "Lab Bot",
        "bot_email": "lab-bot@example.org",
    }.items():
        text = re.sub(rf"(?m)^{key} = .*$", f'{key} = "{value}"', text)
    (root / "ganymede.toml").write_text(text, encoding="utf-8")
    settings = load_settings(root, environ={})
    folder = next(iter(settings.environments))
    assert sync_request(settings, settings.environments[folder]) == {
        "branch": f"lab/sync-{folder}",
        "commit-message": f"Sync flows in environment {folder} from Ganymede",
        "identity": "Lab Bot <lab-bot@example.org>",
    }


def test_sync_request_prints_the_step_outputs_of_the_workflows(tmp_path, monkeypatch, capsys):
    shutil.copy(REPO_ROOT / "ganymede.toml", tmp_path / "ganymede.toml")
    monkeypatch.chdir(tmp_path)
    settings = load_settings(tmp_path, environ={})
    folder = next(iter(settings.environments))
    code, out, err = run(capsys, "sync-request", "--env", folder)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"branch={settings.branch_prefix}{folder}",
        f"commit-message=Sync flows in environment {folder} from Ganymede",
        f"identity={settings.bot_name} <{settings.bot_email}>",
    ]


def test_a_line_break_in_a_sync_text_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    """A second line would add a step output of its own (here: another branch)."""
    text = (REPO_ROOT / "ganymede.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^bot_name = .*$", r'bot_name = "bot\\nbranch=main"', text)
    (tmp_path / "ganymede.toml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    folder = next(iter(load_settings(REPO_ROOT, environ={}).environments))
    code, out, err = run(capsys, "sync-request", "--env", folder)
    assert (code, out) == (1, "")
    assert err.strip().splitlines() == [
        "error: 'sync.bot_name' in ganymede.toml must be a non-empty one-line string"
    ]
