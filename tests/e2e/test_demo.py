"""The README's first command, end to end: generate, pull, test, edit, deploy, show."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEMPLATE


@pytest.mark.slow
def test_demo_pulls_edits_and_deploys_one_commit(tmp_path: Path):
    # As `python3 dev.py demo` runs it: inside this template's checkout, which ignores it.
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    subprocess.run(["git", "init", "--quiet", str(checkout)], check=True)
    (checkout / ".gitignore").write_text("/demo-output/\n", encoding="utf-8")
    output = checkout / "demo-output"
    result = subprocess.run(
        [sys.executable, str(TEMPLATE / "scripts" / "demo.py"), "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    assert "Traceback" not in result.stdout + result.stderr
    # The flow tests ran on the pulled example, shown by name: a node's test, the whole
    # qPCR flow and the integrity test of every node.
    assert "test_example_flow.py::test_the_whole_qpcr_flow" in result.stdout
    tests = [line for line in result.stdout.splitlines() if "::test_" in line]
    assert tests and all(" PASSED " in line for line in tests)
    assert len([line for line in tests if "test_flow_integrity.py::" in line]) == 9
    pipeline = output / "emulator" / "dev"
    log = git_output(pipeline, "log", "--format=%H|%ae|%s").splitlines()
    grow = next(line for line in log if "|Validate samples in LIMS_Sample_Sync" in line)
    sha, author, subject = grow.split("|", 2)
    assert author == "demo@example.com"
    assert "; Document the review of dev/" in subject
    changed = git_output(pipeline, "show", "--name-only", "--format=", sha).split()
    edited, grown = sorted(changed)
    assert edited.startswith("dags/LIMS_Sample_Sync/") and edited.endswith(".py")
    assert grown == "dags/LIMS_Sample_Sync/Validate_Samples/function.py"
    repo = next(path for path in output.iterdir() if (path / "ganymede.toml").exists())
    assert "# Reviewed in git" in (pipeline / edited).read_text(encoding="utf-8")
    assert (repo / ".ganymede" / "dev.json").is_file()
    # The flow grew in dev from git alone: a new node, wired in, and a new schedule.
    assert "node Validate_Samples added (Python) after Map_Fields" in result.stdout
    # The change was promoted to prod on its branch and deployed there too: prod's deploy
    # created the node, then sent its code.
    prod = output / "emulator" / "prod"
    assert git_output(prod, "show", "--name-only", "--format=", "HEAD").split() == changed
    assert "# Reviewed in git" in (prod / edited).read_text(encoding="utf-8")
    for environment in (pipeline, prod):
        document = json.loads((environment / "flows" / "LIMS_Sample_Sync.json").read_bytes())
        wiring = document["pipeline"]["tasks"]["Push_To_LIMS"]["dependencies"]
        assert wiring == ["Validate_Samples"]
        assert document["settings"]["schedule_interval"] == "0 3 * * *"
    # The promotion was merged (as its pull request would be): the repository is back on
    # its default branch, with nothing left uncommitted.
    assert git_output(repo, "branch", "--show-current").strip() == "main"
    assert git_output(repo, "status", "--porcelain").strip() == ""
    # The release ledger: the plan as the pull request comment, a one-flow deploy, a
    # notification received by a local webhook, the history, and a rollback shipped.
    assert "### `dev/` -> demo/dev: 2 file(s) to send" in result.stdout
    assert (
        'the webhook received: {"text": "Deployed dev/ to demo/dev: 1 file(s) from '
        in result.stdout
    )
    history = result.stdout.split("$ python -m invoke history --env dev", 1)[1].split("==>")[0]
    assert "1 file (only qPCR_Analysis)" in history and "2 files and 1 flow" in history
    subjects = [line.split("|", 2)[2] for line in log]
    assert subjects[0].startswith("Roll dev/ back to deploy/dev/")
    assert subjects[1].startswith("Tune qPCR and LIMS for the new cycler")
    delta = "dags/qPCR_Analysis/Delta_Ct/function.py"
    assert git_output(pipeline, "show", f"{sha}:{delta}") == (pipeline / delta).read_text()
    assert (
        "Tuned for the new cycler"
        not in (repo / "dev" / "qPCR_Analysis/Delta_Ct/function.py").read_text()
    )
    # After the dev deploy, the whole qPCR flow ran in (emulated) Ganymede and succeeded.
    assert "of qPCR_Analysis in demo/dev: Success" in result.stdout
    assert "tables: qpcr_delta_cq, qpcr_flagged, qpcr_wells" in result.stdout


def test_demo_refuses_to_empty_a_folder_it_did_not_create(tmp_path: Path):
    keep = tmp_path / "precious.txt"
    keep.write_text("keep me\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(TEMPLATE / "scripts" / "demo.py"), "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "not a demo folder" in result.stderr
    assert keep.read_text(encoding="utf-8") == "keep me\n"


def git_output(repository: Path, *args: str) -> str:
    """Run git in ``repository`` and return what it printed."""
    done = subprocess.run(
        ["git", *args], cwd=repository, capture_output=True, text=True, check=True
    )
    return done.stdout
