"""Pull end to end: the emulator over 127.0.0.1, real git repositories, the real task."""

from __future__ import annotations

import io
import stat

import pytest

from ganymede_sync.errors import (
    ApiError,
    ArchiveError,
    ConfigError,
    GitError,
    LocalChangesError,
)
from ganymede_sync.rules.layout import Scope
from ganymede_sync.runners.pull import PullResult
from ganymede_sync.settings.config import ArchiveLimits
from ganymede_sync.state.manifest import load_manifest
from ganymede_sync.ui.progress import ProgressDisplay, render_bar, render_line, wants_bar
from ganymede_sync.ui.report import describe_pull
from tests.tooling.pull_helpers import (
    API_KEY,
    Sleeps,
    commit_all,
    entry_with_mode,
    fast_client,
    files_under,
    make_repository,
    pull_with,
    run_git,
    run_invoke,
    settings_for,
    tree_state,
    zip_bytes,
)

DELTA = "qPCR_Analysis/Delta_Ct/function.py"
LOAD_RUN = "qPCR_Analysis/Load_Run/function.py"
PLATE = "Plate_Reader_Ingest/Read_Plate/function.py"
LIB = "lib/labtools/units.py"
EXAMPLE_FILES = 20
"""The example environment's managed files: 17 of code, and a flow file per flow."""
EMULATOR_ENVIRONMENTS = ("dev",)
"""What the ``emulator`` fixture serves here: a pull needs no other environment."""


@pytest.fixture
def repo(tmp_path):
    return make_repository(tmp_path / "repo")


def pull(repo, emulator, **options):
    settings = settings_for(repo, emulator.url, token=options.pop("token", API_KEY))
    options.setdefault("connect", fast_client())
    return pull_with(settings, "dev", **options)


def edit_upstream(emulator, path, content: bytes):
    emulator.write_file("dev", path if path.startswith("lib/") else f"dags/{path}", content)


def delete_upstream(emulator, path):
    emulator.delete_file("dev", path if path.startswith("lib/") else f"dags/{path}")


def is_clean(repo) -> bool:
    return run_git(repo, "status", "--porcelain") == ""


def outside_of(repo) -> set[str]:
    """Everything beside the repository: a pull must never write there."""
    return {path.name for path in repo.parent.iterdir()}


# --- the happy paths ------------------------------------------------------------
def test_a_first_pull_brings_the_example_flows_and_a_manifest(repo, emulator):
    summary = pull(repo, emulator)
    folder = repo / "dev"
    assert len(summary.added) == EXAMPLE_FILES and not summary.changed and not summary.removed
    assert files_under(folder)[DELTA] == emulator.files("dev")[f"dags/{DELTA}"]
    assert (folder / "README.md").read_text() == "My notes about dev.\n"
    manifest = load_manifest(repo / ".ganymede" / "dev.json")
    assert len(manifest.files) == EXAMPLE_FILES and manifest.environment == "dev"
    assert summary.downloaded_bytes > 0


def test_pulling_again_changes_nothing_and_leaves_git_clean(repo, emulator):
    pull(repo, emulator)
    commit_all(repo, "First pull")
    before = tree_state(repo)
    summary = pull(repo, emulator)
    assert not summary.has_changes and not summary.manifest_written
    assert tree_state(repo) == before and is_clean(repo)
    assert "no changes" in describe_pull(summary)[0]


def test_ganymede_catching_up_with_the_folder_updates_only_the_manifest(repo, emulator):
    pull(repo, emulator)
    (repo / "dev" / DELTA).write_bytes(b"print('deployed')\n")
    commit_all(repo, "Local change, then deployed")
    edit_upstream(emulator, DELTA, b"print('deployed')\n")
    summary = pull(repo, emulator)
    assert not summary.has_changes and summary.manifest_written
    expected = "no file changes; recorded Ganymede's current state in .ganymede/dev.json"
    assert expected in describe_pull(summary)[0]


