"""Layout rules: which paths a pull manages, scopes, and the archive mapping."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ganymede_sync.rules import layout
from ganymede_sync.rules.layout import Scope, flow_of, is_lib_path, is_managed, scan_managed


@pytest.mark.parametrize(
    "path",
    [
        "flow/node/function.py",
        "flow/node/query.sql",
        "flow/node/deeper/helper.py",
        "lib/helpers.py",
        "lib/pkg/sub/module.py",
        "lib/sql/columns.sql",
    ],
)
def test_code_files_of_flows_and_lib_are_managed(path):
    assert is_managed(path)


@pytest.mark.parametrize(
    "path",
    [
        "README.md",
        "notes.py",
        "flow/function.py",
        "flow/node/notes.md",
        "flow/node/data.csv",
        "lib",
        "lib/",
        "flow/.ipynb_checkpoints/function.py",
        ".venv/lib/site.py",
        "flow/node/.hidden.py",
        "flow/../node/function.py",
        "flow//function.py",
    ],
)
def test_other_files_are_the_users(path):
    assert not is_managed(path)


def test_lib_paths_belong_to_no_flow():
    assert is_lib_path("lib/x.py")
    assert not is_lib_path("library/node/x.py")
    assert flow_of("lib/x.py") is None
    assert flow_of("flow/node/function.py") == "flow"
    assert flow_of("README.md") is None


@pytest.mark.parametrize("name", ["flow", "Plate_Reader_Ingest", "a-b.c"])
def test_plain_flow_names_are_valid(name):
    assert layout.is_valid_flow_name(name)


@pytest.mark.parametrize("name", ["", "lib", "..", ".", "a/b", ".hidden", "a\\b/c"])
def test_flow_names_that_are_not_one_folder_are_invalid(name):
    assert not layout.is_valid_flow_name(name)


def test_full_scope_covers_every_flow_and_lib():
    scope = Scope()
    assert scope.covers("a/n/function.py")
    assert scope.covers("lib/x.py")


def test_single_flow_scope_covers_that_flow_and_lib_only():
    scope = Scope(flow="a")
    assert scope.covers("a/n/function.py")
    assert scope.covers("lib/x.py")
    assert not scope.covers("ab/n/function.py")
    assert not scope.covers("b/n/function.py")


def test_scope_without_lib_leaves_lib_out():
    assert not Scope(include_lib=False).covers("lib/x.py")
    assert Scope(include_lib=False).covers("b/n/function.py")
    assert not Scope(flow="a", include_lib=False).covers("lib/x.py")


def test_archive_names_map_to_the_same_repository_paths_in_protocol_v0():
    assert layout.repo_path_from_archive("flow/node/function.py") == "flow/node/function.py"
    assert layout.repo_path_from_archive("lib/x.py") == "lib/x.py"


def test_a_flows_prefix_is_one_constant_away(monkeypatch):
    monkeypatch.setattr(layout, "ARCHIVE_FLOWS_PREFIX", "flows/")
    assert layout.repo_path_from_archive("flows/flow/node/function.py") == "flow/node/function.py"
    assert layout.repo_path_from_archive("lib/x.py") == "lib/x.py"
    assert layout.repo_path_from_archive("connectors/c/x.py") is None


def test_scan_finds_managed_files_only(tmp_path):
    for path in ("a/n/function.py", "a/n/notes.md", "lib/x.py", "README.md", ".venv/a/b/c.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    found = scan_managed(tmp_path)
    assert sorted(found) == ["a/n/function.py", "lib/x.py"]
    assert found["lib/x.py"] == tmp_path / "lib" / "x.py"


@pytest.mark.skipif(os.name == "nt", reason="symbolic links need privileges on Windows")
def test_scan_skips_links_to_files_and_folders(tmp_path):
    outside = tmp_path / "outside"
    (outside / "n").mkdir(parents=True)
    (outside / "n" / "function.py").write_text("x")
    folder = tmp_path / "dev"
    (folder / "a" / "n").mkdir(parents=True)
    (folder / "a" / "n" / "function.py").symlink_to(outside / "n" / "function.py")
    (folder / "linked").symlink_to(outside, target_is_directory=True)
    assert scan_managed(folder) == {}


def test_scan_of_a_missing_folder_is_empty(tmp_path):
    assert scan_managed(tmp_path / "missing") == {}


segment = st.text(alphabet="abc._-/\\", min_size=0, max_size=12)


@given(st.lists(segment, min_size=1, max_size=5).map("/".join))
def test_a_managed_path_never_leaves_its_folder(path):
    if is_managed(path):
        parts = path.split("/")
        assert ".." not in parts and "" not in parts and not path.startswith("/")
        assert path.endswith((".py", ".sql"))
