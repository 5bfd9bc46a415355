"""Bad local input ends in one line: the real `invoke` tasks, run as a user runs them.

Each case starts the task in a fresh copy of this repository's tooling and asserts
what a user sees: exit code 1, one ``error:`` line naming what to fix, no traceback,
and the token nowhere in the output.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.tooling.conftest import API_KEY
from tests.tooling.pull_helpers import copy_tooling
from tests.tooling.test_network_bounds import HostileServer, commits_then


@dataclass
class Result:
    code: int
    out: str
    err: str

    def assert_one_line_error(self, fragment: str, secret: str = API_KEY) -> None:
        everything = self.out + self.err
        assert self.code == 1, everything
        assert "Traceback" not in everything, everything
        errors = [line for line in self.err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and fragment in errors[0], everything
        assert secret.strip() not in everything


@dataclass
class Repo:
    root: Path

    def run(self, *arguments: str, **variables: str) -> Result:
        environ = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("GANYMEDE_", "GITHUB_")) and key != "CI"
        }
        environ.update(PYTHONDONTWRITEBYTECODE="1", NO_COLOR="1", **variables)
        done = subprocess.run(
            [sys.executable, "-m", "invoke", *arguments],
            cwd=self.root,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def set_environments(self, *folders: str) -> None:
        """Replace ganymede.toml's environment tables with one table per folder."""
        config = self.root / "ganymede.toml"
        text = config.read_text(encoding="utf-8")
        start, end = text.index("[environments."), text.index("[sync]")
        tables = "".join(
            f'[environments."{folder}"]\nganymede_environment = "dev"\n\n' for folder in folders
        )
        rest = re.sub(r"(?m)^chain = .*\n", "", text[end:])  # a chain names the old folders
        config.write_text(text[:start] + tables + rest, encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """A copy of this repository's tooling and settings, with one empty folder ``dev/``."""
    root = copy_tooling(tmp_path / "repo", "ganymede.toml")
    (root / "dev").mkdir()
    repo = Repo(root)
    repo.set_environments("dev")  # the same folder whatever the generation's answers
    return repo


# --- the token -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "token, kind",
    [
        ("tök-en-value", "a non-ASCII character at position 2"),
        ("test token", "a space at position 5"),
        ("test\ttoken", "a control character at position 5"),
    ],
)
@pytest.mark.parametrize("task", ["pull", "status", "deploy"])
def test_an_unusable_token_is_one_line_and_never_shown(repo, emulator, token, kind, task):
    result = repo.run(task, "--env", "dev", GANYMEDE_API_URL=emulator.url, GANYMEDE_API_TOKEN=token)
    result.assert_one_line_error(f"GANYMEDE_API_TOKEN holds {kind}", secret=token)
    assert emulator.requests == [], "nothing was sent"


def test_doctor_names_an_unusable_token_and_skips_the_api(repo, emulator):
    token = "tök-en-value"
    result = repo.run(
        "doctor", "--env", "dev", GANYMEDE_API_URL=emulator.url, GANYMEDE_API_TOKEN=token
    )
    assert result.code == 1 and "Traceback" not in result.out + result.err
    assert (
        "[FAIL] token: set in the environment, but unusable: GANYMEDE_API_TOKEN holds a "
        "non-ASCII character" in result.out
    )
    assert "[-]    API: skipped: needs a usable token" in result.out
    assert token not in result.out + result.err and emulator.requests == []


def test_a_token_pasted_with_a_line_break_is_trimmed_and_works(repo, emulator):
    pasted = API_KEY + " \n"
    result = repo.run(
        "pull", "--env", "dev", GANYMEDE_API_URL=emulator.url, GANYMEDE_API_TOKEN=pasted
    )
    assert result.code == 0, result.err
    assert "pulled dev/" in result.out
    doctor = repo.run(
        "doctor", "--env", "dev", GANYMEDE_API_URL=emulator.url, GANYMEDE_API_TOKEN=pasted
    )
    assert "spaces or line breaks around it were removed" in doctor.out
    assert "[ok]   API:" in doctor.out


# --- the API address -------------------------------------------------------------------
@pytest.mark.parametrize(
    "url, fragment",
    [
        ("http://127.0.0.1:99999", "Port out of range"),
        ("http://127.0.0.1:80a", "malformed"),
        ("http://[::1", "Invalid IPv6 URL"),
        ("http://[::1]:70000", "Port out of range"),
        ("http://[zz::1]:8765", "malformed"),
        ("http://ex ample.com", "holds characters a URL cannot"),
        ("http://exämple.com", "holds characters a URL cannot"),
    ],
)
@pytest.mark.parametrize("task", ["pull", "doctor"])
def test_a_malformed_api_url_is_one_line(repo, url, fragment, task):
    result = repo.run(task, "--env", "dev", GANYMEDE_API_URL=url, GANYMEDE_API_TOKEN=API_KEY)
    if task == "doctor":
        assert result.code == 1 and "Traceback" not in result.out + result.err
        assert "[FAIL] configuration:" in result.out and fragment in result.out
        assert API_KEY not in result.out + result.err
    else:
        result.assert_one_line_error(fragment)


# --- the environment folders -----------------------------------------------------------
@pytest.mark.parametrize("task", ["pull", "status", "deploy", "check"])
def test_an_environment_folder_that_is_a_file_is_one_line(repo, emulator, task):
    (repo.root / "dev").rmdir()
    (repo.root / "dev").write_text("not a folder\n", encoding="utf-8")
    result = repo.run(
        task, "--env", "dev", GANYMEDE_API_URL=emulator.url, GANYMEDE_API_TOKEN=API_KEY
    )
    result.assert_one_line_error("dev in ")
    assert "is a file, not the folder of environment 'dev'" in result.err
    assert (repo.root / "dev").read_text(encoding="utf-8") == "not a folder\n"


@pytest.mark.parametrize("folder", ["../outside", "/tmp/ganymede-absolute", "lib", "a/b", "Dev"])
def test_ganymede_toml_folders_follow_the_generation_rule(repo, emulator, tmp_path, folder):
    repo.set_environments(folder)
    before = sorted(path.name for path in tmp_path.iterdir())
    result = repo.run(
        "pull", "--env", folder, GANYMEDE_API_URL=emulator.url, GANYMEDE_API_TOKEN=API_KEY
    )
    result.assert_one_line_error(f"environment folder '{folder}' in ganymede.toml")
    assert sorted(path.name for path in tmp_path.iterdir()) == before, "nothing written outside"
    assert not Path("/tmp/ganymede-absolute").exists()
    assert emulator.requests == []


# --- names from Ganymede that no file system can hold ----------------------------------
@pytest.fixture
def long_name_server() -> Iterator[HostileServer]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Flow_A/Node/function.py", "x = 1\n")
        archive.writestr("Flow_A/" + "N" * 256 + "/function.py", "x = 2\n")
    server = HostileServer()
    server.script = commits_then(lambda handler: handler.answer(200, buffer.getvalue()))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_an_archive_name_segment_over_255_bytes_is_one_line(repo, long_name_server):
    result = repo.run(
        "pull", "--env", "dev", GANYMEDE_API_URL=long_name_server.url, GANYMEDE_API_TOKEN=API_KEY
    )
    result.assert_one_line_error("has a name over 255 bytes")
    assert list((repo.root / "dev").iterdir()) == []