def test_a_removed_flow_leaves_no_folder_behind_its_bytecode_cache(repo, emulator):
    pull(repo, emulator)
    flow = repo / "dev" / "LIMS_Sample_Sync"
    caches = [node / "__pycache__" for node in flow.iterdir() if node.is_dir()]
    for cache in caches:
        cache.mkdir()
        (cache / "function.cpython-312.pyc").write_bytes(b"\0")
    (caches[0] / "notes.txt").write_text("mine\n")
    gone = ("dags/LIMS_Sample_Sync/", "flows/LIMS_Sample_Sync.json")  # code and flow document
    for path in [p for p in emulator.files("dev") if p.startswith(gone)]:
        emulator.delete_file("dev", path)
    pull(repo, emulator)
    kept = caches[0].relative_to(flow).as_posix()
    assert sorted(path.relative_to(flow).as_posix() for path in flow.rglob("*")) == [
        caches[0].parent.name,
        kept,
        f"{kept}/function.cpython-312.pyc",
        f"{kept}/notes.txt",
    ]


def test_pulling_twice_without_committing_is_fine(repo, emulator):
    pull(repo, emulator)
    edit_upstream(emulator, DELTA, b"print('second')\n")
    summary = pull(repo, emulator)
    assert summary.changed == [DELTA]


def test_upstream_changes_are_mirrored(repo, emulator):
    pull(repo, emulator)
    commit_all(repo, "First pull")
    edit_upstream(emulator, DELTA, b"print('changed')\n")
    edit_upstream(emulator, "New_Flow/Step/function.py", b"print('new')\n")
    edit_upstream(emulator, "lib/labtools/extra.py", b"EXTRA = 1\n")
    delete_upstream(emulator, "qPCR_Analysis/Delta_Ct/query.sql")
    gone = ("dags/LIMS_Sample_Sync/", "flows/LIMS_Sample_Sync.json")  # code and flow document
    for path in [p for p in emulator.files("dev") if p.startswith(gone)]:
        emulator.delete_file("dev", path)
    summary = pull(repo, emulator)
    folder = repo / "dev"
    assert summary.added == [
        "New_Flow/Step/function.py", "New_Flow/flow.json", "lib/labtools/extra.py"
    ]  # fmt: skip
    assert summary.changed == [DELTA]
    assert "qPCR_Analysis/Delta_Ct/query.sql" in summary.removed
    assert len(summary.removed) == 6  # and LIMS_Sample_Sync's 4 code files and flow file
    assert not (folder / "LIMS_Sample_Sync").exists()
    assert (folder / DELTA).read_bytes() == b"print('changed')\n"
    manifest = load_manifest(repo / ".ganymede" / "dev.json")
    assert set(manifest.files) == set(files_under(folder)) - {"README.md"}


def test_files_a_pull_does_not_manage_survive(repo, emulator):
    pull(repo, emulator)
    notes = {
        "README.md": b"My notes about dev.\n",
        "qPCR_Analysis/NOTES.md": b"flow notes\n",
        "qPCR_Analysis/Delta_Ct/data.csv": b"a,b\n",
        "qPCR_Analysis/scratch.py": b"too shallow to be managed\n",
    }
    for path, data in notes.items():
        (repo / "dev" / path).write_bytes(data)
    commit_all(repo, "Notes")
    for path in [p for p in emulator.files("dev") if p.startswith("dags/qPCR_Analysis/")]:
        emulator.delete_file("dev", path)
    pull(repo, emulator)
    found = files_under(repo / "dev")
    assert {path: found[path] for path in notes} == notes


def test_a_single_flow_pull_leaves_other_flows_alone(repo, emulator):
    pull(repo, emulator)
    (repo / "dev" / PLATE).write_text("my local edit\n")
    edit_upstream(emulator, LOAD_RUN, b"print('upstream')\n")
    edit_upstream(emulator, "Plate_Reader_Ingest/Map_Wells/function.py", b"not pulled\n")
    summary = pull(repo, emulator, flow="qPCR_Analysis")
    assert summary.changed == [LOAD_RUN]
    assert (repo / "dev" / PLATE).read_text() == "my local edit\n"
    requested = [r for r in emulator.requests if r.path.endswith("/commits")][-1]
    assert requested.query["flowName"] == "qPCR_Analysis"


