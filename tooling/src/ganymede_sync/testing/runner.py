"""What ``invoke test`` runs: pytest over the flow tests, after checking the flows' packages.

Kept apart from tasks.py so the command line and the preflight check are testable.
"""

from __future__ import annotations

import re
import shlex
import sys
from importlib import metadata
from pathlib import Path

from ganymede_sync.errors import FlowPackagesMissing
from ganymede_sync.settings.config import Settings
from ganymede_sync.testing.loader import LOCKED_FLOWS_REQUIREMENTS

FLOW_TESTS = "tests"
"""Where flow tests live: the integrity test, the example, and the user's own tests."""
ENV_OPTION = "--ganymede-env"
_PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")


def pinned_packages(requirements: Path) -> list[str]:
    """The package names a lock file pins for this Python and system.

    A pin with a marker (``; python_full_version >= '3.11'``) counts when the marker
    holds. Evaluating markers needs ``packaging``, which pytest brings: before pytest is
    installed, only unconditional pins (pytest among them) are checked.
    """
    names = []
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = _PINNED.match(line.strip())
        _, _, marker = line.strip().rstrip("\\").partition(";")
        if match and (not marker or _holds(marker.strip())):
            names.append(match.group(1))
    return list(dict.fromkeys(names))


def _holds(marker: str) -> bool:
    try:
        from packaging.markers import Marker
    except ImportError:
        return False
    return Marker(marker).evaluate()


def check_flow_packages(root: Path) -> None:
    """Refuse to start when the flows' pinned packages (pytest, pandas, ...) are missing."""
    requirements = root / LOCKED_FLOWS_REQUIREMENTS
    if not requirements.is_file():
        return
    missing = []
    for name in pinned_packages(requirements):
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        raise FlowPackagesMissing(
            f"the flows' packages are not installed ({', '.join(missing)}): "
            f"run pip install -r {LOCKED_FLOWS_REQUIREMENTS}"
        )


def arguments_after_dashes(remainder: str, argv: list[str]) -> list[str]:
    """The words after ``--`` on the command line, with their quoting intact.

    Invoke hands a task that part as one string joined by spaces (its "remainder"), so
    ``-k "a and b"`` would lose its quotes; the original words come from ``argv``.
    """
    if "--" in argv:
        words = argv[argv.index("--") + 1 :]
        if " ".join(words) == remainder:
            return words
    return shlex.split(remainder)


def pytest_command(settings: Settings, env: str | None, extra: list[str]) -> list[str]:
    """The pytest command line of ``invoke test``; ``env`` is checked against ganymede.toml.

    Without a path among ``extra`` (the arguments for pytest), pytest runs every test
    in ``tests``.
    """
    named = any(
        not arg.startswith("-") and (settings.root / arg.split("::")[0]).exists() for arg in extra
    )
    command = [sys.executable, "-m", "pytest", *([] if named else [FLOW_TESTS])]
    if env:
        command += [ENV_OPTION, settings.environment(env).folder]
    return command + extra
