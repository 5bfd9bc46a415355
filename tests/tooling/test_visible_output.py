"""No raw control or bidi character reaches a terminal, a step summary or a pull request body.

A file name or content line holding terminal escapes (``\\x1b[2J``, ``\\x1b[1A\\x1b[2K``) or
a right-to-left override could hide or disguise a line of a diff a reviewer reads.
Every task is run over such a name and such content; each output channel is searched
for the raw characters with a pattern of its own, not the tooling's sanitiser.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_promote import NODE, Repo, repo  # noqa: F401 -- the fixture: dev/ and prod/ pulled

from task_runner import run_task as run

RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b-\u200f]")
HOSTILE_NAME = "qPCR_Analysis/Delta_Ct/evil\x1b]0;PWNED\x07\x1b[2J.py"
HOSTILE_LINE = "import os; os.system('id')  # \u202e hidden\x1b[1A\x1b[2K\n"


@pytest.fixture
def hostile(repo: Repo) -> Repo:  # noqa: F811
    repo.append(f"dev/{NODE}", HOSTILE_LINE)
    repo.write(f"dev/{HOSTILE_NAME}", HOSTILE_LINE.encode())
    repo.commit("Looks harmless")
    return repo


@pytest.mark.parametrize(
    "task",
    [
        ("diff", "--env", "dev", "--against", "prod"),
        ("diff", "--env", "dev", "--against", "prod", "--stat"),
        ("status", "--env", "dev", "--offline"),
        ("status", "--env", "dev", "--offline", "--diff"),
        ("status", "--env", "dev", "--offline", "--json", "--diff"),
        ("status", "--env", "dev"),
        ("check", "--env", "dev"),
        ("deploy", "--env", "dev", "--dry-run"),
    ],
    ids=" ".join,
)
def test_no_raw_control_character_reaches_a_terminal(hostile, capsys, task, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    _, out, err = run(capsys, *task)
    assert out + err, "the task said something"
    assert not RAW.search(out), out
    assert not RAW.search(err), err
    if summary.exists():
        assert not RAW.search(summary.read_text(encoding="utf-8"))


def test_diffs_say_the_file_holds_escaped_characters(hostile, capsys):
    _, out, _ = run(capsys, "diff", "--env", "dev", "--against", "prod")
    assert f"note: {NODE} holds control or invisible characters, shown escaped" in out
    assert "\\u202e hidden\\x1b[1A\\x1b[2K" in out


def test_a_promotion_refusing_the_name_shows_it_escaped(hostile, capsys):
    code, out, err = run(capsys, "promote", "--from", "dev", "--to", "prod")
    assert code != 0
    assert not RAW.search(out + err), out + err
    assert "evil\\x1b]0;PWNED\\x07\\x1b[2J.py" in out + err


def test_the_promotion_plan_and_body_show_no_raw_character(hostile, capsys, tmp_path: Path):
    (hostile.root / "dev" / HOSTILE_NAME).unlink()
    hostile.commit("Only the content stays")
    body = tmp_path / "body.md"
    code, out, err = run(
        capsys, "promote", "--from", "dev", "--to", "prod", "--body-file", str(body)
    )
    assert code == 0, err
    assert not RAW.search(out + err), out + err
    assert not RAW.search(body.read_text(encoding="utf-8"))
    assert (hostile.root / "prod" / NODE).read_text(encoding="utf-8").endswith(HOSTILE_LINE), (
        "the content itself is promoted as it is: only what is shown is escaped"
    )