def test_an_empty_flow_name_pulls_every_flow(repo, emulator):
    summary = pull(repo, emulator, flow="")
    assert len(summary.added) == EXAMPLE_FILES and summary.scope.flow is None


@pytest.mark.parametrize("flow", ["../x", "a/b", "lib", ".hidden"])
def test_a_flow_name_that_is_no_folder_is_refused_before_any_request(repo, emulator, flow):
    with pytest.raises(ConfigError, match="not a flow name"):
        pull(repo, emulator, flow=flow)
    assert emulator.requests == []


def test_no_lib_leaves_lib_alone(repo, emulator):
    pull(repo, emulator)
    edit_upstream(emulator, LIB, b"changed upstream\n")
    summary = pull(repo, emulator, include_lib=False)
    assert not summary.has_changes
    assert (repo / "dev" / LIB).read_bytes() != b"changed upstream\n"
    commits = [r for r in emulator.requests if r.path.endswith("/commits")]
    assert commits[-1].query["includeLibFiles"] == "false"


def test_the_api_key_never_reaches_the_signed_url(repo, emulator):
    pull(repo, emulator)
    downloads = [r for r in emulator.requests if r.path.startswith("/_download")]
    api_calls = [r for r in emulator.requests if r.path.startswith("/v0/")]
    assert downloads and not any(r.had_api_key for r in downloads)
    assert api_calls and all(r.had_api_key for r in api_calls)


def test_outside_git_a_pull_still_keeps_local_work(tmp_path, emulator):
    root = make_repository(tmp_path / "plain", git=False)
    summary = pull(root, emulator)
    assert len(summary.added) == EXAMPLE_FILES
    (root / "dev" / DELTA).write_text("work\n")
    edit_upstream(emulator, DELTA, b"upstream\n")
    with pytest.raises(LocalChangesError, match="Delta_Ct"):
        pull(root, emulator)
    assert (root / "dev" / DELTA).read_text() == "work\n"


# --- local safety ---------------------------------------------------------------
def test_uncommitted_changes_are_refused_and_listed(repo, emulator):
    pull(repo, emulator)
    commit_all(repo, "First pull")
    (repo / "dev" / DELTA).write_text("hours of work\n")
    edit_upstream(emulator, DELTA, b"upstream\n")
    before = tree_state(repo)
    with pytest.raises(LocalChangesError) as caught:
        pull(repo, emulator)
    assert DELTA in str(caught.value) and "--force" in str(caught.value)
    assert tree_state(repo) == before


def test_a_local_file_ganymede_never_had_is_kept(repo, emulator):
    pull(repo, emulator)
    commit_all(repo, "First pull")
    (repo / "dev" / "qPCR_Analysis/Delta_Ct/helper.py").write_text("new local work\n")
    summary = pull(repo, emulator)
    assert summary.kept == ["qPCR_Analysis/Delta_Ct/helper.py"] and not summary.removed
    assert (repo / "dev" / "qPCR_Analysis/Delta_Ct/helper.py").read_text() == "new local work\n"


def test_local_changes_the_pull_does_not_touch_are_no_obstacle(repo, emulator):
    pull(repo, emulator)
    commit_all(repo, "First pull")
    (repo / "dev" / PLATE).write_text("work in progress\n")
    edit_upstream(emulator, DELTA, b"upstream\n")
    summary = pull(repo, emulator, flow="qPCR_Analysis")
    assert summary.changed == [DELTA]
    assert (repo / "dev" / PLATE).read_text() == "work in progress\n"


def git_commands_run(trace) -> list[str]:
    """Return the git subcommands a GIT_TRACE2 file recorded (none when it was never written)."""
    if not trace.exists():
        return []
    return [
        line.split("cmd_name ", 1)[1].split()[0]
        for line in trace.read_text().splitlines()
        if "cmd_name " in line
    ]


