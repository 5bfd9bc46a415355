"""Generated repositories stay updatable: `cruft update` applies later template changes.

The template is copied into a temporary git repository (one commit), a repository
is generated from it with `cruft create` and committed, the user edits their own
paths, the template changes in a second commit, and `cruft update` must apply that
change without conflicts while every user-owned path stays exactly as the user left it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dev
from tests.conftest import TEMPLATE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

GENERATED = "{{cookiecutter.repo_name}}"
IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", "*.pyc"
)
CRUFT = shutil.which("cruft", path=str(Path(sys.executable).parent))
USER_PATHS = (
    "dev/flow/node/function.py",
    "dev/README.md",
    "prod/README.md",
    ".ganymede/dev.json",
    "ganymede.toml",
    ".github/CODEOWNERS",
)
USER_FLOW = "def run():\n    return 'edited by the user'\n"


def git(cwd: Path, *arguments: str) -> str:
    result = subprocess.run(
        ["git", *arguments], cwd=cwd, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def commit_all(cwd: Path, message: str) -> str:
    git(cwd, "add", "--all")
    git(cwd, "commit", "--quiet", "--no-verify", "-m", message)
    return git(cwd, "rev-parse", "HEAD")


def cruft(cwd: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    if CRUFT is None:
        pytest.fail("cruft is not installed: run python3 dev.py test (it installs the tools)")
    return subprocess.run(
        [CRUFT, *arguments], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture
def isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the user's global git configuration (signing, hooks) out of these repositories,
    and the hook scripts cruft's cookiecutter renders (and never deletes) in this test's
    own temporary folder."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()


@pytest.fixture
def template_repo(tmp_path: Path, isolated_git: None) -> Path:
    """A git repository holding a copy of the template, in one commit."""
    copy = tmp_path / "template"
    shutil.copytree(TEMPLATE, copy, ignore=IGNORED)
    git(copy, "init", "--quiet", "--initial-branch", "main")
    commit_all(copy, "Template as released")
    return copy


def generate(template: Path, output: Path) -> Path:
    output.mkdir()
    result = cruft(output, "create", str(template), "--no-input", "--output-dir", str(output))
    assert result.returncode == 0, result.stdout + result.stderr
    (project,) = [path for path in output.iterdir() if path.is_dir()]
    git(project, "init", "--quiet", "--initial-branch", "main")
    commit_all(project, "Generated from the template")
    return project


def make_user_edits(project: Path) -> None:
    """Edit only what belongs to the user: flow code, manifests, settings, owners."""
    node = project / "dev" / "flow" / "node"
    node.mkdir(parents=True)
    (node / "function.py").write_text(USER_FLOW, encoding="utf-8")
    (project / "dev" / "README.md").write_text("# Our dev notes\n", encoding="utf-8")
    (project / ".ganymede").mkdir(exist_ok=True)
    (project / ".ganymede" / "dev.json").write_text('{"files": {}}\n', encoding="utf-8")
    config = project / "ganymede.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace('ganymede_environment = "dev"', 'ganymede_environment = "lab-dev"')
    )
    owners = project / ".github" / "CODEOWNERS"
    owners.write_text("/prod/ @acme/prod-owners\n", encoding="utf-8")
    readme = project / "README.md"
    title, rest = readme.read_text(encoding="utf-8").split("\n", 1)
    readme.write_text(f"{title}\n\nOur team's notes.\n{rest}", encoding="utf-8")
    commit_all(project, "Our own work")


def change_template(template: Path) -> str:
    """A later template release: workflow and README changes, a new file, and changes
    to user-owned paths that an update must never bring in."""
    generated = template / GENERATED
    ci = generated / ".github" / "workflows" / "ci.yml"
    ci.write_text(ci.read_text(encoding="utf-8") + "# Template release 2\n", encoding="utf-8")
    readme = generated / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nRelease 2 notes.\n", encoding="utf-8")
    (generated / "CHANGELOG.md").write_text("# Changes\n\n- release 2\n", encoding="utf-8")
    config = generated / "ganymede.toml"
    config.write_text("# Release 2 settings header\n" + config.read_text(encoding="utf-8"))
    owners = generated / ".github" / "CODEOWNERS"
    owners.write_text("# Release 2 owners\n" + owners.read_text(encoding="utf-8"))
    hook = template / "hooks" / "post_gen_project.py"
    hook.write_text(hook.read_text(encoding="utf-8").replace("Pulls manage", "Pulls only manage"))
    return commit_all(template, "Template release 2")


@pytest.mark.slow
def test_cruft_update_applies_a_template_change_and_keeps_user_paths(template_repo, tmp_path):
    project = generate(template_repo, tmp_path / "out")
    make_user_edits(project)
    before = {path: (project / path).read_bytes() for path in USER_PATHS}
    release = change_template(template_repo)

    result = cruft(project, "update", "--skip-apply-ask", "--allow-untracked-files")
    assert result.returncode == 0, result.stdout + result.stderr

    assert not list(project.rglob("*.rej")), "the update left rejected hunks"
    for path in project.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            assert b"<<<<<<<" not in path.read_bytes(), f"conflict markers in {path}"
    ci = (project / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    assert ci.endswith("# Template release 2\n")
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert "\n\nOur team's notes.\n" in readme, "a user edit elsewhere in the file is merged"
    assert readme.endswith("Release 2 notes.\n")
    assert (project / "CHANGELOG.md").is_file()
    assert {path: (project / path).read_bytes() for path in USER_PATHS} == before
    assert json.loads((project / ".cruft.json").read_text(encoding="utf-8"))["commit"] == release
    git(project, "add", "--all")
    changed = set(git(project, "diff", "--cached", "--name-only").splitlines())
    assert changed == {".cruft.json", ".github/workflows/ci.yml", "README.md", "CHANGELOG.md"}


def bump_a_user_pin(project: Path) -> bytes:
    """Do what a Dependabot pull request does: a new version and hash of one of the user's pins."""
    lock = project / "requirements-dev.txt"
    text = lock.read_text(encoding="utf-8")
    bumped, count = re.subn(
        r"^ruff==\S+ \\\n(    --hash=sha256:[0-9a-f]{64}(?: \\)?\n)+",
        "ruff==99.0.0 \\\n    --hash=sha256:" + "0" * 64 + "\n",
        text,
        flags=re.MULTILINE,
    )
    assert count == 1, "the ruff pin of requirements-dev.txt was not found"
    lock.write_text(bumped, encoding="utf-8")
    commit_all(project, "deps: bump ruff")
    return bumped.encode()


