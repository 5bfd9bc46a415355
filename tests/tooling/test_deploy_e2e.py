"""Deploys against the emulator from real git repositories: what is sent, what is refused."""

from __future__ import annotations

import pytest

from deploy_workspace import TOKEN, USER, Workspace, git, running_workspace
from ganymede_sync.errors import ApiError, AuthenticationError, DeployRefused
from ganymede_sync.local.deploy_record import recorded_deploys
from ganymede_sync.plans import reading
from ganymede_sync.plans.planning import Status

NODE = "Plate_Reader_Ingest/Map_Wells/function.py"
OTHER = "qPCR_Analysis/Flag_Outliers/function.py"
QUERY = "qPCR_Analysis/Delta_Ct/query.sql"
LIB = "lib/labtools/units.py"


@pytest.fixture
def ws(tmp_path):
    with running_workspace(tmp_path) as workspace:
        yield workspace


def statuses(ws: Workspace, **options) -> dict[str, Status]:
    return {entry.path: entry.status for entry in ws.plan(**options).entries if entry.status}


def edit(ws: Workspace, path: str, text: str, *, commit: bool = True) -> bytes:
    data = ws.read(path) + text.encode()
    ws.write(path, data)
    if commit:
        ws.commit(f"Edit {path}")
    return data


# --- classifications ---------------------------------------------------------------
def test_fresh_pull_plans_every_file_unchanged(ws):
    assert set(statuses(ws).values()) == {Status.UNCHANGED}
    assert ws.puts() == 0


def test_local_edit_is_sent_as_one_commit_with_author_message_and_files(ws):
    data = edit(ws, NODE, "# tuned\n")
    first = git(ws.root, "rev-parse", "--short", "HEAD")
    edit(ws, QUERY, "-- tuned\n")
    head = git(ws.root, "rev-parse", "--short", "HEAD")
    before = ws.commit_count()
    outcome = ws.deploy()
    assert outcome.sent == (NODE, QUERY)
    assert ws.commit_count() == before + 1
    newest = ws.emu.commits(ws.name)[0]
    assert newest.author_email == USER
    # The message names every commit being deployed, newest first.
    assert newest.message == f"Edit {QUERY} ({head}); Edit {NODE} ({first})"
    assert sorted(newest.paths) == [f"dags/{NODE}", f"dags/{QUERY}"]
    assert ws.remote_files()[NODE] == data


def test_a_revert_commit_deploys_the_reverted_file(ws):
    pulled = ws.read(NODE)
    edit(ws, NODE, "# a mistake\n")
    ws.deploy()
    ws.write(NODE, pulled)
    ws.commit("Revert the mistake")
    assert statuses(ws)[NODE] is Status.SEND  # Ganymede's version is ours: no conflict
    assert ws.deploy().sent == (NODE,)
    assert ws.remote_files()[NODE] == pulled


def test_plan_keeps_the_bytes_of_the_files_to_send_only(ws):
    data = edit(ws, NODE, "# tuned\n")
    planned = ws.plan()
    assert len(planned.paths(Status.UNCHANGED)) == len(planned.entries) - 1 > 0
    assert dict(planned.contents) == {NODE: data}


def test_web_edit_with_untouched_local_file_is_remote_ahead_and_not_sent(ws):
    ws.web_edit(NODE, b"# edited in Ganymede\n")
    edit(ws, OTHER, "# mine\n")
    assert statuses(ws)[NODE] is Status.REMOTE_AHEAD
    outcome = ws.deploy()
    assert outcome.sent == (OTHER,)
    assert ws.remote_files()[NODE] == b"# edited in Ganymede\n"


def test_edits_on_both_sides_are_refused_listing_the_files(ws):
    ws.web_edit(NODE, b"# edited in Ganymede\n")
    edit(ws, NODE, "# mine\n")
    edit(ws, OTHER, "# mine too\n")
    before = ws.commit_count()
    with pytest.raises(DeployRefused, match=f"{ws.folder}/{NODE}") as caught:
        ws.deploy()
    assert "--force" in str(caught.value)
    assert ws.commit_count() == before and ws.puts() == 0
    assert ws.remote_files()[NODE] == b"# edited in Ganymede\n"


def test_a_conflict_is_merged_with_git_as_the_readme_shows(ws):
    original = ws.read(NODE)
    ws.web_edit(NODE, b"# edited in Ganymede\n" + original)
    edit(ws, NODE, "# mine\n")
    with pytest.raises(DeployRefused):
        ws.deploy()
    # The README's recipe: Ganymede's edits on a branch from the last pull, then a merge.
    last_pull = git(ws.root, "log", "-1", "--format=%H", "--", f".ganymede/{ws.folder}.json")
    git(ws.root, "switch", "-q", "-c", "ganymede-edits", last_pull.strip())
    ws.pull(commit=True)
    git(ws.root, "switch", "-q", "-")
    git(ws.root, "merge", "-q", "--no-edit", "ganymede-edits")
    merged = b"# edited in Ganymede\n" + original + b"# mine\n"
    assert ws.read(NODE) == merged
    assert ws.deploy().sent == (NODE,)
    assert ws.remote_files()[NODE] == merged