def test_a_pull_finds_local_work_without_git_status(repo, emulator, monkeypatch, tmp_path):
    trace = tmp_path / "git-trace.txt"
    monkeypatch.setenv("GIT_TRACE2", str(trace))
    pull(repo, emulator)
    commit_all(repo, "First pull")
    assert not pull(repo, emulator).has_changes
    edit_upstream(emulator, DELTA, b"upstream\n")
    assert pull(repo, emulator).changed == [DELTA]
    assert "status" not in git_commands_run(trace)


def test_force_overwrites_local_changes(repo, emulator):
    pull(repo, emulator)
    commit_all(repo, "First pull")
    (repo / "dev" / DELTA).write_text("throw this away\n")
    summary = pull(repo, emulator, force=True)
    assert summary.changed == [DELTA]
    assert (repo / "dev" / DELTA).read_bytes() == emulator.files("dev")[f"dags/{DELTA}"]


# --- commit ---------------------------------------------------------------------
def test_commit_records_exactly_the_folder_and_manifest(repo, emulator):
    (repo / "other.txt").write_text("staged elsewhere\n")
    run_git(repo, "add", "other.txt")
    summary = pull(repo, emulator, commit=True)
    assert summary.commit
    message = run_git(repo, "log", "-1", "--format=%s|%an|%ae")
    assert message == "Sync flows in environment dev from Ganymede|Test Author|dev@example.com\n"
    shown = run_git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert ".ganymede/dev.json" in shown and f"dev/{DELTA}" in shown
    assert "other.txt" not in shown
    assert run_git(repo, "status", "--porcelain") == "A  other.txt\n"


def test_commit_records_removals_too(repo, emulator):
    pull(repo, emulator, commit=True)
    delete_upstream(emulator, LOAD_RUN)
    summary = pull(repo, emulator, commit=True)
    assert summary.removed == [LOAD_RUN] and summary.commit
    status = run_git(repo, "show", "--name-status", "--format=", "HEAD").splitlines()
    assert f"D\tdev/{LOAD_RUN}" in status and "M\t.ganymede/dev.json" in status
    assert is_clean(repo)


def test_commit_in_ci_uses_the_sync_bot(repo, emulator, monkeypatch):
    monkeypatch.delenv("GIT_AUTHOR_NAME")
    monkeypatch.delenv("GIT_AUTHOR_EMAIL")
    settings = settings_for(repo, emulator.url)
    pull_with(settings, "dev", commit=True, environ={"CI": "true"}, connect=fast_client())
    author = run_git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>").strip()
    bot = f"{settings.bot_name} <{settings.bot_email}>"
    assert author == f"{bot}|{bot}"


def test_nothing_to_commit_is_not_an_error(repo, emulator):
    pull(repo, emulator, commit=True)
    head = run_git(repo, "rev-parse", "HEAD")
    summary = pull(repo, emulator, commit=True)
    assert summary.commit is None and run_git(repo, "rev-parse", "HEAD") == head
    assert "nothing to commit" in describe_pull(summary)


def test_commit_outside_git_fails_before_downloading(tmp_path, emulator):
    root = make_repository(tmp_path / "plain", git=False)
    with pytest.raises(GitError, match="invoke init"):
        pull(root, emulator, commit=True)
    assert emulator.requests == []


# --- failures leave everything as it was ----------------------------------------
def test_rate_limits_and_server_errors_are_retried_then_the_pull_succeeds(repo, emulator):
    emulator.add_fault("rate_limit", endpoint="commits_get", retry_after=2)
    emulator.add_fault("error", count=2, endpoint="download", status=502)
    sleeps = Sleeps()
    summary = pull(repo, emulator, connect=fast_client(sleeps))
    assert len(summary.added) == EXAMPLE_FILES
    assert sleeps[0] == 2.0 and len(sleeps) == 3