def release_new_tooling(template: Path) -> str:
    """A template release whose only change is the tooling: a new version of the wheel."""
    init = template / "tooling" / "src" / "ganymede_sync" / "__init__.py"
    init.write_text(init.read_text(encoding="utf-8").replace('__version__ = "', '__version__ = "9'))
    pinned = template / GENERATED / ".ganymede-sync"
    dev.release_wheel(Path(sys.executable), template / "tooling", pinned)
    return commit_all(template, "Release the tooling 9.x")


@pytest.mark.slow
def test_a_tooling_upgrade_is_a_small_clean_update_after_a_dependabot_bump(template_repo, tmp_path):
    """cruft replaces the wheel and its pin line; the user's bumped lock is left alone."""
    project = generate(template_repo, tmp_path / "out")
    bumped = bump_a_user_pin(project)
    (old_wheel,) = (project / ".ganymede-sync").glob("*.whl")
    release_new_tooling(template_repo)

    result = cruft(project, "update", "--skip-apply-ask", "--allow-untracked-files")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "conflict" not in (result.stdout + result.stderr).lower()
    assert (project / "requirements-dev.txt").read_bytes() == bumped
    (new_wheel,) = (project / ".ganymede-sync").glob("*.whl")
    assert new_wheel.name.startswith("ganymede_sync-9") and not old_wheel.exists()
    git(project, "add", "--all")
    changed = set(git(project, "diff", "--cached", "--no-renames", "--name-only").splitlines())
    pins = ".ganymede-sync/requirements.txt"
    wheels = {f".ganymede-sync/{wheel.name}" for wheel in (old_wheel, new_wheel)}
    assert changed == {".cruft.json", pins, *wheels}
    diff = git(project, "diff", "--cached", "--numstat", "--", pins).split()
    assert diff[:2] == ["2", "2"], "the pin changes by its wheel line and its hash line"
    expected = (template_repo / GENERATED / ".ganymede-sync" / new_wheel.name).read_bytes()
    assert new_wheel.read_bytes() == expected, "the binary wheel arrives intact"


@pytest.mark.slow
def test_cruft_check_reports_a_fresh_repository_as_up_to_date(template_repo, tmp_path):
    project = generate(template_repo, tmp_path / "out")
    result = cruft(project, "check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_pyproject_skips_every_user_owned_path(bake):
    project = bake(environments="dev, staging ,prod")
    settings = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert settings["tool"]["cruft"]["skip"] == [
        "dev",
        "staging",
        "prod",
        ".ganymede",
        "tests",
        "ganymede.toml",
        "requirements-flows.in",
        "requirements-flows.txt",
        "requirements-dev.in",
        "requirements-dev.txt",
        ".github/CODEOWNERS",
    ]


@pytest.mark.slow
def test_adding_an_environment_through_cruft_updates_choices_and_skip_list(template_repo, tmp_path):
    """The README's recipe for a new environment works as written."""
    project = generate(template_repo, tmp_path / "out")
    make_user_edits(project)
    variables = json.dumps({"environments": "dev,prod,qa"})
    result = cruft(
        project,
        "update",
        "--skip-apply-ask",
        "--allow-untracked-files",
        "--variables-to-update",
        variables,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not list(project.rglob("*.rej")), "the update left rejected hunks"
    pull = (project / ".github" / "workflows" / "pull.yml").read_text(encoding="utf-8")
    assert "          - qa\n" in pull
    settings = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert settings["tool"]["cruft"]["skip"][:3] == ["dev", "prod", "qa"]
    assert (project / "qa" / "README.md").is_file()
    assert (project / "dev" / "flow" / "node" / "function.py").read_text() == USER_FLOW
    assert "lab-dev" in (project / "ganymede.toml").read_text(encoding="utf-8")
