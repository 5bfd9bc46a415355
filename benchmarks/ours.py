"""Our code as the benchmarks call it: the one place that knows `ganymede_sync`'s API.

Each method runs one piece of a pull or a deploy of the generated repository
against the emulator. `missing()` names the piece that does not exist (yet), so
a benchmark reports "n/a" for it instead of failing, and baselines still run.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks import workspace

PIECES = {
    "download": [("ganymede_sync.remote.client", "GanymedeClient")],
    "apply": [
        ("ganymede_sync.remote.archive", "open_snapshot"),
        ("ganymede_sync.local.apply", "apply_plan"),
    ],
    "pull": [("ganymede_sync.runners.pull", "run_pull")],
    "flow_files": [("ganymede_sync.remote.flows", "fetch_flow_files")],
    "deploy": [("ganymede_sync.runners.deploy", "run_deploy")],
    "plan": [
        ("ganymede_sync.plans.reading", "plan_environment"),
        ("ganymede_sync.plans.planning", "refusal_reasons"),
        ("ganymede_sync.runners.sending", "build_file_map"),
    ],
}


class Library:
    """The generated repository's `ganymede_sync`, pointed at the emulator."""

    def __init__(self, root: Path, api_url: str) -> None:
        self.root = root
        self.api_url = api_url
        self._settings: Any = None

    def missing(self, piece: str) -> str | None:
        """Return what is missing for `piece` (e.g. `ganymede_sync.runners.pull`), or None."""
        for module_name, attribute in PIECES[piece]:
            if not workspace.has_module(module_name):
                return module_name
            if not hasattr(importlib.import_module(module_name), attribute):
                return f"{module_name}.{attribute}"
        return None

    def settings(self) -> Any:
        from ganymede_sync.settings.config import load_settings

        environ = {"GANYMEDE_API_TOKEN": workspace.TOKEN, "GANYMEDE_API_URL": self.api_url}
        return load_settings(self.root, environ)

    def client(self, environment: str) -> Any:
        from ganymede_sync.remote.client import GanymedeClient

        return GanymedeClient(self.api_url, workspace.TOKEN, environment)

    def download(self, environment: str, destination: Path) -> int:
        """Ask for the signed URL and stream the archive to `destination`."""
        with self.client(environment) as client:
            return client.download(client.snapshot_url(include_lib=True), destination)

    def flow_documents(self, environment: str) -> tuple[dict[str, bytes], dict[str, str]]:
        """Ganymede's flow files of the environment and their versions, as a pull reads
        them beside the archive (read once, before an apply is timed)."""
        from ganymede_sync.remote.flows import fetch_flow_files

        with self.client(environment) as client:
            return fetch_flow_files(client)  # type: ignore[no-any-return]

    def apply(
        self, environment: str, archive: Path, documents: tuple[dict[str, bytes], dict[str, str]]
    ) -> Any:
        """Validate a downloaded archive and mirror it, with Ganymede's flow files
        (``documents``), into the folder with its manifest.

        What a pull does between download and commit, minus the check for
        uncommitted work (git), which the whole-pull measurement includes.
        """
        from ganymede_sync.local import stat_cache
        from ganymede_sync.local.apply import apply_plan, plan_sync, record_stats
        from ganymede_sync.remote.archive import open_snapshot
        from ganymede_sync.rules.layout import Scope
        from ganymede_sync.state.manifest import load_manifest

        target = self._settings_once().environment(environment)
        cache_path = stat_cache.path_for(self.root, target.folder)
        cache = stat_cache.load(cache_path, target.folder)
        with open_snapshot(archive) as snapshot:
            snapshot.add_documents(*documents)
            scope = Scope(flow=None, include_lib=True)
            plan = plan_sync(target.path, snapshot, scope, cache=cache)
            result = apply_plan(
                plan,
                snapshot,
                manifest_path=target.manifest_path,
                old_manifest=load_manifest(target.manifest_path),
                environment=target.name,
            )
            record_stats(cache_path, plan, snapshot, target.folder)
            return result

    def _settings_once(self) -> Any:
        """The repository's settings, read once: a pull reads them before it downloads."""
        if self._settings is None:
            self._settings = self.settings()
        return self._settings

    def pull(self, environment: str) -> Any:
        """A whole `invoke pull --env ENV`, minus printing."""
        from ganymede_sync.runners.pull import run_pull

        return run_pull(self.settings(), environment)

    def pull_command(self, folder: str) -> tuple[list[str], dict[str, str]]:
        """`python -m invoke pull --env FOLDER` as a user types it (from the repository's
        root), and its environment."""
        environ = {**os.environ, "GANYMEDE_API_TOKEN": workspace.TOKEN,
                   "GANYMEDE_API_URL": self.api_url}  # fmt: skip
        return [sys.executable, "-m", "invoke", "pull", "--env", folder], environ

    def pull_process(self, folder: str) -> None:
        """The `invoke pull` command: interpreter start-up, imports and settings included
        (output discarded)."""
        command, environ = self.pull_command(folder)
        done = subprocess.run(command, cwd=self.root, env=environ, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"invoke pull --env {folder} failed: {done.stderr.strip()}")

    def flow_files(self, environment: str) -> dict[str, bytes]:
        """Every flow's structure and settings, as a pull reads them beside the archive."""
        from ganymede_sync.remote.flows import fetch_flow_files

        with self.client(environment) as client:
            files, _ = fetch_flow_files(client)
            return files

    def deploy(self, environment: str) -> tuple[str, ...]:
        """A whole `invoke deploy --env ENV` of the committed folder, minus printing: plan,
        code commit, then each changed flow's pipeline and settings. Returns what was sent."""
        from ganymede_sync.runners.deploy import DeployOptions, run_deploy

        options = DeployOptions(author_email=workspace.AUTHOR, message="Benchmark deploy")
        result = run_deploy(self._settings_once(), environment, options)
        return tuple(result.outcome.sent)

    def plan(self, environment: str) -> Any:
        """Everything a deploy decides before sending: local files, git history, the
        remote snapshot, the classification and the validation (compiling what it sends)."""
        from ganymede_sync.plans.planning import refusal_reasons
        from ganymede_sync.plans.reading import plan_environment

        settings = self.settings()
        target = settings.environment(environment)
        with self.client(target.name) as client:
            result = plan_environment(client, settings, target)
        problems = refusal_reasons(result, target.folder)
        if problems:
            raise RuntimeError(f"the benchmark's deploy was refused: {problems}")
        return result

    def payload(self, plan: Any) -> str:
        """The PUT body of a plan: the fileMap, serialised once as the client would."""
        from ganymede_sync.runners.sending import build_file_map

        file_map = build_file_map(plan.contents)
        return json.dumps(
            {"fileMap": file_map, "authorEmail": workspace.AUTHOR, "message": "m", "dry_run": True}
        )
