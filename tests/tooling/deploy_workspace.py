"""A real git repository of flow code next to a running emulator, for deploy tests.

The repository holds this repository's own ``ganymede.toml`` and works on its
first environment folder; pulls go through ``run_pull``, as ``invoke pull``.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ganymede_sync import results
from ganymede_sync.emulator import Emulator
from ganymede_sync.plans import planning, reading
from ganymede_sync.remote.client import GanymedeClient, open_client
from ganymede_sync.rules.layout import scan_managed
from ganymede_sync.runners.deploy import DeployOptions, run_deploy
from ganymede_sync.settings.config import Environment, Settings, load_settings
from tests.tooling.pull_helpers import pull_with

TOKEN = "test-token-3f9a"
USER = "dev@example.com"
SOURCE_ROOT = Path(__file__).resolve().parents[2]
QUICK_CLIENT = functools.partial(open_client, backoff=0.01)
"""How deploys of these tests connect: as ``invoke deploy`` does, with short retry waits."""


def git(root: Path, *args: str) -> str:
    """Run git in ``root`` and return its output (identity comes from GIT_* variables)."""
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def environment_names() -> tuple[str, str]:
    """Return the first environment's folder and Ganymede name from this repository's config."""
    settings = load_settings(SOURCE_ROOT, environ={})
    first = next(iter(settings.environments.values()))
    return first.folder, first.name


@dataclass
class Workspace:
    root: Path
    emu: Emulator

    def __post_init__(self) -> None:
        self.folder, self.name = environment_names()
        self._client: GanymedeClient | None = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- configuration ------------------------------------------------------------
    def settings(self, **variables: str) -> Settings:
        environ = {"GANYMEDE_API_TOKEN": TOKEN, "GANYMEDE_API_URL": self.emu.url, **variables}
        return load_settings(self.root, environ=environ)

    @property
    def environment(self) -> Environment:
        return self.settings().environment(self.folder)

    def client(self, token: str = TOKEN) -> contextlib.AbstractContextManager[GanymedeClient]:
        """Return a client for a ``with`` block; the one with the right token is reused.

        Building a client costs a TLS context, the bulk of a small request's time.
        """
        if token != TOKEN:
            return GanymedeClient(self.emu.url, token, self.name, backoff=0.01)
        if self._client is None:
            self._client = GanymedeClient(self.emu.url, token, self.name, backoff=0.01)
        return contextlib.nullcontext(self._client)

    # --- local side -----------------------------------------------------------------
    def write(self, path: str, data: bytes) -> None:
        target = self.root / self.folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def read(self, path: str) -> bytes | None:
        target = self.root / self.folder / path
        return target.read_bytes() if target.is_file() else None

    def delete(self, path: str) -> None:
        (self.root / self.folder / path).unlink()

    def commit(self, message: str = "Edit flow code") -> str:
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.root, "rev-parse", "HEAD")

    def local_files(self) -> dict[str, bytes]:
        folder = self.root / self.folder
        return {path: file.read_bytes() for path, file in scan_managed(folder).items()}

    def pull(self, *, commit: bool = True) -> None:
        """Run a full pull of the folder (``commit``: then commit it, as the sync branch does)."""
        pull_with(self.settings(), self.folder, environ={})
        if commit:
            self.commit(f"Sync flows in environment {self.name} from Ganymede")

    # --- remote side ----------------------------------------------------------------
    def remote_files(self) -> dict[str, bytes]:
        """Ganymede's flow code in repository layout, read from the pipeline repository."""
        files = {}
        for path, data in self.emu.files(self.name).items():
            if not path.endswith((".py", ".sql")):
                continue
            if path.startswith("lib/"):
                files[path] = data
            elif path.startswith("dags/") and path.count("/") >= 3:
                files[path.removeprefix("dags/")] = data
        return files

    def web_edit(self, path: str, data: bytes | None) -> None:
        """Change a file as a scientist would in Ganymede's web editor."""
        pipeline = path if path.startswith("lib/") else f"dags/{path}"
        if data is None:
            self.emu.delete_file(self.name, pipeline)
        else:
            self.emu.write_file(self.name, pipeline, data, author_email=USER)

    def commit_count(self) -> int:
        return len(self.emu.commits(self.name))

    def puts(self) -> int:
        return sum(1 for record in self.emu.requests if record.method == "PUT")

    # --- deploying --------------------------------------------------------------------
    def plan(self, *, force: bool = False) -> planning.DeployPlan:
        settings = self.settings()
        with self.client() as client:
            return reading.plan_environment(client, settings, self.environment, force=force)

    def deploy(
        self,
        *,
        force: bool = False,
        dry_run: bool = False,
        author_email: str | None = None,
        message: str | None = None,
        token: str = TOKEN,
    ) -> results.SendOutcome:
        """Deploy as ``invoke deploy --allow-dirty`` does, with a client that never waits."""
        options = DeployOptions(
            force=force, dry_run=dry_run, allow_dirty=True, author_email=author_email,
            message=message,
        )  # fmt: skip
        settings = self.settings(GANYMEDE_API_TOKEN=token)
        return run_deploy(settings, self.folder, options, connect=QUICK_CLIENT, environ={}).outcome

    def clone(self, destination: Path, *, depth: int | None = None) -> Workspace:
        """Clone the repository the way CI checks it out (``depth``: a shallow clone)."""
        options = ["--depth", str(depth)] if depth else []
        git(destination.parent, "clone", "-q", *options, f"file://{self.root}", str(destination))
        return Workspace(destination, self.emu)


def plan_of_contents(
    local: dict[str, bytes], remote: dict[str, bytes], base: dict[str, str], **options
) -> planning.DeployPlan:
    """Plan from whole file contents, as ``plan_environment`` does from the files it reads."""
    return planning.plan(
        {path: planning.LocalFile.of(data) for path, data in local.items()},
        {path: planning.RemoteFile.of(data) for path, data in remote.items()},
        base,
        **options,
    )


def make_workspace(root: Path, emu: Emulator) -> Workspace:
    """Create a repository with this repository's configuration, pulled and committed."""
    root.mkdir(parents=True)
    shutil.copy(SOURCE_ROOT / "ganymede.toml", root / "ganymede.toml")
    git(root, "init", "-q", "-b", "main")
    workspace = Workspace(root, emu)
    workspace.pull(commit=False)
    workspace.commit("Start from the template and pull")
    return workspace


def start_emulator(data_dir: Path) -> Emulator:
    """Start an emulator serving this repository's first environment, with example flows."""
    _, name = environment_names()
    emulator = Emulator(data_dir, api_key=TOKEN, environments=(name,), users=(USER,))
    return emulator.start()


@contextlib.contextmanager
def running_workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A workspace in ``tmp_path/repo``, pulled from an emulator in ``tmp_path/emulator``.

    The deploy tests' fixtures share it instead of each starting, closing and stopping
    the pair itself; both are closed on the way out, also when a test fails.
    """
    emulator = start_emulator(tmp_path / "emulator")
    try:
        workspace = make_workspace(tmp_path / "repo", emulator)
        try:
            yield workspace
        finally:
            workspace.close()
    finally:
        emulator.stop()
