"""Hygiene of the flow code itself: every Python file of every environment folder compiles.

Runs in CI on every pull request, so a syntax error is caught before review and
long before a deploy would refuse it. The environment folders come from
ganymede.toml, so a new environment is covered as soon as it is configured.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ganymede_sync.config import load_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
FOLDERS = sorted(load_settings(REPO_ROOT, environ={}).environments)


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


def test_compile_errors_names_every_broken_file_with_its_line(tmp_path: Path):
    env = tmp_path / "dev"
    (env / "flow" / "node").mkdir(parents=True)
    (env / "lib").mkdir()
    (env / "flow" / "node" / "function.py").write_text("def run(:\n    pass\n", encoding="utf-8")
    (env / "lib" / "good.py").write_text("VALUE = 1\n", encoding="utf-8")
    (env / "lib" / "bad.py").write_text("x = 1\n  y = 2\n", encoding="utf-8")
    errors = compile_errors(env)
    assert [error.split(":")[:2] for error in errors] == [
        ["dev/flow/node/function.py", "1"],
        ["dev/lib/bad.py", "2"],
    ]


def test_compile_errors_is_empty_for_an_empty_folder(tmp_path: Path):
    assert compile_errors(tmp_path) == []
