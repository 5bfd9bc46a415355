"""`invoke diff` and `invoke promote` between dev and prod, against the emulator and real git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from conftest import API_KEY

from ganymede_sync.rules import flow_file
from ganymede_sync.rules.layout import scan_managed
from task_runner import run_task as run

CONFIG = """[ganymede]
subdomain = "acme"

[environments.dev]
ganymede_environment = "dev"

[environments.prod]
ganymede_environment = "prod"
"""
NODE = "qPCR_Analysis/Delta_Ct/function.py"
LIB = "lib/labtools/units.py"
BRANCH = "promote/dev-to-prod"


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


class Repo:
    """A repository with dev/ and prod/ pulled from the emulator and committed."""

    def __init__(self, root: Path, emulator) -> None:
        self.root, self.emu = root, emulator

    def files(self, folder: str) -> dict[str, bytes]:
        return {p: f.read_bytes() for p, f in scan_managed(self.root / folder).items()}

    def write(self, path: str, data: bytes) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def append(self, path: str, text: str) -> None:
        self.write(path, (self.root / path).read_bytes() + text.encode())

    def commit(self, message: str) -> None:
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", message)

    def remote(self, environment: str, flow: str) -> dict[str, bytes]:
        """Ganymede's files of one flow, in repository layout: its code and its flow file."""
        prefix = f"dags/{flow}/"
        files = {
            path.removeprefix("dags/"): data
            for path, data in self.emu.files(environment).items()
            if path.startswith(prefix) and path.endswith((".py", ".sql"))
        }
        url = f"{self.emu.url}/v2/environment/{environment}/flows/{flow}"
        document = httpx.get(url, headers={"api-key": API_KEY}).json()
        files[f"{flow}/flow.json"] = flow_file.from_document(document).encode()
        return files

    def state(self) -> tuple[str, str, str]:
        """Branch, HEAD and status: what a refused promotion must leave as it was."""
        status = git(self.root, "status", "--porcelain", "--untracked-files=all")
        return (
            git(self.root, "branch", "--show-current"),
            git(self.root, "rev-parse", "HEAD"),
            status,
        )


