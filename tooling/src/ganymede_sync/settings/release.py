"""Which tooling a repository runs: its version, its required minimum, its pinned wheel.

A generated repository does not hold the tooling's source; it pins one wheel by sha256
in ``.ganymede-sync/requirements.txt``. This module reads that pin and the optional
``minimum_tooling_version`` of ganymede.toml (pre-commit's ``minimum_pre_commit_version``
is the model), so settings can refuse a tooling that is too old and ``doctor`` can name
a wheel whose bytes are not the ones pinned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ganymede_sync import __version__
from ganymede_sync.errors import ConfigError
from ganymede_sync.rules.hashing import sha256_file

PIN_FOLDER = ".ganymede-sync"
PIN_FILE = f"{PIN_FOLDER}/requirements.txt"
MINIMUM_KEY = "minimum_tooling_version"
_VERSION = re.compile(r"^\d+(\.\d+){0,2}$")
_WHEEL_LINE = re.compile(
    r"^\./(?P<path>\.ganymede-sync/ganymede_sync-(?P<version>[^-\s]+)-py3-none-any\.whl)"
    r"\s*\\?\s*\n\s*--hash=sha256:(?P<sha256>[0-9a-f]{64})\s*$",
    re.MULTILINE,
)


def version_tuple(text: str) -> tuple[int, ...]:
    """``"1.2"`` -> ``(1, 2, 0)``; anything but up to three dot-separated numbers is refused."""
    if not _VERSION.match(text):
        raise ConfigError(
            f'{MINIMUM_KEY} = {text!r} is not a version like "1.2.0"',
            hint="fix it in ganymede.toml",
            setting=MINIMUM_KEY,
        )
    parts = tuple(int(part) for part in text.split("."))
    return parts + (0,) * (3 - len(parts))


def require_minimum(minimum: object) -> None:
    """Refuse to run when ganymede.toml asks for a newer tooling than this one."""
    if minimum is None:
        return
    if not isinstance(minimum, str):
        raise ConfigError(
            f'{MINIMUM_KEY} must be a string like "1.2.0"',
            hint="fix it in ganymede.toml",
            setting=MINIMUM_KEY,
        )
    if version_tuple(minimum) > version_tuple(__version__):
        raise ConfigError(
            f"this repository needs ganymede-sync {minimum} or newer; {__version__} is installed",
            hint=f"update the template (cruft update), then pip install -r {PIN_FILE}",
            setting=MINIMUM_KEY,
        )


@dataclass(frozen=True)
class Pin:
    """The wheel a repository pins: its path under the root, its version and sha256."""

    path: str
    version: str
    sha256: str


def read_pin(root: Path) -> Pin | None:
    """The wheel pinned in ``root``'s requirements, or None where nothing is pinned there."""
    try:
        text = (root / PIN_FILE).read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    found = _WHEEL_LINE.search(text)
    if found is None:
        return None
    return Pin(found["path"], found["version"], found["sha256"])


def wheel_problem(root: Path, pin: Pin) -> str | None:
    """Why the pinned wheel is not the one pinned (missing, other bytes), or None."""
    wheel = root / pin.path
    try:
        digest = sha256_file(wheel)
    except FileNotFoundError:
        return f"{pin.path} is missing"
    if digest != pin.sha256:
        return f"{pin.path} has sha256 {digest[:12]}..., not the pinned {pin.sha256[:12]}..."
    return None
