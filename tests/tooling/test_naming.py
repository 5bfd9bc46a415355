"""One naming rule both ways: what a pull refuses, check and deploy refuse to send.

The rule alone, then a pull meeting a bad archive (made elsewhere), then ``invoke
check`` and a deploy against the emulator on 127.0.0.1 with real git repositories.
"""

from __future__ import annotations

import unicodedata

import pytest

from deploy_workspace import TOKEN, running_workspace
from ganymede_sync.errors import ArchiveError, DeployRefused
from ganymede_sync.plans.checks import check_folder
from ganymede_sync.rules import naming
from ganymede_sync.state.manifest import load_manifest
from ganymede_sync.ui.report import describe_pull
from tests.tooling.pull_helpers import (
    API_KEY,
    pull_dev,
    pulled_repository,
    run_invoke,
    tree_state,
    zip_bytes,
)

LIB = "lib/labtools/units.py"
TWIN = "lib/labtools/Units.py"
DELTA = "qPCR_Analysis/Delta_Ct/function.py"
CAFE_NFC = unicodedata.normalize("NFC", "lib/café.py")
CAFE_NFD = unicodedata.normalize("NFD", "lib/café.py")
EMULATOR_ENVIRONMENTS = ("dev",)
"""What the ``emulator`` fixture serves here: a pull needs no other environment."""


# --- the rule ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("lib/x\r.py", "control character"),
        ("lib/x\t.py", "control character"),
        ("flow/node\n/function.py", "control character"),
        ("lib/" + "a" * 253 + ".py", "over 255 bytes"),
        ("lib/" + "é" * 127 + ".py", "over 255 bytes"),
        ("lib/con.py", "reserves"),
        ("lib/AUX/x.py", "reserves"),
        ("lib/a:b.py", "forbids"),
        ("lib/dir./x.py", "space or dot"),
    ],
)
def test_names_a_checkout_cannot_hold_break_the_rule(path, words):
    assert words in naming.name_problems([path])[path]


def test_ordinary_names_pass():
    paths = [LIB, "Flow_1/Node-2/function.py", "lib/console.py", "lib/" + "a" * 252 + ".py"]
    assert naming.name_problems(paths) == {}


@pytest.mark.parametrize(
    "pair",
    [
        (LIB, TWIN),
        (CAFE_NFC, CAFE_NFD),
        ("Assay/n/function.py", "assay/m/function.py"),
        ("lib/Labtools/new.py", LIB),
    ],
)
def test_twins_by_case_or_unicode_form_are_named_on_both_sides(pair):
    found = naming.name_problems(pair)
    assert set(found) == set(pair)
    assert all("only by letter case or Unicode form" in why for why in found.values())


# --- a pull meeting such an archive -------------------------------------------------
@pytest.fixture
def repo(tmp_path, emulator):
    """A repository whose dev/ holds the example flows, pulled and committed."""
    return pulled_repository(tmp_path / "repo", emulator)


pull = pull_dev


def current_archive(emulator, *extra, without=()):
    """Ganymede's archive as it is, plus ``extra`` entries (repository paths)."""
    files = {
        name.removeprefix("dags/"): data
        for name, data in emulator.files("dev").items()
        if name.endswith((".py", ".sql"))
    }
    for path in without:
        files.pop(path)
    return zip_bytes(*files.items(), *extra)


def test_a_pull_names_every_file_to_fix_and_changes_nothing(repo, emulator):
    long = "lib/" + "a" * 300 + ".py"
    bad = [(TWIN, b"B = 1\n"), ("lib/tab\there.py", b""), ("lib/cr\r.py", b""), (long, b"")]
    emulator.add_fault("archive", data=current_archive(emulator, *bad))
    before = tree_state(repo)
    with pytest.raises(ArchiveError) as caught:
        pull(repo, emulator)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message and "\t" not in message
    for path in (f"'dev/{TWIN}'", f"'dev/{LIB}'", r"'dev/lib/tab\there.py'", r"'dev/lib/cr\r.py'"):
        assert path in message
    assert "over 255 bytes" in message
    assert "Rename or remove them in Ganymede" in message and "--skip-invalid" in message
    assert tree_state(repo) == before


