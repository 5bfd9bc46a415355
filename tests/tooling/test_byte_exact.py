"""Git keeps flow code exactly as Ganymede holds it, so a fresh clone never looks changed."""

from __future__ import annotations

import shutil
from pathlib import Path

from deploy_workspace import SOURCE_ROOT, Workspace, git, start_emulator
from ganymede_sync.plans.planning import Status

CRLF_LIB = "lib/windows_util.py"
CRLF_BYTES = b'"""Written on Windows."""\r\n\r\n\r\ndef unit() -> str:\r\n    return "ng/uL"\r\n'


def test_a_crlf_file_from_ganymede_is_unchanged_in_a_fresh_clone_and_never_sent(tmp_path: Path):
    emulator = start_emulator(tmp_path / "emulator")
    try:
        root = tmp_path / "repo"
        root.mkdir()
        for name in ("ganymede.toml", ".gitattributes"):
            shutil.copy(SOURCE_ROOT / name, root / name)
        git(root, "init", "-q", "-b", "main")
        workspace = Workspace(root, emulator)
        workspace.web_edit(CRLF_LIB, CRLF_BYTES)
        workspace.pull()

        clone = tmp_path / "clone"
        git(tmp_path, "-c", "core.autocrlf=true", "clone", "-q", str(root), str(clone))
        git(clone, "config", "core.autocrlf", "true")
        fresh = Workspace(clone, emulator)

        assert fresh.read(CRLF_LIB) == CRLF_BYTES
        plan = fresh.plan()
        assert {entry.status for entry in plan.entries} == {Status.UNCHANGED}
        outcome = fresh.deploy()
        assert not outcome.sent
        assert workspace.puts() == 0
    finally:
        emulator.stop()
