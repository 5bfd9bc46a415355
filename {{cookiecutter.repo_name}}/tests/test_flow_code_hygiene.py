"""Hygiene of the flow code itself: every Python file of every environment folder compiles.

Runs in CI on every pull request, so a syntax error is caught before review and
long before a deploy would refuse it. The environment folders come from
ganymede.toml, so a new environment is covered as soon as it is configured.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parent.parent
SETTINGS = tomllib.loads((REPO_ROOT / "ganymede.toml").read_text(encoding="utf-8"))
FOLDERS = sorted(SETTINGS.get("environments", {}))


def compile_errors(folder: Path) -> list[str]:
    """Return one `path:line: message` per Python file under ``folder`` that does not compile."""
    errors = []
    for path in sorted(folder.rglob("*.py")):
        try:
            compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as error:
            line = getattr(error, "lineno", None) or 0
            message = getattr(error, "msg", None) or str(error)
            errors.append(f"{path.relative_to(folder.parent).as_posix()}:{line}: {message}")
    return errors


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_python_file_in_the_environment_folder_compiles(folder: str):
    errors = compile_errors(REPO_ROOT / folder)
    assert not errors, "Python files that do not compile:\n" + "\n".join(errors)
