"""Which environment folders the deploy workflow deploys after a push or plans for a PR.

Real git repositories; each case is a push GitHub can deliver (``before`` and ``after``
as in the push event) or a pull request's merge commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import git
import pytest

from ganymede_sync.errors import GitError
from ganymede_sync.runners.changes import changed_environments, folders_touched
from ganymede_sync.settings.config import load_settings
from tests.tooling.pull_helpers import CONFIG

REPOSITORY = Path(__file__).resolve().parents[2]
NULL_SHA = "0" * 40


MANIFEST = '{"environment": "%s", "files": {}}\n'


@pytest.fixture
def repo(tmp_path: Path) -> git.Repo:
    """A repository with both folders pulled (code and manifest) in its first commits."""
    repository = git.Repo.init(tmp_path, initial_branch="main")
    dev = {"dev/f/n/function.py": "x = 1\n", ".ganymede/dev.json": MANIFEST % "dev"}
    _commit(repository, {"ganymede.toml": CONFIG, **dev}, "start")
    prod = {"prod/f/n/function.py": "x = 1\n", ".ganymede/prod.json": MANIFEST % "prod"}
    _commit(repository, prod, "prod code")
    return repository


def _changed(repository: git.Repo, before: str | None, after: str) -> list[str]:
    settings = load_settings(Path(repository.working_tree_dir), environ={})
    return changed_environments(settings, before, after).folders


def _commit(repository: git.Repo, files: dict[str, str], message: str) -> str:
    root = Path(repository.working_tree_dir)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    repository.git.add(all=True)
    repository.git.commit("--quiet", "-m", message)
    return repository.head.commit.hexsha


def test_folders_touched_keeps_config_order_and_ignores_prefix_lookalikes():
    paths = ["prod/a/b/function.py", "dev2/x.py", "README.md", "dev/lib/util.py"]
    assert folders_touched(paths, ["dev", "prod", "qa"]) == ["dev", "prod"]


def test_folders_touched_ignores_a_file_named_like_a_folder():
    assert folders_touched(["dev", "prod.md"], ["dev", "prod"]) == []


def test_push_touching_one_folder_deploys_only_that_folder(repo: git.Repo):
    before = repo.head.commit.hexsha
    after = _commit(repo, {"dev/f/n/function.py": "x = 2\n"}, "edit dev")
    assert _changed(repo, before, after) == ["dev"]


def test_push_outside_environment_folders_deploys_nothing(repo: git.Repo):
    before = repo.head.commit.hexsha
    after = _commit(repo, {"README.md": "notes\n"}, "docs")
    assert _changed(repo, before, after) == []


def test_deleting_a_file_counts_as_a_change(repo: git.Repo):
    before = repo.head.commit.hexsha
    repo.git.rm("--quiet", "prod/f/n/function.py")
    repo.git.commit("--quiet", "-m", "remove")
    assert _changed(repo, before, "HEAD") == ["prod"]


def test_a_push_of_several_commits_counts_every_one(repo: git.Repo):
    before = repo.head.commit.hexsha
    _commit(repo, {"prod/f/n/function.py": "x = 2\n"}, "edit prod")
    after = _commit(repo, {"dev/f/n/function.py": "x = 2\n"}, "edit dev")
    assert _changed(repo, before, after) == ["dev", "prod"]


def test_a_rollback_force_push_counts_as_a_change(repo: git.Repo):
    """main goes C -> B: the merge base of C and B is B itself, yet prod/ changed."""
    good = repo.head.commit.hexsha
    bad = _commit(repo, {"prod/f/n/function.py": "x = 666\n"}, "broken prod")
    repo.git.reset("--quiet", "--hard", good)
    assert _changed(repo, bad, good) == ["prod"]


def test_a_force_push_that_replaces_commits_compares_the_two_tips(repo: git.Repo):
    base = repo.head.commit.hexsha
    old_tip = _commit(repo, {"prod/f/n/function.py": "x = 2\n"}, "prod, first try")
    repo.git.reset("--quiet", "--hard", base)
    new_tip = _commit(repo, {"dev/f/n/function.py": "x = 2\n"}, "dev instead")
    assert _changed(repo, old_tip, new_tip) == ["dev", "prod"]  # prod/ went back, dev/ moved


def test_a_pull_request_is_compared_with_its_merge_commits_first_parent(repo: git.Repo):
    """``pull_request.base.sha`` can lag behind the base branch; the merge's parent cannot."""
    stale_base = repo.head.commit.hexsha
    repo.git.checkout("--quiet", "-b", "feature")
    _commit(repo, {"dev/lib/util.py": "y = 1\n"}, "dev change")
    repo.git.checkout("--quiet", "main")
    _commit(repo, {"prod/f/n/function.py": "x = 5\n"}, "prod moves on")
    # What GitHub builds as refs/pull/N/merge: the base tip merged with the branch.
    repo.git.merge("--quiet", "--no-ff", "--no-edit", "feature")
    merge = repo.head.commit.hexsha
    assert _changed(repo, f"{merge}^1", merge) == ["dev"]
    assert _changed(repo, stale_base, merge) == ["dev", "prod"]  # what a lagging base shows


def test_a_folder_never_pulled_is_skipped_with_a_note(repo: git.Repo):
    before = repo.head.commit.hexsha
    repo.git.rm("--quiet", ".ganymede/prod.json")
    after = _commit(repo, {"prod/f/n/function.py": "x = 9\n"}, "prod without its manifest")
    settings = load_settings(Path(repo.working_tree_dir), environ={})
    changes = changed_environments(settings, before, after)
    assert changes.folders == [] and changes.never_pulled == ["prod"]
    assert changes.notes(settings) == [
        "prod/ was never pulled (no .ganymede/prod.json): skipped; run invoke pull "
        "--env prod and commit it to deploy it from here"
    ]