def test_skip_invalid_updates_everything_else(repo, emulator):
    changed = (DELTA, b"print('new')\n")
    archive = current_archive(emulator, (TWIN, b"B = 1\n"), changed, without=[DELTA])
    emulator.add_fault("archive", data=archive)
    before = load_manifest(repo / ".ganymede" / "dev.json").files[LIB]
    local_lib = (repo / "dev" / LIB).read_bytes()
    summary = pull(repo, emulator, skip_invalid=True)
    assert summary.changed == [DELTA] and summary.skipped == [TWIN, LIB]
    assert not summary.removed and (repo / "dev" / LIB).read_bytes() == local_lib
    assert not (repo / "dev" / TWIN).exists()
    assert load_manifest(repo / ".ganymede" / "dev.json").files[LIB] == before
    assert any(line.startswith("skipped 2 file(s)") for line in describe_pull(summary))


def test_invoke_pull_with_a_bad_name_is_one_line(repo, emulator):
    emulator.add_fault("archive", data=current_archive(emulator, ("lib/cr\r.py", b"")))
    done = run_invoke(
        repo, "pull", "--env", "dev", GANYMEDE_API_URL=emulator.url, GANYMEDE_API_TOKEN=API_KEY
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "--skip-invalid" in done.stderr


# --- check and deploy refuse what a pull would ---------------------------------------
def test_check_reports_a_case_twin_of_a_pulled_file(repo):
    (repo / "dev" / TWIN).write_text("B = 1\n")
    (repo / "dev" / "lib" / "x\r.py").write_text("")
    known = load_manifest(repo / ".ganymede" / "dev.json").files
    problems = [str(problem) for problem in check_folder(repo / "dev", known)]
    assert any(p.startswith(f"dev/{TWIN}: differs from") for p in problems)
    assert any(p.startswith(r"'dev/lib/x\r.py': holds a control character") for p in problems)
    done = run_invoke(repo, "check", "--env", "dev")
    assert done.returncode == 1 and f"dev/{TWIN}" in done.stdout


def test_check_reports_a_twin_of_a_file_ganymede_has_but_the_folder_lost(repo):
    (repo / "dev" / LIB).unlink()
    (repo / "dev" / TWIN).write_text("B = 1\n")
    known = load_manifest(repo / ".ganymede" / "dev.json").files
    assert [p.path for p in check_folder(repo / "dev", known) if "letter case" in p.message] == [
        f"dev/{TWIN}"
    ]


@pytest.fixture
def workspace(tmp_path):
    with running_workspace(tmp_path) as workspace:
        yield workspace


@pytest.mark.parametrize(
    "path", [TWIN, "lib/Labtools/new.py", "lib/cr\r.py", "lib/tab\t.py", "lib/con.py", "lib/a:b.py"]
)
def test_a_deploy_never_sends_what_a_pull_would_refuse(workspace, path):
    workspace.write(path, b"B = 1\n")
    workspace.commit("New lib file")
    puts = workspace.puts()
    with pytest.raises(DeployRefused, match="names that a later pull could not write"):
        workspace.deploy()
    assert workspace.puts() == puts
    workspace.pull(commit=False)  # Ganymede is still pullable


def test_unicode_twins_across_lib_folders_are_refused(workspace):
    workspace.write(CAFE_NFC, b"A = 1\n")
    workspace.commit("One spelling")
    workspace.deploy()
    workspace.write(CAFE_NFD, b"B = 1\n")
    workspace.commit("Other spelling")
    with pytest.raises(DeployRefused, match="Unicode form"):
        workspace.deploy()


def test_status_names_what_ganymede_holds_that_a_pull_would_refuse(workspace):
    # Served as Ganymede's archive: made elsewhere, whatever the API accepts today.
    files = {**workspace.remote_files(), TWIN: b"B = 1\n"}
    workspace.emu.add_fault("archive", data=zip_bytes(*files.items()))
    done = run_invoke(
        workspace.root, "status", "--env", workspace.folder,
        GANYMEDE_API_URL=workspace.emu.url, GANYMEDE_API_TOKEN=TOKEN,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"a pull would refuse names Ganymede holds: '{workspace.folder}/{TWIN}'" in done.stdout
    assert "--skip-invalid" in done.stdout
