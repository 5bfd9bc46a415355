"""The emulator's Python API: create the tenant's state, serve it, inspect and change it.

``Emulator`` ties the pipeline repositories, the signed-URL secret, the faults and the
request journal to one HTTP server that runs in a background thread (``start``/``stop`` or
``with``). Tests use its methods to simulate edits made in Ganymede's web editor and to
check what reached the server. It never imports the client side of this repository.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from ganymede_sync.emulator.api import Ganymede, repositories_in
from ganymede_sync.emulator.faults import FaultRegistry, make_fault
from ganymede_sync.emulator.seed import initial_files, initial_tables
from ganymede_sync.emulator.server import (
    MAX_BODY_BYTES,
    EmulatorServer,
    Journal,
    RequestRecord,
)
from ganymede_sync.emulator.signing import UrlSigner
from ganymede_sync.emulator.store import Commit, PipelineRepository

_ENVIRONMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SEED_MESSAGE = "Create environment"
_SEED_AUTHOR = "setup@ganymede.invalid"
_EDITOR_MESSAGE = "Edit {path} in Ganymede"


class Emulator:
    """A local Ganymede API backed by one git repository per environment under ``data_dir``."""

    def __init__(
        self,
        data_dir: Path | str,
        *,
        api_key: str | Mapping[str, str],
        environments: tuple[str, ...] = ("dev",),
        users: tuple[str, ...] = ("dev@example.com",),
        seed: str = "example",
        host: str = "127.0.0.1",
        port: int = 0,
        url_ttl: float = 600.0,
        quote_signed_url: bool = False,
        clock: Callable[[], float] = time.time,
        max_body_bytes: int = MAX_BODY_BYTES,
        operators: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        """Prepare ``data_dir``: environments missing there are created from ``seed``.

        Environments already in ``data_dir`` keep their state (a restart). ``api_key`` is
        one key for every environment or a key per environment name. ``url_ttl`` is
        how long signed download URLs stay valid; ``quote_signed_url`` answers the signed
        URL as a JSON string instead of the bare URL Ganymede's clients rely on. ``clock``
        tells the time for signed URLs (tests pass their own to check expiry at once).
        ``max_body_bytes`` caps a request body (413 beyond), chunked or not. ``operators``
        gives an environment's node types (default: Ganymede's documented ones).
        """
        _check_environment_names(environments)
        self.data_dir = Path(data_dir).resolve()
        self.environments = tuple(environments)
        self.users = tuple(users)
        self._repositories = repositories_in(self.data_dir, self.environments)
        for repository in self._repositories.values():
            _prepare(repository, seed)
        self._faults = FaultRegistry()
        self._journal = Journal()
        self._ganymede = Ganymede(
            repositories=self._repositories,
            users=tuple(users),
            api_key=api_key,
            signer=UrlSigner.from_data_dir(self.data_dir),
            url_ttl=url_ttl,
            quote_signed_url=quote_signed_url,
            operators=operators,
            tables={name: initial_tables(seed) for name in self.environments},
        )
        self._address = (host, port)
        self._clock = clock
        self._max_body_bytes = max_body_bytes
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None

    # --- serving ---------------------------------------------------------------------------
    def start(self) -> Emulator:
        """Listen and serve in a background thread; ``port=0`` picks a free port."""
        if self._server is not None:
            return self
        server = EmulatorServer(
            self._address,
            self._ganymede,
            self._faults,
            self._journal,
            clock=self._clock,
            max_body_bytes=self._max_body_bytes,
        )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="ganymede-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (state stays in ``data_dir``)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL of the running server, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("the emulator is not running: call start() first")
        return self._server.url

    # --- state -----------------------------------------------------------------------------
    def pipeline_path(self, environment: str) -> Path:
        """Return the path of an environment's pipeline repository (a plain git repository)."""
        return self._repository(environment).path

    def files(self, environment: str) -> dict[str, bytes]:
        """Return every file of the pipeline repository at HEAD: path -> content."""
        return self._repository(environment).files()

    def commits(self, environment: str) -> list[Commit]:
        """Return the pipeline repository's commits, newest first."""
        return self._repository(environment).commits()

    def write_file(
        self,
        environment: str,
        path: str,
        content: bytes,
        *,
        author_email: str | None = None,
        message: str | None = None,
    ) -> str:
        """Create or change one pipeline file as Ganymede's web editor would: one commit."""
        return self._edit(environment, path, content, author_email, message)

    def delete_file(
        self,
        environment: str,
        path: str,
        *,
        author_email: str | None = None,
        message: str | None = None,
    ) -> str:
        """Delete one pipeline file as Ganymede's web editor would: one commit."""
        if path not in {entry.path for entry in self._repository(environment).tree()}:
            raise KeyError(f"{path} is not a file of environment {environment!r}")
        return self._edit(environment, path, None, author_email, message)

    # --- faults and journal ------------------------------------------------------------------
    def finish_hung_runs(self, state: str = "Success") -> int:
        """End the runs that ``hang_run`` left going, as if they had finished: ``state``."""
        return self._ganymede.runs.finish_hung(state)

    def add_fault(self, kind: str, count: int = 1, endpoint: str = "any", **params: Any) -> None:
        """Inject a fault that fires ``count`` times (see ``faults.py`` for kinds)."""
        self._faults.add(make_fault(kind, count, endpoint, **params))

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._faults.clear()

    @property
    def pending_faults(self) -> int:
        """How many injected faults are still to fire (a request takes one as it arrives)."""
        return len(self._faults.active())

    @property
    def requests(self) -> list[RequestRecord]:
        """The API and download requests received so far, oldest first."""
        return self._journal.records()

    def clear_requests(self) -> None:
        """Forget the requests received so far."""
        self._journal.clear()

    def _edit(
        self,
        environment: str,
        path: str,
        content: bytes | None,
        author_email: str | None,
        message: str | None,
    ) -> str:
        repository = self._repository(environment)
        author = author_email or (self.users[0] if self.users else _SEED_AUTHOR)
        with repository.lock:
            return repository.commit(
                {path: content},
                author_email=author,
                message=message or _EDITOR_MESSAGE.format(path=path),
                timestamp=int(time.time()),
            )

    def _repository(self, environment: str) -> PipelineRepository:
        try:
            return self._repositories[environment]
        except KeyError:
            raise KeyError(f"unknown environment {environment!r}") from None