def test_force_overwrites_a_conflicting_web_edit(ws):
    ws.web_edit(NODE, b"# edited in Ganymede\n")
    mine = edit(ws, NODE, "# mine\n")
    assert statuses(ws, force=True)[NODE] is Status.OVERWRITE
    outcome = ws.deploy(force=True)
    assert outcome.sent == (NODE,)
    assert ws.remote_files()[NODE] == mine


def test_new_node_file_is_refused_before_any_request_that_writes(ws):
    ws.write("Plate_Reader_Ingest/New_Node/function.py", b"x = 1\n")
    edit(ws, NODE, "# mine\n")
    with pytest.raises(DeployRefused, match="add each node to the tasks of its flow"):
        ws.deploy()
    assert ws.puts() == 0


def test_new_lib_file_is_created_in_ganymede(ws):
    ws.write("lib/labtools/dilution.py", b"FACTOR = 10\n")
    ws.commit("Add a lib module")
    assert statuses(ws)["lib/labtools/dilution.py"] is Status.NEW_LIB
    ws.deploy()
    assert ws.remote_files()["lib/labtools/dilution.py"] == b"FACTOR = 10\n"


def test_file_deleted_locally_is_reported_and_does_not_fail_the_deploy(ws):
    ws.delete(OTHER)
    edit(ws, NODE, "# mine\n")
    assert statuses(ws)[OTHER] is Status.DELETED_LOCALLY
    outcome = ws.deploy()
    assert outcome.sent == (NODE,)
    assert OTHER in ws.remote_files()


def test_syntax_errors_are_all_refused_before_any_put(ws):
    ws.write(NODE, b"def broken(:\n")
    ws.write(LIB, b"x = 1\n  y = 2\n")
    with pytest.raises(DeployRefused) as caught:
        ws.deploy()
    message = str(caught.value)
    assert f"{ws.folder}/{NODE} line 1" in message and f"{ws.folder}/{LIB} line 2" in message
    assert "\n" not in message
    assert ws.puts() == 0


def test_deploy_without_a_recorded_pull_says_to_pull_first(ws):
    ws.environment.manifest_path.unlink()
    with pytest.raises(DeployRefused, match="invoke pull"):
        ws.deploy()


# --- repeated deploys -------------------------------------------------------------
def test_second_deploy_of_the_same_code_sends_nothing(ws):
    edit(ws, NODE, "# mine\n")
    ws.deploy()
    before, puts = ws.commit_count(), ws.puts()
    outcome = ws.deploy()
    assert outcome.sent == () and ws.puts() == puts and ws.commit_count() == before


def test_deploy_after_deploy_without_pull_is_no_conflict(ws):
    edit(ws, NODE, "# first\n")
    ws.deploy()
    second = edit(ws, NODE, "# second\n")
    assert ws.deploy().sent == (NODE,)
    assert ws.remote_files()[NODE] == second


def test_second_deploy_of_uncommitted_edits_is_no_conflict(ws):
    """Trying a change straight from the working tree, twice, before any commit."""
    edit(ws, NODE, "# first try\n", commit=False)
    ws.deploy()
    second = edit(ws, NODE, "# second try\n", commit=False)
    assert ws.deploy().sent == (NODE,)
    assert ws.remote_files()[NODE] == second


def test_record_of_uncommitted_deploys_ends_with_the_next_pull(ws):
    first = edit(ws, NODE, "# first try\n", commit=False)
    ws.deploy()
    ws.commit("Keep the first try")
    ws.web_edit(NODE, b"# edited in Ganymede\n")
    ws.pull()
    assert recorded_deploys(ws.settings(), ws.environment) == {}
    ws.web_edit(NODE, first)
    edit(ws, NODE, "# mine\n")
    with pytest.raises(DeployRefused):
        ws.deploy()


def test_deploy_after_deploy_from_fresh_and_shallow_clones(ws, tmp_path):
    """CI checks out a new clone for every deploy, often shallow."""
    edit(ws, NODE, "# first\n")
    ws.clone(tmp_path / "ci1").deploy()
    second = edit(ws, NODE, "# second\n")
    shallow = ws.clone(tmp_path / "ci2", depth=1)
    assert git(shallow.root, "rev-parse", "--is-shallow-repository") == "true"
    assert shallow.deploy().sent == (NODE,)
    assert ws.remote_files()[NODE] == second


