"""Messages say only what happened, also when several runs meet.

Against the emulator on 127.0.0.1 with real git repositories; the killed deploy
runs in a child process that receives a real SIGKILL while Ganymede is applying
its PUT.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from deploy_workspace import TOKEN, git, running_workspace
from ganymede_sync.errors import ArchiveError, LocalChangesError
from ganymede_sync.plans import reading
from ganymede_sync.plans.planning import Status
from ganymede_sync.remote.client import GanymedeClient
from ganymede_sync.runners import sending
from ganymede_sync.settings.config import load_settings
from ganymede_sync.ui.report import outcome_line
from tests.tooling.pull_helpers import pull_with

LIB = "lib/labtools/units.py"
DELTA = "qPCR_Analysis/Delta_Ct/function.py"
PLATE = "Plate_Reader_Ingest/Map_Wells/function.py"
FORKS = multiprocessing.get_context("forkserver")


@pytest.fixture
def ws(tmp_path):
    with running_workspace(tmp_path) as workspace:
        yield workspace


def test_a_deploy_that_made_no_commit_does_not_claim_one(ws):
    ws.write(LIB, b"UNITS = 2\n")
    ws.commit()
    planned = ws.plan()
    ws.web_edit(LIB, b"UNITS = 2\n")  # another deploy sent the same content meanwhile
    commits = ws.commit_count()
    settings = ws.settings()
    with ws.client() as client:
        outcome = sending.send_plan(
            client, settings, ws.environment, planned, author_email="dev@example.com",
            message="Same content",
        )  # fmt: skip
    assert ws.commit_count() == commits
    line = outcome_line(outcome, ws.name, author_email="dev@example.com")
    assert "made no commit" in line and "as one commit" not in line


def test_a_deploy_that_made_a_commit_says_so(ws):
    ws.write(LIB, b"UNITS = 3\n")
    ws.commit()
    outcome = ws.deploy()
    line = outcome_line(outcome, ws.name, author_email="dev@example.com")
    assert line == f"deployed 1 file to {ws.name} as one commit by dev@example.com"


def deploy_in_child(root: str, url: str) -> None:
    """A child's whole life: one deploy, as ``invoke deploy`` runs it."""
    settings = load_settings(Path(root), {"GANYMEDE_API_URL": url, "GANYMEDE_API_TOKEN": TOKEN})
    environment = next(iter(settings.environments.values()))
    with GanymedeClient(url, TOKEN, environment.name) as client:
        planned = reading.plan_environment(client, settings, environment)
        sending.send_plan(
            client, settings, environment, planned, author_email="dev@example.com", message="x"
        )


def _downloads(ws) -> int:
    return sum(1 for record in ws.emu.requests if record.path.startswith("/_download/"))


def test_a_deploy_killed_while_ganymede_applies_it_is_no_conflict_later(ws):
    ws.write(LIB, b"UNITS = 'first, not committed'\n")  # deployed straight from the folder
    commits, downloads = ws.commit_count(), _downloads(ws)
    ws.emu.add_fault("slow", endpoint="commits_put", seconds=6)
    process = FORKS.Process(target=deploy_in_child, args=(str(ws.root), ws.emu.url), daemon=True)
    process.start()
    deadline = time.monotonic() + 60
    while _downloads(ws) == downloads:  # until the deploy has read Ganymede's code
        assert time.monotonic() < deadline and process.is_alive()
        time.sleep(0.05)
    time.sleep(2.5)  # the PUT has reached Ganymede, which is still applying it
    process.kill()
    process.join()
    while ws.commit_count() == commits:
        assert time.monotonic() < deadline, "the PUT never reached Ganymede"
        time.sleep(0.1)
    ws.write(LIB, b"UNITS = 'second'\n")
    statuses = {entry.path: entry.status for entry in ws.plan().entries}
    assert statuses[LIB] is Status.SEND


def test_a_refused_pull_lists_only_files_changed_on_both_sides(ws):
    ws.web_edit(DELTA, b"print('ganymede 1')\n")
    ws.pull(commit=False)  # pulled, not committed: git sees changes that are no one's work
    ws.web_edit(DELTA, b"print('ganymede 2')\n")
    ws.web_edit(LIB, b"UNITS = 'ganymede'\n")
    ws.write(LIB, b"UNITS = 'mine'\n")
    ws.write(PLATE, b"print('mine, Ganymede did not touch it')\n")
    with pytest.raises(LocalChangesError) as caught:
        pull_with(ws.settings(), ws.folder, environ={})
    message = str(caught.value)
    assert f"{ws.folder}/{LIB}" in message
    assert DELTA not in message and PLATE not in message
    assert "uncommitted" not in message


def test_flows_differing_only_by_case_or_unicode_form_are_refused(ws):
    ws.web_edit("Assay/Step/function.py", b"A = 1\n")
    ws.web_edit("assay/Other/function.py", b"B = 1\n")
    ws.web_edit("Caf\u00e9/Step/function.py", b"C = 1\n")
    ws.web_edit("Cafe\u0301/Other/function.py", b"D = 1\n")
    with pytest.raises(ArchiveError) as caught:
        pull_with(ws.settings(), ws.folder, environ={})
    for name in ("Assay/Step", "assay/Other", "Caf\u00e9/Step", "Cafe\u0301/Other"):
        assert f"{ws.folder}/{name}/function.py" in str(caught.value)
    summary = pull_with(ws.settings(), ws.folder, environ={}, skip_invalid=True)
    assert len(summary.skipped) == 8  # four code files, and the flow file of each flow
    assert git(ws.root, "status", "--porcelain", "--", ws.folder) == ""