def test_throttled_flow_reads_wait_as_told_then_the_pull_writes_every_flow_file(repo, emulator):
    emulator.add_fault("rate_limit", count=3, endpoint="flow", retry_after=3)
    sleeps = Sleeps()
    summary = pull(repo, emulator, connect=fast_client(sleeps))
    assert len(summary.added) == EXAMPLE_FILES
    assert sorted(sleeps) == [3.0, 3.0, 3.0]  # Retry-After, once per throttled flow read
    assert sorted(p for p in summary.added if p.endswith("/flow.json")) == [
        "LIMS_Sample_Sync/flow.json", "Plate_Reader_Ingest/flow.json", "qPCR_Analysis/flow.json"
    ]  # fmt: skip


def test_failure_after_retries_leaves_the_tree_unchanged(repo, emulator):
    pull(repo, emulator)
    commit_all(repo, "First pull")
    edit_upstream(emulator, DELTA, b"never arrives\n")
    emulator.add_fault("error", count=4, endpoint="download", status=500)
    before = tree_state(repo)
    with pytest.raises(ApiError, match="after 4 attempts"):
        pull(repo, emulator)
    assert tree_state(repo) == before


VICTIM = "qPCR_Analysis/Flag_Outliers/function.py"


def test_a_download_that_keeps_breaking_changes_nothing(repo, emulator):
    pull(repo, emulator)
    edit_upstream(emulator, DELTA, b"never arrives\n")
    emulator.add_fault("truncate", count=4, endpoint="download", after_bytes=40)
    before = tree_state(repo)
    with pytest.raises(ApiError, match="download") as caught:
        pull(repo, emulator)
    assert "stopped after" in str(caught.value) or "dropped" in str(caught.value)
    assert tree_state(repo) == before