def test_shallow_clone_without_its_remote_fails_with_the_checkout_fix(ws, tmp_path):
    edit(ws, NODE, "# first\n")
    shallow = ws.clone(tmp_path / "ci", depth=1)
    git(shallow.root, "remote", "remove", "origin")
    with pytest.raises(Exception, match="fetch-depth: 0"):
        shallow.deploy()
    assert ws.puts() == 0


def test_big_lib_file_read_in_pieces_is_recognised_after_our_deploy(ws):
    """Files over the one-read size are hashed in pieces on both sides, git's blob id too."""
    rows = (b"row_%d = %d\n" % (n, n * 7919 % 100_003) for n in range(2 * 120_000))
    big = b"".join(rows)
    assert len(big) > 2 * reading.WHOLE_READ_BYTES
    ws.web_edit("lib/tables.py", big)
    ws.pull()
    assert statuses(ws)["lib/tables.py"] is Status.UNCHANGED
    ws.write("lib/tables.py", big + b"# first\n")
    ws.commit()
    assert ws.deploy().sent == ("lib/tables.py",)
    ws.write("lib/tables.py", big + b"# second\n")
    assert ws.deploy().sent == ("lib/tables.py",)
    assert ws.remote_files()["lib/tables.py"] == big + b"# second\n"


def test_web_edit_after_our_deploy_is_still_protected(ws):
    edit(ws, NODE, "# first\n")
    ws.deploy()
    ws.web_edit(NODE, b"# edited in Ganymede after our deploy\n")
    edit(ws, NODE, "# second\n")
    with pytest.raises(DeployRefused):
        ws.deploy()


# --- dry run, author, message -----------------------------------------------------
def test_dry_run_sends_the_same_request_and_commits_nothing(ws):
    edit(ws, NODE, "# mine\n")
    before = ws.commit_count()
    outcome = ws.deploy(dry_run=True)
    assert outcome.dry_run and outcome.sent == (NODE,)
    assert ws.puts() == 1 and ws.commit_count() == before


def test_without_changes_a_dry_run_sends_nothing(ws):
    assert ws.deploy(dry_run=True).sent == ()
    assert ws.puts() == 0


def test_author_and_message_options_win(ws, monkeypatch):
    edit(ws, NODE, "# mine\n")
    ws.deploy(author_email=USER, message="Release 1.2")
    newest = ws.emu.commits(ws.name)[0]
    assert (newest.author_email, newest.message) == (USER, "Release 1.2")


def test_author_email_variable_wins_over_head(ws, tmp_path):
    settings = ws.settings(GANYMEDE_AUTHOR_EMAIL="someone@example.com")
    from ganymede_sync.plans.authorship import resolve_author_email

    assert resolve_author_email(None, settings) == "someone@example.com"
    assert resolve_author_email("x@example.com", settings) == "x@example.com"
    assert resolve_author_email(None, ws.settings()) == USER


# --- failures ---------------------------------------------------------------------
def test_unknown_author_email_is_refused_with_ganymede_message(ws):
    edit(ws, NODE, "# mine\n")
    before = ws.commit_count()
    with pytest.raises(ApiError) as caught:
        ws.deploy(author_email="stranger@example.com")
    assert "stranger@example.com" in str(caught.value) and "registered user" in str(caught.value)
    assert ws.commit_count() == before


def test_wrong_token_fails_without_showing_it(ws):
    edit(ws, NODE, "# mine\n")
    wrong = "wrong-token-77ab"
    with pytest.raises(AuthenticationError) as caught:
        ws.deploy(token=wrong)
    assert wrong not in str(caught.value) and TOKEN not in str(caught.value)


def test_server_error_on_put_fails_and_applies_nothing(ws):
    edit(ws, NODE, "# mine\n")
    before = ws.commit_count()
    ws.emu.add_fault("error", endpoint="commits_put", status=500, body="database is down")
    with pytest.raises(ApiError, match="database is down"):
        ws.deploy()
    assert ws.commit_count() == before and ws.puts() == 1


def test_busy_server_is_retried_and_applied_once(ws):
    edit(ws, NODE, "# mine\n")
    before = ws.commit_count()
    ws.emu.add_fault("rate_limit", endpoint="commits_put", retry_after=0)
    assert ws.deploy().sent == (NODE,)
    assert ws.commit_count() == before + 1


def test_lost_answer_is_resolved_by_reading_ganymede_again(ws):
    data = edit(ws, NODE, "# mine\n")
    before = ws.commit_count()
    ws.emu.add_fault("drop_after_apply", endpoint="commits_put")
    outcome = ws.deploy()
    assert outcome.replanned and outcome.sent == (NODE,)
    assert ws.commit_count() == before + 1 and ws.puts() == 1
    assert ws.remote_files()[NODE] == data
