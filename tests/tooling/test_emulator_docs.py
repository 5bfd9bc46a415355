"""docs/emulator.md keeps up with the emulator: every option, fault kind and admin call."""

from __future__ import annotations

import re
from pathlib import Path

from ganymede_sync.emulator import FAULT_KINDS
from ganymede_sync.emulator.__main__ import build_parser

PAGE = Path(__file__).resolve().parents[2] / "docs" / "emulator.md"


def test_every_command_line_option_is_documented():
    text = PAGE.read_text(encoding="utf-8")
    options = {o for action in build_parser()._actions for o in action.option_strings}
    missing = sorted(o for o in options - {"-h", "--help"} if f"`{o}" not in text)
    assert missing == []


def test_every_fault_kind_is_documented():
    rows = re.findall(r"^\| `(\w+)` \|", PAGE.read_text(encoding="utf-8"), re.MULTILINE)
    assert set(FAULT_KINDS) <= set(rows)


def test_every_documented_admin_call_sends_the_api_key():
    lines = [line for line in PAGE.read_text(encoding="utf-8").splitlines() if "curl" in line]
    admin = [line for line in lines if "/_emulator/" in line]
    assert admin, "the page shows how to call the admin endpoints"
    assert all("api-key" in line or '"$KEY"' in line for line in admin)
