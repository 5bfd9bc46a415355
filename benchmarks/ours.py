"""Our code as the benchmarks call it: the one place that knows `ganymede_sync`'s API.

Each method runs one piece of a pull or a deploy of the generated repository
against the emulator. `missing()` names the piece that does not exist (yet), so
a benchmark reports "n/a" for it instead of failing, and baselines still run.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from benchmarks import workspace

PIECES = {
    "download": [("ganymede_sync.client", "GanymedeClient")],
    "apply": [("ganymede_sync.archive", "open_snapshot"), ("ganymede_sync.sync", "apply_snapshot")],
    "pull": [("ganymede_sync.pull", "pull_environment")],
    "plan": [("ganymede_sync.deploy", "plan_environment"), ("ganymede_sync.deploy", "file_map")],
}


class Library:
    """The generated repository's `ganymede_sync`, pointed at the emulator."""

    def __init__(self, root: Path, api_url: str) -> None:
        self.root = root
        self.api_url = api_url

    def missing(self, piece: str) -> str | None:
        """Return what is missing for `piece` (e.g. `ganymede_sync.pull`), or None."""
        for module_name, attribute in PIECES[piece]:
            if not workspace.has_module(module_name):
                return module_name
            if not hasattr(importlib.import_module(module_name), attribute):
                return f"{module_name}.{attribute}"
        return None

    def settings(self) -> Any:
        from ganymede_sync.config import load_settings

        environ = {"GANYMEDE_API_TOKEN": workspace.TOKEN, "GANYMEDE_API_URL": self.api_url}
        return load_settings(self.root, environ)

    def client(self, environment: str) -> Any:
        from ganymede_sync.client import GanymedeClient

        return GanymedeClient(self.api_url, workspace.TOKEN, environment)

    def download(self, environment: str, destination: Path) -> int:
        """Ask for the signed URL and stream the archive to `destination`."""
        with self.client(environment) as client:
            return client.download(client.snapshot_url(include_lib=True), destination)

    def apply(self, environment: str, archive: Path) -> Any:
        """Validate a downloaded archive and mirror it into the environment folder."""
        from ganymede_sync import sync
        from ganymede_sync.archive import open_snapshot

        target = self.settings().environment(environment)
        with open_snapshot(archive) as snapshot:
            return sync.apply_snapshot(snapshot, target)

    def pull(self, environment: str) -> Any:
        """A whole `invoke pull --env ENV`, minus printing."""
        from ganymede_sync.pull import pull_environment

        settings = self.settings()
        return pull_environment(settings, settings.environment(environment))

    def plan(self, environment: str) -> Any:
        """Everything `invoke deploy --dry-run` decides, including the remote snapshot."""
        from ganymede_sync import deploy

        settings = self.settings()
        return deploy.plan_environment(settings, settings.environment(environment))

    def payload(self, plan: Any) -> str:
        """The PUT body of a plan, serialised as the client sends it."""
        from ganymede_sync import deploy

        file_map = deploy.file_map(plan)
        return json.dumps(
            {"fileMap": file_map, "authorEmail": workspace.AUTHOR, "message": "m", "dry_run": True}
        )
