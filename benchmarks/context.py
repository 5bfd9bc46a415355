"""What every benchmark suite gets: settings, scratch space, repository, emulator, rows."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import harness, workspace
from benchmarks.ours import Library


@dataclass
class Context:
    """One benchmark run's shared state; suites append their rows to `rows`."""

    repeat: int
    scratch: Path
    template: Path
    root: Path
    emulator: workspace.EmulatorProcess | None
    library: Library
    quick: bool = False
    syscalls: bool = False
    """Also count the system calls of one `invoke pull` and one official step (strace)."""
    rows: list[harness.Row] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def log(self, message: str) -> None:
        """Progress goes to stderr so stdout holds only the table."""
        elapsed = time.perf_counter() - self.started
        print(f"bench [{elapsed:5.0f} s]: {message}", file=sys.stderr, flush=True)

    @property
    def api_url(self) -> str:
        return self._emulator().url

    def pipeline(self, environment: str) -> Path:
        return self._emulator().pipelines[environment]

    def _emulator(self) -> workspace.EmulatorProcess:
        if self.emulator is None:
            raise RuntimeError("this suite needs the emulator, which is not running")
        return self.emulator

    def seed(self, environment: str, flows: int) -> dict[str, bytes]:
        """Write a synthetic environment of ``flows`` flows into its pipeline repository."""
        from benchmarks import synthetic

        files = synthetic.environment_files(flows)
        workspace.write_pipeline(self.pipeline(environment), files, message="Synthetic flows")
        return files

    def folder(self, environment: str) -> Path:
        return self.root / environment

    def restore(self, commit: str) -> None:
        """Put the generated repository back to `commit`, untracked files removed."""
        workspace.git(self.root, "reset", "-q", "--hard", commit)
        workspace.git(self.root, "clean", "-fdq")

    def pulled_state(self, environment: str, files: Mapping[str, bytes]) -> str:
        """Pull `environment` and commit the result: where a warm pull or a deploy starts.

        Without our pull, write the files it would leave (no manifest) instead.
        """
        if self.library.missing("pull") is None:
            self.library.pull(environment)
        else:
            folder = self.folder(environment)
            for path, data in files.items():
                (folder / path).parent.mkdir(parents=True, exist_ok=True)
                (folder / path).write_bytes(data)
        return self.commit_all(f"Pulled {environment}")

    def commit_all(self, message: str) -> str:
        workspace.git(self.root, "add", "-A")
        workspace.git(self.root, "commit", "-q", "--no-verify", "--allow-empty", "-m", message)
        return workspace.git(self.root, "rev-parse", "HEAD").strip()


def managed_files(folder: Path) -> dict[str, Path]:
    """Every .py/.sql file under `folder` by POSIX relative path (user files left out)."""
    return {
        path.relative_to(folder).as_posix(): path
        for path in folder.rglob("*")
        if path.suffix in {".py", ".sql"} and path.is_file()
    }


def verify(folder: Path, expected: Mapping[str, bytes]) -> str:
    """Return "" when `folder` holds exactly `expected`, else what differs."""
    found = managed_files(folder)
    if set(found) != set(expected):
        extra, lost = len(set(found) - set(expected)), len(set(expected) - set(found))
        return f"WRONG RESULT: {extra} unexpected, {lost} missing files"
    wrong = sum(1 for path, data in expected.items() if found[path].read_bytes() != data)
    return f"WRONG RESULT: {wrong} files differ" if wrong else ""
