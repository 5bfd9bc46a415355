"""Install the fake GitHub CLI first on PATH and read what it was asked.

``install_fake_gh`` copies ``fake_gh.py`` into a temporary ``bin/gh`` that runs
with this interpreter, so the code under test finds it exactly like the real
``gh``: by name, through PATH.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("fake_gh.py")
REPOSITORY = "acme-lab/ganymede-flows"
FRESH_STATE = {
    "authenticated": True,
    "remote": True,
    "repo": REPOSITORY,
    "variables": {},
    "environments": {},
    "workflow_permissions": {
        "default_workflow_permissions": "read",
        "can_approve_pull_request_reviews": False,
    },
}
CHANGING_CALLS = (("variable", "set"), ("secret", "set"))


@dataclass
class FakeGh:
    """The installed fake: its folder on PATH, its state file and its call log."""

    bin_dir: Path
    state_path: Path
    log_path: Path

    @property
    def state(self) -> dict:
        return json.loads(self.state_path.read_text(encoding="utf-8"))

    def update(self, **changes: object) -> None:
        """Change the fake GitHub's state (e.g. ``authenticated=False``)."""
        self.state_path.write_text(json.dumps({**self.state, **changes}), encoding="utf-8")

    def calls(self) -> list[dict]:
        """Every call so far: ``{"argv": [...], "stdin": str | None}``."""
        if not self.log_path.exists():
            return []
        lines = self.log_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]

    def changing_calls(self) -> list[list[str]]:
        """The calls that would change something on GitHub."""
        return [call["argv"] for call in self.calls() if is_changing(call["argv"])]

    def clear_log(self) -> None:
        self.log_path.unlink(missing_ok=True)


def is_changing(argv: list[str]) -> bool:
    """Tell whether a gh call writes: ``variable/secret set`` or a non-GET ``gh api``."""
    if tuple(argv[:2]) in CHANGING_CALLS:
        return True
    return argv[:1] == ["api"] and any(m in argv for m in ("PUT", "POST", "PATCH", "DELETE"))


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def install_fake_gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeGh:
    """Put a fresh fake ``gh`` first on PATH for this test and return it."""
    bin_dir = tmp_path / "fake-gh-bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(f"#!{sys.executable} -S\n" + SCRIPT.read_text(encoding="utf-8"), encoding="utf-8")
    gh.chmod(gh.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    fake = FakeGh(bin_dir, tmp_path / "fake-gh-state.json", tmp_path / "fake-gh-log.jsonl")
    fake.state_path.write_text(json.dumps(FRESH_STATE), encoding="utf-8")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_GH_STATE", str(fake.state_path))
    monkeypatch.setenv("FAKE_GH_LOG", str(fake.log_path))
    return fake


def hide_gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Leave only the Python interpreter's folder and the basic system folders on PATH."""
    folders = [str(Path(sys.executable).parent), "/usr/bin", "/bin"]
    visible = [f for f in folders if not (Path(f) / "gh").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(visible))
