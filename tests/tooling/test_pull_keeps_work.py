"""A pull never loses local work: ignored files, undeployed commits, mass removals.

End to end against the emulator on 127.0.0.1 and real git repositories.
"""

from __future__ import annotations

import hashlib
import stat

import pytest

from ganymede_sync.errors import ArchiveError, ConfigError, LocalChangesError
from ganymede_sync.state.manifest import load_manifest
from ganymede_sync.ui.report import describe_pull
from tests.tooling.pull_helpers import (
    API_KEY,
    CONFIG,
    commit_all,
    entry_with_mode,
    pull_dev,
    pulled_repository,
    run_git,
    run_invoke,
    settings_for,
    tree_state,
    zip_bytes,
)

DELTA = "qPCR_Analysis/Delta_Ct/function.py"
LIB = "lib/labtools/units.py"
SECRET = "lib/labtools/db_local.py"
EMULATOR_ENVIRONMENTS = ("dev",)
"""What the ``emulator`` fixture serves here: a pull needs no other environment."""


@pytest.fixture
def repo(tmp_path, emulator):
    """A repository whose dev/ holds the example flows, pulled and committed."""
    return pulled_repository(tmp_path / "repo", emulator)


pull = pull_dev


def edit_upstream(emulator, path, content: bytes | None):
    pipeline = path if path.startswith("lib/") else f"dags/{path}"
    if content is None:
        emulator.delete_file("dev", pipeline)
    else:
        emulator.write_file("dev", pipeline, content)


# --- item 1: git-ignored managed files are local work ------------------------------
def test_a_git_ignored_managed_file_survives_a_pull(repo, emulator):
    (repo / ".gitignore").write_text("*_local.py\n")
    commit_all(repo, "Ignore local settings")
    (repo / "dev" / SECRET).write_text("PASSWORD = 'hunter2'\n")
    assert run_git(repo, "status", "--porcelain", "dev") == ""  # invisible to git status
    edit_upstream(emulator, DELTA, b"print('upstream')\n")
    summary = pull(repo, emulator)
    assert summary.changed == [DELTA] and not summary.removed
    assert (repo / "dev" / SECRET).read_text() == "PASSWORD = 'hunter2'\n"
    assert summary.kept == [SECRET] and summary.ignored_by_git == [SECRET]
    assert f"  = dev/{SECRET} (kept: git-ignored local file)" in describe_pull(summary)


def test_an_ignored_file_ganymede_has_and_changed_too_is_a_conflict(repo, emulator):
    (repo / ".gitignore").write_text("units.py\n")
    run_git(repo, "rm", "--cached", "--quiet", f"dev/{LIB}")
    commit_all(repo, "Stop tracking units.py")
    (repo / "dev" / LIB).write_text("MINE = 1\n")
    edit_upstream(emulator, LIB, b"THEIRS = 1\n")
    before = tree_state(repo)
    with pytest.raises(LocalChangesError, match=r"units\.py") as caught:
        pull(repo, emulator)
    assert "--force" in str(caught.value) and tree_state(repo) == before
    pull(repo, emulator, force=True)
    assert (repo / "dev" / LIB).read_text() == "THEIRS = 1\n"


# --- item 4: committed, undeployed local work is kept ------------------------------
def test_a_committed_local_change_ganymede_did_not_change_is_kept(repo, emulator):
    (repo / "dev" / DELTA).write_text("print('committed, not yet deployed')\n")
    commit_all(repo, "Local work")
    edit_upstream(emulator, LIB, b"UPSTREAM = 1\n")
    summary = pull(repo, emulator, commit=True)
    assert summary.changed == [LIB] and summary.kept == [DELTA]
    assert (repo / "dev" / DELTA).read_text() == "print('committed, not yet deployed')\n"
    assert f"  = dev/{DELTA} (kept: local change not yet deployed)" in describe_pull(summary)
    # The manifest still records Ganymede's version, so a deploy sends the local one.
    manifest = load_manifest(repo / ".ganymede" / "dev.json")
    upstream = emulator.files("dev")[f"dags/{DELTA}"]
    assert manifest.files[DELTA] == hashlib.sha256(upstream).hexdigest()
    assert run_git(repo, "show", "HEAD:dev/" + DELTA) == "print('committed, not yet deployed')\n"


def test_an_uncommitted_local_change_ganymede_did_not_change_is_kept(repo, emulator):
    (repo / "dev" / DELTA).write_text("work in progress\n")
    edit_upstream(emulator, LIB, b"UPSTREAM = 1\n")
    summary = pull(repo, emulator)
    assert summary.kept == [DELTA] and (repo / "dev" / DELTA).read_text() == "work in progress\n"