@pytest.mark.parametrize("before", [NULL_SHA, "", "1234567890abcdef1234567890abcdef12345678"])
def test_first_push_or_unknown_before_deploys_every_pulled_folder(repo: git.Repo, before):
    assert _changed(repo, before or None, "HEAD") == ["dev", "prod"]


def test_the_first_push_of_a_new_repository_deploys_nothing_never_pulled(tmp_path: Path):
    repository = git.Repo.init(tmp_path, initial_branch="main")
    _commit(repository, {"ganymede.toml": CONFIG, "dev/README.md": "x\n"}, "from the template")
    assert _changed(repository, NULL_SHA, "HEAD") == []


def test_before_without_common_history_deploys_every_folder_with_files(repo: git.Repo):
    repo.git.checkout("--quiet", "--orphan", "other")
    repo.git.rm("-r", "--quiet", "--force", ".")
    orphan = _commit(repo, {"unrelated.txt": "x\n"}, "unrelated")
    repo.git.checkout("--quiet", "--force", "main")
    assert _changed(repo, orphan, "main") == ["dev", "prod"]


def test_unknown_after_commit_is_a_clear_error(repo: git.Repo):
    settings = load_settings(Path(repo.working_tree_dir), environ={})
    with pytest.raises(GitError, match="fetch-depth: 0"):
        changed_environments(settings, None, "f" * 40)


def test_task_prints_the_list_and_records_the_workflow_output(repo: git.Repo, tmp_path: Path):
    before = repo.head.commit.hexsha
    after = _commit(repo, {"prod/f/n/function.py": "x = 3\n"}, "edit prod")
    output = tmp_path / "github_output"
    invoke = [sys.executable, "-m", "invoke", "--search-root", str(REPOSITORY)]
    result = subprocess.run(
        [*invoke, "changed-environments", "--before", before, "--after", after],
        cwd=repo.working_tree_dir,
        env={**_environ(), "GITHUB_OUTPUT": str(output)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["prod"]
    # prod is protected by default: its deploy waits for the review job.
    assert output.read_text(encoding="utf-8") == 'environments=["prod"]\nreviewed=["prod"]\n'


def test_a_manual_run_lists_the_chosen_folder_alone_changed_or_not(repo: git.Repo, tmp_path: Path):
    output = tmp_path / "github_output"
    invoke = [sys.executable, "-m", "invoke", "--search-root", str(REPOSITORY)]
    run = [*invoke, "changed-environments", "--before", "", "--after", "HEAD", "--only"]
    environ = {**_environ(), "GITHUB_OUTPUT": str(output)}
    result = subprocess.run([*run, "dev"], cwd=repo.working_tree_dir, capture_output=True,
                            env=environ, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert output.read_text(encoding="utf-8") == 'environments=["dev"]\nreviewed=[]\n'
    result = subprocess.run([*run, "nope"], cwd=repo.working_tree_dir, capture_output=True,
                            env=_environ(), text=True)  # fmt: skip
    assert result.returncode == 1 and "unknown environment 'nope'" in result.stderr


def _environ() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("GANYMEDE_")}


def _pulled_manifest(environment: str, files: dict[str, str]) -> str:
    """A manifest recording ``files`` (folder-relative path -> text) as the last pull."""
    hashes = {path: hashlib.sha256(text.encode()).hexdigest() for path, text in files.items()}
    return json.dumps({"environment": environment, "files": hashes}) + "\n"


def test_a_merged_sync_pull_request_deploys_nothing_and_says_why(repo: git.Repo):
    # Ganymede's edit arrives as a sync pull request: files and manifest change together.
    code = {"f/n/function.py": "x = 2\n"}
    before = repo.head.commit.hexsha
    synced = {"dev/f/n/function.py": "x = 2\n", ".ganymede/dev.json": _pulled_manifest("dev", code)}
    after = _commit(repo, synced, "sync dev")
    settings = load_settings(Path(repo.working_tree_dir), environ={})
    changes = changed_environments(settings, before, after)
    assert changes.folders == [] and changes.as_pulled == ["dev"]
    assert changes.notes(settings) == [
        "dev/ is exactly as its last pull recorded (.ganymede/dev.json changed with it): "
        "no deploy, nothing to send or approve"
    ]


def test_a_folder_reverted_to_its_last_pull_without_a_new_pull_still_deploys(repo: git.Repo):
    code = {"f/n/function.py": "x = 1\n"}
    _commit(repo, {".ganymede/dev.json": _pulled_manifest("dev", code)}, "pulled dev")
    before = _commit(repo, {"dev/f/n/function.py": "x = 2\n"}, "edit, deployed")
    after = _commit(repo, {"dev/f/n/function.py": "x = 1\n"}, "revert the edit")
    # Ganymede may hold the deployed edit: the revert must go out, the manifest is unchanged.
    assert _changed(repo, before, after) == ["dev"]


def test_a_sync_merge_with_local_work_on_top_still_deploys(repo: git.Repo):
    code = {"f/n/function.py": "x = 2\n"}
    before = repo.head.commit.hexsha
    _commit(repo, {"dev/f/n/function.py": "x = 2\n",
                   ".ganymede/dev.json": _pulled_manifest("dev", code)}, "sync dev")  # fmt: skip
    after = _commit(repo, {"dev/f/n/function.py": "x = 3\n"}, "and a change of ours")
    assert _changed(repo, before, after) == ["dev"]