@pytest.fixture
def repo(tmp_path, emulator, monkeypatch, capsys) -> Repo:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "ganymede.toml").write_text(CONFIG, encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    monkeypatch.chdir(root)
    monkeypatch.setenv("GANYMEDE_API_URL", emulator.url)
    monkeypatch.setenv("GANYMEDE_API_TOKEN", API_KEY)
    for folder in ("dev", "prod"):
        code, _, err = run(capsys, "pull", "--env", folder)
        assert code == 0, err
    made = Repo(root, emulator)
    made.commit("Pull dev and prod")
    return made


def test_diff_of_equal_folders_exits_zero(repo, capsys):
    code, out, _ = run(capsys, "diff", "--env", "dev", "--against", "prod")
    assert code == 0
    assert out.splitlines()[-1] == "dev/ and prod/ are equal (20 files)"  # 17 of code, 3 flow files
    assert "qPCR_Analysis/" in out and "same" in out


def test_diff_lists_what_differs_with_unified_diffs_and_exits_one(repo, capsys):
    repo.append(f"dev/{NODE}", "# tuned in dev\n")
    repo.write("dev/qPCR_Analysis/Plot/function.py", b"def execute():\n    return 1\n")
    (repo.root / "prod/LIMS_Sample_Sync/Map_Fields/function.py").unlink()
    repo.write("prod/Prod_Only/Report/function.py", b"x = 1\n")
    code, out, _ = run(capsys, "diff", "--env", "dev", "--against", "prod")
    assert code == 1
    lines = out.splitlines()
    assert "  qPCR_Analysis/Delta_Ct/function.py  changed" in lines
    assert "  qPCR_Analysis/Plot/                 only in dev/" in lines
    assert "  LIMS_Sample_Sync/Map_Fields/        only in dev/" in lines
    assert [line.split() for line in lines if not line.startswith(("  ", "-", "+", "@"))][:5] == [
        ["LIMS_Sample_Sync/", "differs"],
        ["Plate_Reader_Ingest/", "same"],
        ["Prod_Only/", "only", "in", "prod/"],
        ["qPCR_Analysis/", "differs"],
        ["lib/", "same"],
    ]
    assert f"--- prod/{NODE}" in lines and f"+++ dev/{NODE}" in lines
    assert "+# tuned in dev" in lines
    assert "--- /dev/null" in lines and "+++ dev/qPCR_Analysis/Plot/function.py" in lines
    assert "dev/ and prod/ differ: 1 changed, 2 only in dev/, 1 only in prod/, 18 same" in lines


def test_diff_stat_and_flow_limit_what_is_shown(repo, capsys):
    repo.append(f"dev/{NODE}", "# tuned in dev\n")
    repo.append(f"dev/{LIB}", "# lib change\n")
    code, out, _ = run(capsys, "diff", "--env", "dev", "--against", "prod", "--stat")
    assert code == 1 and "@@" not in out and "+++" not in out
    assert "  lib/labtools/units.py" in out
    code, out, _ = run(
        capsys, "diff", "--env", "dev", "--against", "prod", "--flow", "Plate_Reader_Ingest"
    )
    assert code == 0 and "lib/" not in out and "qPCR_Analysis" not in out
    code, _, err = run(capsys, "diff", "--env", "dev", "--against", "stage")
    assert code == 1 and err.startswith("error: unknown environment 'stage'")


def test_promotion_of_one_flow_shows_its_plan_commits_and_deploys(
    repo, capsys, tmp_path, monkeypatch
):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    repo.append(f"dev/{NODE}", "# tuned in dev\n")
    repo.append("dev/Plate_Reader_Ingest/Map_Wells/function.py", "# not promoted\n")
    repo.commit("Tune delta Ct in dev")
    body = tmp_path / "body.md"
    code, out, err = run(
        capsys, "promote", "--from", "dev", "--to", "prod", "--flow", "qPCR_Analysis",
        "--no-lib", "--commit", "--body-file", str(body),
    )  # fmt: skip
    assert code == 0, err
    plan_rows = [line.split() for line in out.splitlines() if line.startswith("prod/")]
    assert plan_rows == [[f"prod/{NODE}", "send"]]
    assert "total: 19 unchanged, 1 to send" in out
    assert "Deploy plan of prod/ -> acme/prod after promoting qPCR_Analysis from dev/:" in out
    assert f"updated prod/{NODE}" in out
    assert git(repo.root, "branch", "--show-current") == BRANCH
    message = git(repo.root, "log", "-1", "--format=%B")
    assert message.startswith("Promote qPCR_Analysis from dev to prod\n")
    assert "lib/: left as it was" in message
    assert git(repo.root, "show", "--name-only", "--format=", "HEAD").splitlines() == [
        f"prod/{NODE}"
    ]
    markdown = body.read_text(encoding="utf-8")
    assert f"`prod/{NODE}`" in markdown and "- Flows: `qPCR_Analysis`" in markdown
    assert API_KEY not in out + err + markdown
    assert summary.read_text(encoding="utf-8") == markdown + "\n"

    code, out, err = run(capsys, "deploy", "--env", "prod")
    assert code == 0, err
    assert "deployed 1 file to acme/prod (from prod/)" in out
    assert repo.remote("prod", "qPCR_Analysis") == {
        p: d for p, d in repo.files("dev").items() if p.startswith("qPCR_Analysis/")
    }
    not_promoted = "Plate_Reader_Ingest/Map_Wells/function.py"
    assert (
        repo.remote("prod", "Plate_Reader_Ingest")[not_promoted] != repo.files("dev")[not_promoted]
    )
    code, out, _ = run(capsys, "diff", "--env", "dev", "--against", "prod", "--stat")
    assert code == 1 and "Plate_Reader_Ingest/Map_Wells/function.py  changed" in out


def test_commit_refuses_an_existing_branch_of_the_same_pair_before_changing_anything(repo, capsys):
    git(repo.root, "branch", BRANCH)
    repo.append(f"dev/{NODE}", "# tuned\n")
    repo.commit("Tune dev")
    before, requests = repo.state(), len(repo.emu.requests)
    code, _, err = run(capsys, "promote", "--from", "dev", "--to", "prod", "--commit")
    assert code == 1 and err.startswith(f"error: branch {BRANCH} already exists: switch to it")
    assert repo.state() == before and len(repo.emu.requests) == requests


def test_promotion_is_refused_for_a_node_the_target_lacks(repo, capsys):
    new_node = "qPCR_Analysis/Normalise/function.py"
    repo.emu.write_file("dev", f"dags/{new_node}", b"def execute():\n    return 2\n",
                        author_email="dev@example.com")  # fmt: skip
    assert run(capsys, "pull", "--env", "dev")[0] == 0
    repo.commit("Pull the new node of dev")
    before, files, requests = repo.state(), repo.files("prod"), len(repo.emu.requests)

    code, out, err = run(capsys, "promote", "--from", "dev", "--to", "prod", "--commit")
    assert code == 1
    assert f"prod/{new_node}  new node file" in out
    errors = err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: nothing was changed in prod/")
    # Ganymede's flow document lacks the node, so the flow file copied to prod does too.
    assert f"prod/{new_node}" in errors[0] and "tasks of its flow's flow.json" in errors[0]
    assert repo.state() == before and repo.files("prod") == files
    assert all(r.method == "GET" for r in repo.emu.requests[requests:])

    # What the refusal says to do: create the node in prod, pull, promote again.
    repo.emu.write_file("prod", f"dags/{new_node}", b"def execute():\n    pass\n",
                        author_email="ops@example.com")  # fmt: skip
    assert run(capsys, "pull", "--env", "prod")[0] == 0
    repo.commit("Pull the new node of prod")
    code, out, err = run(capsys, "promote", "--from", "dev", "--to", "prod")
    assert code == 0, err
    assert [line.split() for line in out.splitlines() if line.startswith("prod/")] == [
        [f"prod/{new_node}", "send"]
    ]


def test_lib_is_promoted_by_default_and_left_alone_with_no_lib(repo, capsys):
    repo.append(f"dev/{LIB}", "# shared change\n")
    repo.append(f"dev/{NODE}", "# tuned\n")
    repo.commit("Change lib and a node in dev")
    prod_lib = (repo.root / "prod" / LIB).read_bytes()

    flows = "qPCR_Analysis, Plate_Reader_Ingest"  # as the workflow passes its input
    code, out, err = run(
        capsys, "promote", "--from", "dev", "--to", "prod", "--no-lib", "--flow", flows
    )
    assert code == 0, err
    assert "promoted 2 flows from dev to prod: 1 file(s)" in out
    assert (repo.root / "prod" / LIB).read_bytes() == prod_lib
    assert (repo.root / "prod" / NODE).read_bytes() == (repo.root / "dev" / NODE).read_bytes()
    repo.commit("Promote the flows")

    code, out, err = run(capsys, "promote", "--from", "dev", "--to", "prod")
    assert code == 0, err
    assert f"prod/{LIB}" in out and "send" in out
    assert repo.files("prod") == repo.files("dev")


def test_target_only_flows_and_unmanaged_files_are_left_alone(repo, capsys):
    repo.emu.write_file("prod", "dags/Prod_Only/Report/function.py", b"x = 1\n",
                        author_email="ops@example.com")  # fmt: skip
    repo.emu.write_file("prod", "dags/qPCR_Analysis/Legacy/function.py", b"y = 1\n",
                        author_email="ops@example.com")  # fmt: skip
    assert run(capsys, "pull", "--env", "prod")[0] == 0
    own = {
        "prod/README.md": b"# prod\n",
        "prod/qPCR_Analysis/notes.txt": b"kept\n",
        "prod/qPCR_Analysis/Delta_Ct/data.csv": b"a,b\n",
    }
    for path, data in own.items():
        repo.write(path, data)
    repo.commit("Pull prod and add own files")
    repo.append(f"dev/{NODE}", "# tuned\n")
    repo.commit("Tune dev")

    code, out, err = run(capsys, "promote", "--from", "dev", "--to", "prod")
    assert code == 0, err
    rows = {
        line.split()[0]: line.split(None, 1)[1]
        for line in out.splitlines()
        if line.startswith("prod/")
    }
    assert rows == {
        f"prod/{NODE}": "send",
        "prod/qPCR_Analysis/Legacy/function.py": (
            "deleted here, still in Ganymede (the API cannot delete)"
        ),
    }
    assert "removed prod/qPCR_Analysis/Legacy/function.py" in out
    assert "the API cannot delete" in out
    assert not (repo.root / "prod/qPCR_Analysis/Legacy").exists()
    assert (repo.root / "prod/Prod_Only/Report/function.py").read_bytes() == b"x = 1\n"
    assert all((repo.root / path).read_bytes() == data for path, data in own.items())
    assert git(repo.root, "ls-files", "--others", "--exclude-standard") == ""
    assert git(repo.root, "diff", "--name-only", "HEAD").splitlines() == [
        f"prod/{NODE}",
        "prod/qPCR_Analysis/Legacy/function.py",
    ]


def test_a_file_that_cannot_be_written_leaves_the_target_as_it_was(repo, capsys):
    repo.append(f"dev/{LIB}", "# shared change\n")
    repo.write("dev/lib/labtools/zz.py", b"z = 1\n")
    repo.write("prod/lib/labtools/zz.py/kept.txt", b"a folder where dev has a file\n")
    repo.commit("Change lib in dev; a folder in prod's lib")
    before, files = repo.state(), repo.files("prod")
    code, out, err = run(capsys, "promote", "--from", "dev", "--to", "prod")
    assert code == 1
    assert err.strip().startswith("error: could not write prod/lib/labtools/zz.py (")
    assert err.strip().endswith("nothing was changed in prod/")
    assert f"prod/{LIB}" in out, "the plan came first"
    assert repo.state() == before and repo.files("prod") == files


def test_uncommitted_changes_in_the_target_are_refused_before_any_request(repo, capsys):
    repo.append(f"dev/{NODE}", "# tuned\n")
    repo.commit("Tune dev")
    repo.append("prod/Plate_Reader_Ingest/Read_Plate/function.py", "# local work\n")
    before, requests = repo.state(), len(repo.emu.requests)
    code, _, err = run(capsys, "promote", "--from", "dev", "--to", "prod")
    assert code == 1
    assert err.strip() == (
        "error: prod/ has uncommitted changes: prod/Plate_Reader_Ingest/Read_Plate/function.py "
        "(commit or stash them, then promote again)"
    )
    assert repo.state() == before and len(repo.emu.requests) == requests


def test_nothing_to_promote_changes_nothing(repo, capsys):
    before = repo.state()
    code, out, _ = run(capsys, "promote", "--from", "dev", "--to", "prod", "--commit")
    assert code == 0 and out.startswith("nothing to promote: prod/ already has dev/'s 3 flows")
    assert repo.state() == before


def test_a_chain_allows_only_the_next_environment(repo, capsys):
    config = repo.root / "ganymede.toml"
    chained = CONFIG + '\n[environments.staging]\nganymede_environment = "staging"\n'
    chained += '\n[promotion]\nchain = ["dev", "staging", "prod"]\n'
    config.write_text(chained, encoding="utf-8")
    repo.commit("Add staging and a promotion chain")
    for source, target, expected in [
        ("dev", "prod", "promotes dev to staging only, not to prod"),
        ("prod", "dev", "prod is the last environment of the [promotion] chain"),
        ("staging", "dev", "promotes staging to prod only, not to dev"),
    ]:
        code, _, err = run(capsys, "promote", "--from", source, "--to", target)
        assert code == 1 and len(err.strip().splitlines()) == 1, err
        assert expected in err and "(dev -> staging -> prod)" in err
    config.write_text(CONFIG + '\n[promotion]\nchain = ["dev", "qa"]\n', encoding="utf-8")
    code, _, err = run(capsys, "promote", "--from", "dev", "--to", "prod")
    assert code == 1 and "names 'qa', which is not a folder" in err


def test_a_target_moved_by_an_override_is_refused_before_any_change(repo, capsys, monkeypatch):
    """prod/ is bound to acme/prod: a plan read from dev would approve the wrong promotion."""
    repo.append(f"dev/{NODE}", "# tuned in dev\n")
    repo.commit("Tune delta Ct in dev")
    before, requests = repo.state(), len(repo.emu.requests)
    monkeypatch.setenv("GANYMEDE_ENVIRONMENT", "dev")
    code, _, err = run(capsys, "promote", "--from", "dev", "--to", "prod", "--commit")
    assert code == 1 and "Traceback" not in err
    assert err.strip() == (
        "error: prod/ is bound to acme/prod (.ganymede/prod.json) but this run targets "
        "acme/dev (set by GANYMEDE_ENVIRONMENT): unset that override"
    )
    assert repo.state() == before
    assert len(repo.emu.requests) == requests