def test_a_committed_change_that_ganymede_changed_too_is_refused(repo, emulator):
    (repo / "dev" / DELTA).write_text("mine\n")
    commit_all(repo, "Local work")
    edit_upstream(emulator, DELTA, b"theirs\n")
    before = tree_state(repo)
    with pytest.raises(LocalChangesError, match=f"dev/{DELTA}"):
        pull(repo, emulator, commit=True)
    assert tree_state(repo) == before
    assert pull(repo, emulator, force=True).changed == [DELTA]


def test_a_local_change_to_a_file_deleted_in_ganymede_is_refused(repo, emulator):
    (repo / "dev" / LIB).write_text("CHANGED = 1\n")
    commit_all(repo, "Local work")
    edit_upstream(emulator, LIB, None)
    with pytest.raises(LocalChangesError, match=r"units\.py"):
        pull(repo, emulator)
    assert (repo / "dev" / LIB).read_text() == "CHANGED = 1\n"


def test_an_untouched_file_deleted_in_ganymede_is_removed(repo, emulator):
    edit_upstream(emulator, LIB, None)
    assert pull(repo, emulator).removed == [LIB]


def test_invoke_pull_reports_what_it_kept(repo, emulator):
    (repo / "dev" / DELTA).write_text("mine\n")
    commit_all(repo, "Local work")
    done = run_invoke(
        repo, "pull", "--env", "dev", GANYMEDE_API_URL=emulator.url, GANYMEDE_API_TOKEN=API_KEY
    )
    assert done.returncode == 0, done.stderr
    assert f"= dev/{DELTA} (kept: local change not yet deployed)" in done.stdout


# --- item 5: mass removals and odd entries are refused ------------------------------
def test_an_empty_archive_is_refused_naming_the_count(repo, emulator):
    emulator.add_fault("archive", data=zip_bytes())
    before = tree_state(repo)
    with pytest.raises(LocalChangesError, match=r"every flow \(17 of 17 code files\)"):
        pull(repo, emulator, commit=True)
    assert tree_state(repo) == before
    emulator.add_fault("archive", data=zip_bytes())
    assert len(pull(repo, emulator, force=True).removed) == 17


def test_removing_more_than_the_configured_share_is_refused(repo, emulator):
    for path in list(emulator.files("dev")):
        if path.startswith("dags/LIMS_Sample_Sync/"):
            emulator.delete_file("dev", path)
    (repo / "ganymede.toml").write_text(CONFIG + "\n[sync]\nmax_removed_share = 0.2\n")
    before = tree_state(repo)
    with pytest.raises(LocalChangesError, match=r"would remove 4 of 17 code files, more th"):
        pull(repo, emulator)
    assert tree_state(repo) == before
    (repo / "ganymede.toml").write_text(CONFIG + "\n[sync]\nmax_removed_share = 0.3\n")
    assert len(pull(repo, emulator).removed) == 4


def test_the_share_setting_is_validated(repo):
    (repo / "ganymede.toml").write_text(CONFIG + "\n[sync]\nmax_removed_share = 2\n")
    with pytest.raises(ConfigError, match="max_removed_share"):
        settings_for(repo, "http://127.0.0.1:1")


def test_the_shipped_configuration_documents_the_share():
    from tests.tooling.pull_helpers import REPOSITORY

    assert "# max_removed_share = 0.5" in (REPOSITORY / "ganymede.toml").read_text()


def test_a_file_entry_with_folder_mode_bits_is_refused(repo, emulator):
    odd = entry_with_mode(DELTA, stat.S_IFDIR | 0o755)
    files = [(name.removeprefix("dags/"), data) for name, data in emulator.files("dev").items()]
    code = (".py", ".sql")
    rest = [(name, data) for name, data in files if name != DELTA and name.endswith(code)]
    emulator.add_fault("archive", data=zip_bytes(*rest, (odd, b"print('x')\n")))
    before = tree_state(repo)
    with pytest.raises(ArchiveError, match="marked as a folder"):
        pull(repo, emulator)
    assert tree_state(repo) == before


def test_a_deploy_never_sends_a_git_ignored_file_ganymede_does_not_have(tmp_path):
    from deploy_workspace import running_workspace

    with running_workspace(tmp_path) as ws:
        (ws.root / ".gitignore").write_text("*_local.py\n")
        ws.commit("Ignore local settings")
        ws.write(SECRET, b"PASSWORD = 'hunter2'\n")
        assert SECRET not in [entry.path for entry in ws.plan().entries]
        ws.write(LIB, b"UNITS = 'sent'\n")
        ws.commit()
        assert ws.deploy().sent == (LIB,)
        assert SECRET not in ws.remote_files()
