"""Expected failures are data: one module holds them, one function words them."""

from __future__ import annotations

import ast
import zipfile
from pathlib import Path

import pytest

import ganymede_sync
from ganymede_sync import errors
from ganymede_sync.errors import (
    ArchiveError,
    ConfigError,
    GanymedeSyncError,
    LimitExceeded,
    LocalStateError,
    ManifestError,
    one_line,
)
from ganymede_sync.remote.archive import open_snapshot
from ganymede_sync.settings.config import ArchiveLimits, load_settings
from ganymede_sync.state.manifest import load_manifest

PACKAGE = Path(ganymede_sync.__file__).parent
SIGNALS = {"remote/limits.py": {"AnswerProblem", "RefusedAddress"}}
"""Exceptions that only carry news between two modules and never reach a person."""


def test_the_line_names_the_problem_the_setting_and_what_to_do():
    error = GanymedeSyncError("too big", hint="raise it", setting="[archive] max_file_mb")
    assert str(error) == one_line(error) == "too big ([archive] max_file_mb): raise it"
    assert str(GanymedeSyncError("plain")) == "plain"


def test_a_setting_already_named_is_not_named_twice():
    error = GanymedeSyncError("over the limit", hint="raise X only if needed", setting="X")
    assert str(error) == "over the limit: raise X only if needed"


def exception_classes(source: str) -> list[str]:
    """Public classes in ``source`` whose bases are named like exceptions (``...Error``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
            continue
        bases = [ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases]
        if any(base.endswith(("Error", "Exception")) for base in bases):
            found.append(node.name)
    return found


def test_the_scan_sees_exception_classes():
    source = "class A(ValueError): ...\nclass B(A): ...\nclass C(x.BaseException): ...\n"
    assert exception_classes(source + "class D:\n    pass\n") == ["A", "C"]


def test_every_exception_class_of_the_library_lives_in_errors():
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "errors.py" or relative.startswith("emulator/"):
            continue
        names = set(exception_classes(path.read_text(encoding="utf-8")))
        names -= SIGNALS.get(relative, set())
        if names:
            found[relative] = sorted(names)
    # The stand-in's GanymedeException imitates the SDK's own class of that name.
    assert found == {"testing/standin.py": ["GanymedeException"]}


def zip_with(path: Path, name: str, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return path


def test_an_entry_over_the_file_limit_carries_the_limit_and_its_setting(tmp_path):
    archive = zip_with(tmp_path / "a.zip", "lib/big.py", b"x = 1\n" * 100)
    with (
        pytest.raises(LimitExceeded) as caught,
        open_snapshot(archive, limits=ArchiveLimits(max_file_bytes=10)),
    ):
        pass
    error = caught.value
    assert isinstance(error, ArchiveError)
    assert error.limit == 10 and error.setting == ArchiveLimits.FILE_SETTING
    assert str(error).count(ArchiveLimits.FILE_SETTING) == 1


def test_too_many_entries_names_its_setting_once(tmp_path):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(3):
            archive.writestr(f"lib/m{index}.py", b"")
    with (
        pytest.raises(LimitExceeded) as caught,
        open_snapshot(path, limits=ArchiveLimits(max_entries=2)),
    ):
        pass
    text = str(caught.value)
    assert caught.value.limit == 2
    assert text.endswith(f"({ArchiveLimits.ENTRIES_SETTING}): nothing was written")


def test_a_broken_manifest_is_a_manifest_error_naming_its_file(tmp_path):
    manifest = tmp_path / ".ganymede" / "dev.json"
    manifest.parent.mkdir()
    manifest.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ManifestError) as caught:
        load_manifest(manifest)
    assert isinstance(caught.value, LocalStateError)
    assert caught.value.path == ".ganymede/dev.json"
    assert str(caught.value).endswith(": " + caught.value.hint)


def test_the_error_tree_is_documented():
    """Every public class of errors.py appears in the module's tree."""
    classes = [
        name
        for name, value in vars(errors).items()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
    ]
    assert classes and all(name in (errors.__doc__ or "") for name in classes)


CONFIG = """\
[ganymede]
subdomain = "acme"

[environments.dev]
ganymede_environment = "dev"
"""


def test_a_missing_token_names_the_variable_to_set(tmp_path):
    (tmp_path / "ganymede.toml").write_text(CONFIG, encoding="utf-8")
    settings = load_settings(tmp_path, {})
    with pytest.raises(ConfigError) as caught:
        settings.require_token(settings.environment("dev"))
    assert caught.value.setting == "GANYMEDE_API_TOKEN_DEV"
    assert str(caught.value).startswith("no API token for environment 'dev': set GANYMEDE_API")


def test_a_bad_limit_names_its_key(tmp_path):
    text = CONFIG + "\n[archive]\nmax_entries = -1\n"
    (tmp_path / "ganymede.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, {})
    assert caught.value.setting == "archive.max_entries"
    assert str(caught.value).count("archive.max_entries") == 1
