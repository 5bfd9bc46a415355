"""What every task does first, in one place: settings, then the folders made whole again.

A task that reads an environment folder while a killed pull's swap is half done would
see a folder that is neither Ganymede's old state nor its new one (``diff`` would report
files "only in dev/" that are in prod at HEAD). So every task of ``ganymede_sync.tasks``
begins here, and an architecture test checks that none skips it: settings are loaded
and validated against the one schema of ganymede.toml, then every environment folder
that a killed pull left half-swapped is restored, and the task says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from ganymede_sync.local.apply import restore_interrupted
from ganymede_sync.settings.config import Settings, load_settings
from ganymede_sync.ui import report


def begin_task(
    show: Callable[[str], None],
    environ: Mapping[str, str] | None = None,
    root: Path | None = None,
) -> Settings:
    """Load the settings and restore every folder a killed pull left half-swapped."""
    settings = load_settings(root, environ)
    restore_folders(settings, show)
    return settings


def restore_folders(settings: Settings, show: Callable[[str], None]) -> None:
    """Undo the half-done swap of any killed pull, in every environment folder."""
    for environment in settings.environments.values():
        restored = restore_interrupted(environment.path, environment.manifest_path)
        if restored:
            show(report.restored_line(environment.folder, restored))
