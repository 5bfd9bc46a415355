"""The sync pull request a pull proposes: its branch, commit message and identity.

``ganymede.toml`` (``[sync] branch_prefix``, ``bot_name``, ``bot_email``) and the
commit message of ``pull`` are the one source of these values: the pull workflow asks
for them (``invoke sync-request``, appended to ``$GITHUB_OUTPUT``) instead of stating
them a second time, and ``invoke pull --commit`` in CI commits with the same identity.

Pure: formats settings, never touches git or the network.
"""

from __future__ import annotations

from ganymede_sync.runners.pull import COMMIT_MESSAGE
from ganymede_sync.settings.config import Environment, Settings


def sync_request(settings: Settings, environment: Environment) -> dict[str, str]:
    """Return the sync pull request's values for ``environment``, by output name."""
    return {
        "branch": f"{settings.branch_prefix}{environment.folder}",
        "commit-message": COMMIT_MESSAGE.format(folder=environment.folder),
        "identity": f"{settings.bot_name} <{settings.bot_email}>",
    }


def as_output_lines(values: dict[str, str]) -> str:
    """Render ``values`` as ``name=value`` lines, the format of ``$GITHUB_OUTPUT``.

    Every value is one line (``config`` refuses line breaks in the settings), so no
    value can add an output of its own.
    """
    return "\n".join(f"{name}={value}" for name, value in values.items())