HOSTILE = {
    "traversal": ([("../../escaped.py", b"x")], "'..'"),
    "absolute": ([("/tmp/escaped.py", b"x")], "absolute"),
    "drive": ([("C:/escaped.py", b"x")], "drive letter"),
    "backslash": ([("..\\escaped.py", b"x")], "backslash"),
    "symlink": ([(entry_with_mode(VICTIM, stat.S_IFLNK | 0o777), b"/etc/passwd")], "link"),
    "bomb": ([(VICTIM, b"\0" * (8 << 20))], "compression ratio"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archives_are_refused_with_nothing_written(repo, emulator, case):
    pull(repo, emulator)
    commit_all(repo, "First pull")
    hostile, words = HOSTILE[case]
    emulator.add_fault("archive", data=zip_bytes((LOAD_RUN, b"fine\n"), *hostile))
    before, beside = tree_state(repo), outside_of(repo)
    with pytest.raises(ArchiveError, match="unsafe archive: entry") as caught:
        pull(repo, emulator)
    assert words in str(caught.value)
    assert tree_state(repo) == before and outside_of(repo) == beside


def test_archive_limits_are_configurable(repo, emulator):
    with pytest.raises(ArchiveError, match="over the 100-byte limit"):
        pull(repo, emulator, limits=ArchiveLimits(max_file_bytes=100))
    assert not (repo / "dev" / "qPCR_Analysis").exists()


def test_a_corrupt_archive_is_refused_with_nothing_written(repo, emulator):
    pull(repo, emulator)
    before = tree_state(repo)
    emulator.add_fault("archive", data=b"PK\x03\x04 this is no archive")
    with pytest.raises(ArchiveError, match="corrupt or truncated"):
        pull(repo, emulator)
    assert tree_state(repo) == before


# --- the task, as a user runs it ------------------------------------------------
def invoke_pull(repo, emulator, *args, token=API_KEY):
    return run_invoke(
        repo, "pull", "--env", "dev", *args,
        GANYMEDE_API_URL=emulator.url, GANYMEDE_API_TOKEN=token,
    )  # fmt: skip


def test_invoke_pull_twice_shows_the_files_then_no_changes(repo, emulator):
    first = invoke_pull(repo, emulator)
    assert first.returncode == 0, first.stderr
    assert f"{EXAMPLE_FILES} added, 0 changed, 0 removed" in first.stdout
    assert f"+ dev/{DELTA}" in first.stdout and "done in" in first.stdout
    second = invoke_pull(repo, emulator, "--commit")
    assert second.returncode == 0 and "no changes" in second.stdout
    assert "committed" in second.stdout
    assert is_clean(repo)
    assert API_KEY not in first.stdout + first.stderr + second.stdout + second.stderr


@pytest.mark.parametrize(
    ("fault", "arguments", "token", "words"),
    [
        (
            None,
            (),
            "wrong-secret-token",
            "GANYMEDE_API_TOKEN is the API token of environment 'dev'",
        ),
        (None, ("--flow", "No_Such_Flow"), API_KEY, "flow 'No_Such_Flow'"),
        ({"kind": "expire_url"}, (), API_KEY, "expired"),
    ],
    ids=["wrong-token", "unknown-flow", "expired-url"],
)
def test_invoke_pull_failures_are_one_clear_line_and_change_nothing(
    repo, emulator, fault, arguments, token, words
):
    if fault:
        emulator.add_fault(**fault)
    before = tree_state(repo)
    done = invoke_pull(repo, emulator, *arguments, token=token)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and words in lines[-1]
    assert "Traceback" not in done.stderr
    assert token not in done.stdout + done.stderr
    assert "signature=" not in done.stdout + done.stderr
    assert tree_state(repo) == before


def test_invoke_debug_output_shows_neither_token_nor_signature(repo, emulator):
    done = run_invoke(
        repo, "--debug", "pull", "--env", "dev",
        GANYMEDE_API_URL=emulator.url, GANYMEDE_API_TOKEN=API_KEY,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "HTTP Request" in output
    assert API_KEY not in output and "signature=" not in output


def test_invoke_pull_takes_archive_limits_from_ganymede_toml(repo, emulator):
    config = repo / "ganymede.toml"
    config.write_text(config.read_text() + "\n[archive]\nmax_file_mb = 0.0001\n")
    refused = invoke_pull(repo, emulator)
    assert refused.returncode == 1
    assert "[archive] max_file_mb in ganymede.toml" in refused.stderr.strip().splitlines()[-1]
    assert not (repo / "dev" / "qPCR_Analysis").exists()
    config.write_text(config.read_text().replace("0.0001", "1"))
    assert invoke_pull(repo, emulator).returncode == 0


def test_invoke_pull_of_an_unknown_environment_says_what_to_check(repo, emulator):
    done = run_invoke(
        repo, "pull", "--env", "dev", "--retarget",
        GANYMEDE_API_URL=emulator.url, GANYMEDE_API_TOKEN=API_KEY, GANYMEDE_ENVIRONMENT="nope",
    )  # fmt: skip
    assert done.returncode == 1
    assert "environment 'nope'" in done.stderr and "GANYMEDE_ENVIRONMENT" in done.stderr
    assert API_KEY not in done.stdout + done.stderr


def test_invoke_pull_refuses_local_changes_and_lists_them(repo, emulator):
    assert invoke_pull(repo, emulator, "--commit").returncode == 0
    (repo / "dev" / DELTA).write_text("work\n")
    edit_upstream(emulator, DELTA, b"upstream\n")
    done = invoke_pull(repo, emulator)
    assert done.returncode == 1 and f"{DELTA}" in done.stderr and "--force" in done.stderr
    assert (repo / "dev" / DELTA).read_text() == "work\n"


# --- what people see ------------------------------------------------------------
def test_many_changes_are_counted_not_listed():
    paths = [f"f/n{i}/function.py" for i in range(25)]
    summary = PullResult(folder="dev", environment="dev", scope=Scope(), added=paths)
    lines = describe_pull(summary)
    assert "25 added, 0 changed, 0 removed" in lines[0]
    assert not any(line.startswith("  +") for line in lines)


class Terminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_a_bar_is_drawn_only_on_a_terminal_outside_ci():
    assert wants_bar(Terminal(True), in_ci=False)
    assert not wants_bar(Terminal(True), in_ci=True)
    assert not wants_bar(Terminal(False), in_ci=False)
    assert not wants_bar(Terminal(True), in_ci=False, term="dumb")


def test_the_bar_redraws_one_line_and_ends_it():
    stream = Terminal(True)
    display = ProgressDisplay(stream, bar=True)
    display(512, 1024)
    display(1024, 1024)
    display.close()
    output = stream.getvalue()
    assert output.startswith("\rdownloading [") and "1024" not in output
    assert output.count("\r") == 2 and output.endswith("\n") and output.count("\n") == 1


def test_sizes_under_one_mib_are_shown_in_kib():
    assert render_bar("downloading", 2816, 5632).endswith("] 2.8/5.5 KiB")
    assert render_line("downloading", 2 << 20, 4 << 20) == "downloading: 2.0 of 4.0 MiB (50%)"
    assert render_line("downloading", 3 << 20, None) == "downloading: 3.0 MiB"


def test_text_shown_during_a_bar_starts_on_a_fresh_line_once():
    stream = Terminal(True)
    display = ProgressDisplay(stream, bar=True)
    shown = []
    display(512, 1024)
    display.then(shown.append)("plan")
    display.close()
    assert shown == ["plan"]
    assert stream.getvalue().count("\n") == 1 and stream.getvalue().endswith("\n")


def test_logs_get_a_few_plain_lines_and_nothing_for_a_quick_download():
    quick = Terminal(False)
    ProgressDisplay(quick, bar=False)(100, 100)
    assert quick.getvalue() == ""
    slow = Terminal(False)
    display = ProgressDisplay(slow, bar=False)
    display(1 << 20, 4 << 20)
    display(2 << 20, 4 << 20)
    display(4 << 20, 4 << 20)
    assert slow.getvalue().splitlines() == [
        "downloading: 1.0 of 4.0 MiB (25%)",
        "downloading: 4.0 of 4.0 MiB (100%)",
    ]
    assert "\r" not in slow.getvalue()


def test_flow_documents_read_share_the_bar_and_get_their_own_log_lines(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("ganymede_sync.ui.progress.time.monotonic", lambda: clock[0])
    terminal = Terminal(True)
    display = ProgressDisplay(terminal, bar=True)
    display.flows(0, 500)
    clock[0] += 1
    display(1024, 1024)
    clock[0] += 1
    display.flows(500, 500)
    display.close()
    lines = terminal.getvalue().split("\r")[1:]
    assert lines[0] == "flows read 0/500"
    assert (
        lines[-1].rstrip("\n") == "downloading [" + "#" * 30 + "] 1.0/1.0 KiB, flows read 500/500"
    )
    log = Terminal(False)
    display = ProgressDisplay(log, bar=False)
    display.flows(0, 500)  # nothing yet: a quick read says nothing in a log
    clock[0] += 6
    display.flows(120, 500)
    clock[0] += 1
    display.flows(200, 500)  # within the interval
    display.flows(500, 500)
    assert log.getvalue().splitlines() == [
        "flows read: 120 of 500 (24%)",
        "flows read: 500 of 500 (100%)",
    ]
    quick = Terminal(False)
    display = ProgressDisplay(quick, bar=False)
    display.flows(0, 3)
    display.flows(3, 3)
    assert quick.getvalue() == ""


def test_a_pull_counts_the_flow_documents_it_reads_and_only_those(repo, emulator):
    counts: list[tuple[int, int]] = []
    pull(repo, emulator, flows_progress=lambda done, total: counts.append((done, total)))
    assert counts[0] == (0, 3) and counts[-1] == (3, 3) and len(counts) == 4
    counts.clear()
    pull(repo, emulator, flows_progress=lambda done, total: counts.append((done, total)))
    assert counts == [], "flows at the version pulled last time are not read again"
