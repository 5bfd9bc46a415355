"""Exceptions of ganymede_sync: every expected failure is one of these.

Each carries what went wrong (``problem``), what to do about it (``hint``) and the
facts a caller may act on: the ``path`` involved, the HTTP ``status``, the ``limit``
that was hit and the ``setting`` that raises it. ``str()`` turns them into the one
line a person reads, here and nowhere else (``one_line``).

    GanymedeSyncError               base
    │   settings and options
    ├── ConfigError                 ganymede.toml, environment variables, options
    │   └── TargetMismatchError     a folder would go to another tenant or environment
    │   Ganymede
    ├── ApiError                    Ganymede answered with an error, or could not be reached
    │   ├── AuthenticationError     401/403: the token does not fit the environment
    │   └── UncertainDeliveryError  a PUT may or may not have been applied
    ├── ArchiveError                a downloaded archive is unsafe or corrupt
    │   └── LimitExceeded           ... or over a limit of ganymede.toml
    ├── DeployRefused               the deploy plan holds conflicts or invalid files
    ├── FlowFileProblem             a flow file or flow document does not have its shape
    ├── FlowRunError                a flow run in Ganymede failed, or did not end in time
    │   the repository
    ├── LocalStateError             the folders and files of this repository
    │   ├── LocalChangesError       a pull would overwrite local work, or remove too much
    │   ├── ManifestError           a pull manifest is unreadable or not a manifest
    │   ├── JournalRefused          a staging folder no pull here wrote: never replayed
    │   └── FolderWriteError        a folder could not be written (it is left as it was)
    ├── GitError                    the git repository is not in a usable state
    ├── GitHubError                 gh is missing or not logged in, or GitHub refused a step
    │   flow tests
    ├── FlowTestError               the flow-test kit cannot run a node
    │   ├── NodeNotFoundError       no function.py where a test points
    │   ├── NodeImportError         a node's function.py fails to import
    │   ├── FlowNodeFailed          a node of a whole-flow run raised
    │   └── FlowPackagesMissing     a package of requirements-flows.txt is not installed
    │   any task
    └── Interrupted                 Ctrl-C came once a change was complete: says what it left

    NotEmulatedError, MissingTestDataError: raised inside a flow test by the local
    ``ganymede_sdk`` stand-in, as the standard NotImplementedError and LookupError.

``tasks.py`` turns any ``GanymedeSyncError`` into its one line and a non-zero exit;
any other exception is a bug and keeps its traceback. Exceptions that never leave
their module (the client's retry signals, the emulator's own) live there.
"""

from __future__ import annotations


class GanymedeSyncError(Exception):
    """Base class: a problem, what to do about it, and the facts behind it."""

    def __init__(
        self,
        problem: str,
        *,
        hint: str = "",
        path: str | None = None,
        status: int | None = None,
        limit: float | None = None,
        setting: str | None = None,
    ) -> None:
        super().__init__(problem)
        self.problem = problem
        self.hint = hint
        self.path = path
        """The file or folder involved, as the repository names it (``dev/lib/x.py``)."""
        self.status = status
        """The HTTP status of Ganymede's answer."""
        self.limit = limit
        """The value of the limit that was hit."""
        self.setting = setting
        """Where that limit or value is set (``[archive] max_file_mb in ganymede.toml``)."""

    def __str__(self) -> str:
        return one_line(self)


def one_line(error: GanymedeSyncError) -> str:
    """Return the line a person reads: the problem, the setting involved, what to do."""
    text = error.problem
    if error.setting and error.setting not in f"{text} {error.hint}":
        text = f"{text} ({error.setting})"
    return f"{text}: {error.hint}" if error.hint else text


# --- settings and options -----------------------------------------------------------
class ConfigError(GanymedeSyncError):
    """Settings are missing or invalid."""


class TargetMismatchError(ConfigError):
    """The resolved target is not the one the folder is bound to (``--retarget`` allows it)."""


# --- Ganymede -----------------------------------------------------------------------
class ApiError(GanymedeSyncError):
    """Ganymede answered with an error, or could not be reached."""


class AuthenticationError(ApiError):
    """The token was refused (401/403)."""


class UncertainDeliveryError(ApiError):
    """A PUT timed out or lost its connection: Ganymede may or may not have applied it.

    Never retried automatically: repeating a commit that did land would create a
    second commit. The caller tells the user how to find out (pull, then compare).
    """


class ArchiveError(GanymedeSyncError):
    """A downloaded archive is unsafe or corrupt."""


class LimitExceeded(ArchiveError):
    """A download or an archive is over a limit of ganymede.toml (``limit``, ``setting``)."""


class DeployRefused(GanymedeSyncError):
    """The deploy plan cannot be sent as is."""


class FlowRunError(GanymedeSyncError):
    """A flow run triggered in Ganymede ended Failed, or did not end within its deadline."""


class FlowFileProblem(GanymedeSyncError):
    """A flow file (``<flow>/flow.json``) or Ganymede's flow document is malformed;
    the text says where (callers name the file or the flow)."""


# --- the repository -----------------------------------------------------------------
class LocalStateError(GanymedeSyncError):
    """The folders and files of this repository stand in the way."""


class LocalChangesError(LocalStateError):
    """A pull would overwrite local work changed in Ganymede too, or remove too much."""


class ManifestError(LocalStateError):
    """A pull manifest (``.ganymede/<folder>.json``) is unreadable or not a manifest."""


class JournalRefused(LocalStateError):
    """A staging folder a pull of its folder did not write (tracked, or moving elsewhere)."""


class FolderWriteError(LocalStateError):
    """A folder could not be written; it was left as it was, or is put back by any task."""


class GitError(GanymedeSyncError):
    """The git repository cannot be used as needed."""


class GitHubError(GanymedeSyncError):
    """``gh`` is missing, not logged in, or GitHub refused a step."""


# --- flow tests ---------------------------------------------------------------------
class FlowTestError(GanymedeSyncError):
    """The flow-test kit cannot run a node."""


class NodeNotFoundError(FlowTestError, LookupError):
    """No ``function.py`` at the path a folder, flow and node name point to."""


class NodeImportError(FlowTestError, ImportError):
    """A node's ``function.py`` failed to import; the message names file, line and cause."""


class FlowNodeFailed(FlowTestError):
    """A node of a whole-flow run raised; the original exception is its ``__cause__``."""

    def __init__(self, node: str, error: BaseException) -> None:
        super().__init__(f"{node} failed: {type(error).__name__}: {error}")
        self.node = node


class FlowPackagesMissing(FlowTestError):
    """A package pinned in requirements-flows.txt is not installed."""


STANDIN_NOTE = (
    "the local ganymede_sdk stand-in (ganymede_sync.testing) follows Ganymede's public "
    "SDK documentation, is not the SDK, and emulates only the calls listed in docs/testing.md"
)


class NotEmulatedError(NotImplementedError):
    """A ``ganymede_sdk`` name or option that the local stand-in does not emulate."""

    def __init__(self, name: str, hint: str = "") -> None:
        extra = f" ({hint})" if hint else ""
        super().__init__(f"{name} is not emulated{extra}; {STANDIN_NOTE}")
        self.name = name


class MissingTestDataError(LookupError):
    """A node asked for a table, file, parameter or secret that the test did not provide."""

    def __str__(self) -> str:  # LookupError would show the repr of the message
        return str(self.args[0])


# --- any task -----------------------------------------------------------------------
class Interrupted(GanymedeSyncError):
    """Ctrl-C arrived after a change was complete; the message says what was done."""
