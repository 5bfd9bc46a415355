"""Scratch repositories for a benchmark run: generate, import, serve, populate.

Generates the repository from a copy of the template into a temporary folder,
imports the `ganymede_sync` package from that copy's `tooling/src`, runs its
emulator in a separate process (so the server neither shares our interpreter lock
nor counts in our memory), and writes synthetic environments straight into the
emulator's pipeline repositories with plain git, one commit per change. Never touches
the template checkout.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from subprocess import CompletedProcess
from types import ModuleType

TEMPLATE = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"  # noqa: S105 - the emulator's API key, not a secret
AUTHOR = "bench@example.com"
IDENTITY = {
    "GIT_AUTHOR_NAME": "Benchmark",
    "GIT_AUTHOR_EMAIL": AUTHOR,
    "GIT_COMMITTER_NAME": "Benchmark",
    "GIT_COMMITTER_EMAIL": AUTHOR,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def use_identity() -> None:
    """Give git (ours and the library's) an identity without touching user config."""
    os.environ.update(IDENTITY)
    os.environ["GANYMEDE_API_TOKEN"] = TOKEN


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd`; stop the benchmark with git's message when it fails."""
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **IDENTITY}
    )
    if done.returncode:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")
    return done.stdout


SKIPPED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.py[cod]", ".*_cache", ".hypothesis", "*.tmp",
    "demo-output", ".benchmarks-output", ".emulator",
)  # fmt: skip


def copy_template(destination: Path) -> Path:
    """Copy the template's working tree without caches, editors' temporary files or .venv.

    Generating from a copy keeps a run consistent while files change in the checkout.
    """
    shutil.copytree(TEMPLATE, destination, ignore=SKIPPED)
    return destination


def generate(template: Path, output_dir: Path, environments: Iterable[str] = ("dev",)) -> Path:
    """Generate a repository as a user does and make it a git repository.

    Runs the cookiecutter command so the hooks' notes stay out of the result table.
    """
    done = run_cookiecutter(template, output_dir, "environments=" + ",".join(environments))
    if done.returncode:
        raise RuntimeError(f"generating the repository failed:\n{done.stderr}")
    (root,) = [path for path in output_dir.iterdir() if path.is_dir()]
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", "Generated repository")
    return root


def run_cookiecutter(template: Path, output_dir: Path, *answers: str) -> CompletedProcess[str]:
    """Run the cookiecutter command with ``answers`` (``key=value``), output captured.

    cookiecutter writes each rendered hook script to a temporary file and never deletes
    it: its temporary folder here is one of ours, removed afterwards.
    """
    command = [sys.executable, "-m", "cookiecutter", str(template), "--no-input"]
    with tempfile.TemporaryDirectory(prefix="cookiecutter-hooks-") as hooks:
        return subprocess.run(
            [*command, "-o", str(output_dir), *answers],
            capture_output=True,
            text=True,
            env={**os.environ, "TMPDIR": hooks},
        )


def package_source(template: Path) -> Path:
    """Where the template copy keeps the tooling package's source (`tooling/src`)."""
    return template / "tooling" / "src"


def import_package(source: Path) -> ModuleType:
    """Import `ganymede_sync` from ``source`` (a package source folder), first on sys.path."""
    for name in [name for name in sys.modules if name.split(".")[0] == "ganymede_sync"]:
        del sys.modules[name]
    sys.path.insert(0, str(source))
    importlib.invalidate_caches()
    return importlib.import_module("ganymede_sync")


def has_module(name: str) -> bool:
    """Tell whether a module of the generated package exists (code may land later)."""
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name and (name == error.name or name.startswith(error.name + ".")):
            return False
        raise
    return True


def write_pipeline(
    pipeline: Path, files: Mapping[str, bytes], deleted: Iterable[str] = (), message: str = ""
) -> None:
    """Change the pipeline repository as Ganymede would: repo paths, one commit.

    Flow files live under `dags/`; lib files at the top, as in Ganymede's pipeline
    repository. The emulator serves whatever HEAD holds.
    """
    for path, data in files.items():
        target = pipeline / _pipeline_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for path in deleted:
        (pipeline / _pipeline_path(path)).unlink()
    git(pipeline, "add", "-A")
    git(pipeline, "commit", "-q", "--no-verify", "--allow-empty", "-m", message or "edit")


def _pipeline_path(repo_path: str) -> str:
    return repo_path if repo_path.startswith("lib/") else f"dags/{repo_path}"


class EmulatorProcess:
    """The tooling's emulator, imported from ``source``, served by a child process."""

    def __init__(self, source: Path, data_dir: Path, environments: Iterable[str]) -> None:
        self.source = source
        self.data_dir = data_dir
        self.environments = list(environments)
        self.url = ""
        self.pipelines: dict[str, Path] = {}
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> EmulatorProcess:
        script = Path(__file__).with_name("emulator_process.py")
        command = [sys.executable, str(script), str(self.source), str(self.data_dir), TOKEN, AUTHOR]
        self._process = subprocess.Popen(
            [*command, *self.environments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **IDENTITY},
        )
        line = self._process.stdout.readline() if self._process.stdout else ""
        if not line:
            self.__exit__(None, None, None)
            raise RuntimeError("the emulator process did not start (see its error above)")
        answer = json.loads(line)
        self.url = answer["url"]
        self.pipelines = {env: Path(path) for env, path in answer["pipelines"].items()}
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process is None:
            return
        if self._process.stdin:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


def fresh_dir(path: Path) -> Path:
    """Return `path` as an empty folder."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
