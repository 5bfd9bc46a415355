"""Applying snapshots to a folder: mirror within scope, keep the rest, all or nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ganymede_sync.errors import ArchiveError, GanymedeSyncError, LocalChangesError
from ganymede_sync.local.apply import apply_plan, next_manifest, plan_sync, scan_local
from ganymede_sync.remote.archive import open_snapshot
from ganymede_sync.rules.hashing import sha256_bytes
from ganymede_sync.rules.layout import Scope
from ganymede_sync.settings.config import ArchiveLimits
from ganymede_sync.state.manifest import Manifest, load_manifest, save_manifest
from tests.tooling.pull_helpers import files_under, tree_state, zip_bytes

A = ("a/n/function.py", b"print('a')\n")
A_SQL = ("a/n/query.sql", b"select 1\n")
B = ("b/m/function.py", b"print('b')\n")
LIB = ("lib/tools/x.py", b"X = 1\n")


FULL = Scope()


def sync(root: Path, *entries, scope=FULL, limits=None, now=lambda: "T1", manifest_path=None):
    """Apply an archive of ``entries`` to ``root/dev``; return the result."""
    path = root.parent / f"{root.name}.zip"
    path.write_bytes(zip_bytes(*entries))
    manifest_path = manifest_path or root / ".ganymede" / "dev.json"
    with open_snapshot(path, limits=limits) as snapshot:
        plan = plan_sync(root / "dev", snapshot, scope)
        return apply_plan(
            plan,
            snapshot,
            manifest_path=manifest_path,
            old_manifest=load_manifest(root / ".ganymede" / "dev.json"),
            environment="dev",
            now=now,
        )


@pytest.fixture
def tmp_path(tmp_path):
    """A repository root with nothing else in it (archives are written beside it)."""
    root = tmp_path / "repo"
    root.mkdir()
    return root


def write(folder: Path, path: str, data: bytes) -> None:
    (folder / path).parent.mkdir(parents=True, exist_ok=True)
    (folder / path).write_bytes(data)


def leftovers(root: Path) -> list[str]:
    return [p.name for p in root.iterdir() if ".pull-" in p.name]


def test_a_first_pull_creates_the_folder_and_manifest(tmp_path):
    result = sync(tmp_path, A, A_SQL, LIB)
    assert files_under(tmp_path / "dev") == dict([A, A_SQL, LIB])
    assert result.added == sorted([A[0], A_SQL[0], LIB[0]]) and result.manifest_written
    manifest = load_manifest(tmp_path / ".ganymede" / "dev.json")
    assert manifest.files == {path: sha256_bytes(data) for path, data in (A, A_SQL, LIB)}
    assert manifest.changed_at == "T1" and manifest.flow is None and manifest.include_lib
    assert leftovers(tmp_path) == []


def test_new_folders_at_every_depth_are_created_in_any_order(tmp_path):
    entries = [
        ("lib/0.py", b"a"),
        ("lib/a/b/c/x.py", b"b"),
        ("lib/a/b/y.py", b"c"),
        ("lib/a/z.py", b"d"),
        ("lib/b.py", b"e"),
        ("f/n/function.py", b"f"),
        ("f/n2/deep/er/x.py", b"g"),
        ("f/n3/query.sql", b"h"),
    ]
    sync(tmp_path, *entries)
    write(tmp_path / "dev", "f/n/notes.md", b"mine")
    more = [("f/n/sub/x.py", b"i"), ("f/n2/deep/y.py", b"j"), ("f/n4/a/b/x.py", b"k")]
    result = sync(tmp_path, *entries, *more)
    assert result.added == sorted(path for path, _ in more)
    assert files_under(tmp_path / "dev") == {**dict(entries), **dict(more), "f/n/notes.md": b"mine"}


def test_changes_upstream_are_mirrored_and_the_rest_kept(tmp_path):
    sync(tmp_path, A, A_SQL, B, LIB)
    folder = tmp_path / "dev"
    write(folder, "README.md", b"mine\n")
    write(folder, "a/n/notes.md", b"my notes\n")
    changed_a = (A[0], b"print('a2')\n")
    new_c = ("c/k/function.py", b"c\n")
    result = sync(tmp_path, changed_a, new_c, LIB)
    assert (result.added, result.changed) == (["c/k/function.py"], ["a/n/function.py"])
    assert result.removed == ["a/n/query.sql", "b/m/function.py"]
    assert files_under(folder) == {
        "README.md": b"mine\n",
        "a/n/notes.md": b"my notes\n",
        **dict([changed_a, new_c, LIB]),
    }
    assert not (folder / "b").exists(), "a flow gone upstream leaves no empty folder"


def test_unchanged_files_are_not_rewritten(tmp_path):
    sync(tmp_path, A, B, LIB)
    folder = tmp_path / "dev"
    old = 1_000_000_000
    for path in (A[0], B[0], LIB[0]):
        os.utime(folder / path, ns=(old, old))
    before = tree_state(tmp_path)
    result = sync(tmp_path, A, B, LIB, now=lambda: "T2")
    assert (result.added, result.changed, result.removed) == ([], [], [])
    assert not result.manifest_written
    assert tree_state(tmp_path) == before


def test_a_change_keeps_the_manifest_time_only_when_files_stay(tmp_path):
    sync(tmp_path, A)
    sync(tmp_path, (A[0], b"new\n"), now=lambda: "T2")
    assert load_manifest(tmp_path / ".ganymede" / "dev.json").changed_at == "T2"


def test_a_single_flow_pull_leaves_other_flows_alone(tmp_path):
    sync(tmp_path, A, B, LIB)
    folder = tmp_path / "dev"
    write(folder, B[0], b"local edit of b\n")
    result = sync(tmp_path, (A[0], b"a2\n"), (LIB[0], b"X = 2\n"), scope=Scope(flow="a"))
    assert result.changed == [A[0], LIB[0]] and result.removed == []
    assert (folder / B[0]).read_bytes() == b"local edit of b\n"
    files = load_manifest(tmp_path / ".ganymede" / "dev.json").files
    assert files[B[0]] == sha256_bytes(B[1]), "entries outside the scope are kept"
    assert files[A[0]] == sha256_bytes(b"a2\n")


def test_a_single_flow_pull_removes_files_of_that_flow_only(tmp_path):
    sync(tmp_path, A, A_SQL, B)
    result = sync(tmp_path, A, scope=Scope(flow="a"))
    assert result.removed == [A_SQL[0]]
    assert (tmp_path / "dev" / B[0]).exists()


def test_without_lib_the_lib_folder_is_left_alone(tmp_path):
    sync(tmp_path, A, LIB)
    write(tmp_path / "dev", "lib/mine.py", b"mine\n")
    result = sync(tmp_path, A, scope=Scope(include_lib=False))
    assert result.removed == []
    assert (tmp_path / "dev" / LIB[0]).read_bytes() == LIB[1]
    assert (tmp_path / "dev" / "lib" / "mine.py").exists()


def test_archive_files_outside_the_scope_are_counted_not_written(tmp_path):
    path = tmp_path / "snapshot.zip"
    path.write_bytes(zip_bytes(A, B))
    with open_snapshot(path) as snapshot:
        plan = plan_sync(tmp_path / "dev", snapshot, Scope(flow="a"))
    assert plan.added == [A[0]] and plan.out_of_scope == 1


def test_a_corrupt_entry_leaves_the_folder_exactly_as_before(tmp_path):
    sync(tmp_path, A, B)
    before = tree_state(tmp_path)
    limits = ArchiveLimits(max_total_bytes=150)
    big = ("c/k/function.py", b"y" * 100)
    with pytest.raises(ArchiveError):
        sync(tmp_path, (A[0], b"z" * 100), B, big, limits=limits)
    assert tree_state(tmp_path) == before
    assert leftovers(tmp_path) == []


def test_a_failure_while_swapping_puts_everything_back(tmp_path):
    sync(tmp_path, A, A_SQL, B)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the manifest folder belongs")
    before = tree_state(tmp_path / "dev")
    with pytest.raises(GanymedeSyncError, match="left as it was"):
        new = (A[0], b"new\n")
        sync(tmp_path, new, ("c/k/function.py", b"c\n"), manifest_path=blocker / "dev.json")
    assert tree_state(tmp_path / "dev") == before
    assert leftovers(tmp_path) == []


def test_an_interruption_while_swapping_puts_everything_back(tmp_path, monkeypatch):
    sync(tmp_path, A, A_SQL, B)
    before = tree_state(tmp_path)
    import ganymede_sync.local.apply as sync_module

    def interrupted(point):
        if point == "move":
            raise KeyboardInterrupt

    monkeypatch.setattr(sync_module, "checkpoint", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sync(tmp_path, (A[0], b"new\n"), ("c/k/function.py", b"c\n"))
    assert tree_state(tmp_path) == before
    assert leftovers(tmp_path) == []


def test_a_local_file_where_a_folder_is_needed_is_refused(tmp_path):
    write(tmp_path / "dev", "a", b"a file named like a flow\n")
    with pytest.raises(LocalChangesError, match="dev/a is a file or link"):
        sync(tmp_path, A)
    assert (tmp_path / "dev" / "a").read_bytes() == b"a file named like a flow\n"


def test_a_local_folder_where_a_file_is_needed_is_refused(tmp_path):
    (tmp_path / "dev" / A[0]).mkdir(parents=True)
    with pytest.raises(LocalChangesError, match="is a folder where Ganymede has a file"):
        sync(tmp_path, A)


@pytest.mark.skipif(os.name == "nt", reason="symbolic links need privileges on Windows")
def test_a_linked_flow_folder_is_never_written_through(tmp_path):
    outside = tmp_path / "outside"
    (outside / "n").mkdir(parents=True)
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "a").symlink_to(outside, target_is_directory=True)
    with pytest.raises(LocalChangesError):
        sync(tmp_path, A)
    assert list(outside.rglob("*.py")) == []


def test_next_manifest_keeps_the_old_one_when_nothing_changed():
    old = Manifest("dev", {A[0]: "1"}, changed_at="T0")
    assert next_manifest(old, "dev", Scope(), {A[0]: "1"}, now=lambda: "T9") is old
    new = next_manifest(old, "dev", Scope(), {A[0]: "2"}, now=lambda: "T9")
    assert new.files == {A[0]: "2"} and new.changed_at == "T9"


def test_manifest_json_is_deterministic_and_rewritten_only_on_change(tmp_path):
    path = tmp_path / "m.json"
    manifest = Manifest("dev", {"b/x/y.py": "2", "a/x/y.py": "1"}, changed_at="T0")
    assert save_manifest(path, manifest)
    text = path.read_text()
    assert text.endswith("}\n") and text.index("a/x/y.py") < text.index("b/x/y.py")
    assert not save_manifest(path, Manifest("dev", {"a/x/y.py": "1", "b/x/y.py": "2"}, "T0"))
    assert load_manifest(path) == manifest


def reference_manifest_json(manifest: Manifest) -> str:
    """The manifest format as first defined: indented, sorted, non-ASCII kept."""
    data = {
        "changed_at": manifest.changed_at,
        "environment": manifest.environment,
        "files": manifest.files,
        "flow": manifest.flow,
        "include_lib": manifest.include_lib,
        "version": 1,
    }
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_manifest_json_keeps_the_exact_bytes_of_existing_manifests():
    manifest = Manifest("dev", {"b/x/y.py": "2", "a/x/y.py": "1"}, changed_at="T0", flow="b")
    assert manifest.to_json() == (
        '{\n  "changed_at": "T0",\n  "environment": "dev",\n  "files": {\n'
        '    "a/x/y.py": "1",\n    "b/x/y.py": "2"\n  },\n  "flow": "b",\n'
        '  "include_lib": true,\n  "version": 1\n}\n'
    )
    assert Manifest("dev").to_json() == reference_manifest_json(Manifest("dev"))


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.text(), st.text(), max_size=6),
    st.text(),
    st.none() | st.text(),
    st.none() | st.text(),
    st.booleans(),
)
def test_manifest_json_equals_the_indented_format_for_any_content(
    files, environment, changed_at, flow, include_lib
):
    manifest = Manifest(environment, files, changed_at, flow, include_lib)
    assert manifest.to_json() == reference_manifest_json(manifest)


def test_an_unreadable_manifest_says_how_to_recover(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text("{not json")
    with pytest.raises(GanymedeSyncError, match="restore it from git"):
        load_manifest(path)


managed_paths = st.sampled_from(
    ["a/n/function.py", "a/n/query.sql", "a/m/function.py", "b/n/function.py", "lib/x.py",
     "lib/p/y.sql"]
)  # fmt: skip
contents = st.sampled_from([b"", b"one\n", b"two\n", b"x" * 300])
scopes = st.sampled_from([FULL, Scope(flow="a"), Scope(include_lib=False), Scope("b", False)])


@settings(max_examples=40, deadline=None)
@given(
    local=st.dictionaries(managed_paths, contents),
    remote=st.dictionaries(managed_paths, contents),
    scope=scopes,
)
def test_a_pull_mirrors_its_scope_and_keeps_everything_else(tmp_path_factory, local, remote, scope):
    root = tmp_path_factory.mktemp("repo")
    for path, data in {**local, "README.md": b"mine\n", "a/notes.txt": b"n\n"}.items():
        write(root / "dev", path, data)
    sync(root, *remote.items(), scope=scope)
    found = files_under(root / "dev")
    expected = {p: d for p, d in local.items() if not scope.covers(p)}
    expected.update({p: d for p, d in remote.items() if scope.covers(p)})
    expected.update({"README.md": b"mine\n", "a/notes.txt": b"n\n"})
    assert found == expected
    assert leftovers(root) == []


def test_a_folder_changed_since_its_walk_is_planned_as_it_is_now(tmp_path):
    """A pull walks the folder while the archive downloads: what changed meanwhile is
    asked again, so a file removed is added back, and a folder put in a file's place is
    neither removed nor replaced as the file it was."""
    folder = tmp_path / "dev"
    for path, data in (A, B, LIB):
        write(folder, path, data)
    walked = scan_local(folder)
    (folder / A[0]).unlink()
    (folder / B[0]).unlink()
    (folder / B[0]).mkdir()
    archive = tmp_path.parent / "walked.zip"
    archive.write_bytes(zip_bytes(A, LIB))
    with open_snapshot(archive) as snapshot:
        plan = plan_sync(folder, snapshot, FULL, local=walked)
        assert plan.added == [A[0]] and list(plan.unchanged) == [LIB[0]]
        assert plan.removed == []  # the folder where B was is the user's, never removed
    archive.write_bytes(zip_bytes(A, B, LIB))
    with open_snapshot(archive) as snapshot, pytest.raises(LocalChangesError, match="folder"):
        plan_sync(folder, snapshot, FULL, local=walked)
