"""Run tasks in-process as the `invoke` command does, in a workspace beside an emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from invoke import Collection, Program

import tasks
from deploy_workspace import TOKEN, USER, Workspace, running_workspace


def run_task(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    """Run one task like the `invoke` command does; return exit code, stdout, stderr."""
    program = Program(namespace=Collection.from_module(tasks), name="invoke", binary="invoke")
    try:
        program.run(["invoke", *arguments], exit=True)
        code = 0
    except SystemExit as stop:
        code = int(stop.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def task_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """A pulled workspace as the current folder, with the emulator's URL and token set."""
    with running_workspace(tmp_path) as workspace:
        monkeypatch.chdir(workspace.root)
        monkeypatch.setenv("GANYMEDE_API_TOKEN", TOKEN)
        monkeypatch.setenv("GANYMEDE_API_URL", workspace.emu.url)
        monkeypatch.setenv("GIT_AUTHOR_EMAIL", USER)
        yield workspace