def _check_environment_names(environments: tuple[str, ...]) -> None:
    """Refuse names that could not be a URL segment and a folder name at the same time."""
    if not environments:
        raise ValueError("the emulator needs at least one environment")
    for name in environments:
        if not _ENVIRONMENT_NAME.match(name):
            raise ValueError(f"invalid environment name {name!r}: use letters, digits, _ . -")


def _prepare(repository: PipelineRepository, seed: str) -> None:
    """Create and seed a repository that does not exist yet; keep an existing one as it is."""
    files = initial_files(seed)
    if repository.exists() and repository.head() is not None:
        return
    if not repository.exists():
        repository.create()
    repository.commit(
        files, author_email=_SEED_AUTHOR, message=_SEED_MESSAGE, timestamp=int(time.time())
    )


def serve_until_signalled(
    emulator: Emulator, notes: Callable[[Emulator], list[str]] | None = None
) -> None:
    """Serve, print the address line and the tenant, and return on SIGINT or SIGTERM.

    ``notes`` adds lines once the address is known (``invoke emulator`` prints the
    ``export`` line a user pastes into another shell).
    """
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with emulator:
        print(f"Ganymede emulator listening on {emulator.url}", flush=True)
        print(f"environments: {', '.join(emulator.environments)}", flush=True)
        print(f"users: {', '.join(emulator.users) or '(none)'}", flush=True)
        if notes:
            print("\n".join(notes(emulator)), flush=True)
        while not stop.wait(0.5):
            pass
