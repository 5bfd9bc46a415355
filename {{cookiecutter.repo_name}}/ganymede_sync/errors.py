"""Exceptions of ganymede_sync: every expected failure is one of these.

    GanymedeSyncError            base: its text is one line telling what to fix
    ├── ConfigError              ganymede.toml, environment variables, options
    │   └── TargetMismatchError  a folder would go to another tenant or environment
    ├── ApiError                 Ganymede answered with an error, or could not be reached
    │   ├── AuthenticationError  401/403: the token does not fit the environment
    │   └── UncertainDeliveryError  a PUT may or may not have been applied
    ├── ArchiveError             a downloaded archive is unsafe or corrupt
    ├── LocalChangesError        a pull would overwrite local work, or remove too much
    ├── GitError                 the git repository is not in a usable state
    ├── DeployRefused            the deploy plan holds conflicts or invalid files
    ├── GitHubError              gh is missing or not logged in, or GitHub refused a step
    └── Interrupted              Ctrl-C came once a change was complete: says what it left

``tasks.py`` turns any of them into a one-line message and a non-zero exit; any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class GanymedeSyncError(Exception):
    """Base class: the message is shown to the user as is."""


class ConfigError(GanymedeSyncError):
    """Settings are missing or invalid."""


class TargetMismatchError(ConfigError):
    """The resolved target is not the one the folder is bound to (``--retarget`` allows it)."""


class ApiError(GanymedeSyncError):
    """Ganymede answered with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthenticationError(ApiError):
    """The token was refused (401/403)."""


class UncertainDeliveryError(ApiError):
    """A PUT timed out or lost its connection: Ganymede may or may not have applied it.

    Never retried automatically: repeating a commit that did land would create a
    second commit. The caller tells the user how to find out (pull, then compare).
    """


class ArchiveError(GanymedeSyncError):
    """A downloaded archive is unsafe, corrupt or over a limit."""


class LocalChangesError(GanymedeSyncError):
    """A pull would overwrite local work changed in Ganymede too, or remove too much."""


class GitError(GanymedeSyncError):
    """The git repository cannot be used as needed."""


class DeployRefused(GanymedeSyncError):
    """The deploy plan cannot be sent as is."""


class GitHubError(GanymedeSyncError):
    """``gh`` is missing, not logged in, or GitHub refused a step."""


class Interrupted(GanymedeSyncError):
    """Ctrl-C arrived after a change was complete; the message says what was done."""
