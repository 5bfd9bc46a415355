"""Fetch an environment's current code and flow files from Ganymede as a ``Snapshot``.

Asks for the signed URL, streams the archive into a scratch folder in the system's
temporary folder (never inside the repository), validates it, and removes it when
the caller is done, whatever happens; the next run removes those of runs killed
before they could. The flow documents are read meanwhile, in a thread of their own,
so their requests wait on the network while the archive arrives; whichever of the two
fails first ends the other at once. Pull and deploy
both read Ganymede's state through here, so they see it the same way.

Never writes into the repository, never touches git, never prints.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from ganymede_sync.errors import ApiError
from ganymede_sync.remote.archive import Snapshot, open_snapshot
from ganymede_sync.remote.client import GanymedeClient, ProgressCallback
from ganymede_sync.remote.flows import KnownFlows, fetch_flow_files
from ganymede_sync.settings.config import ArchiveLimits
from ganymede_sync.state.scratch import reclaim, scratch_folder

SCRATCH_PREFIX = "ganymede-snapshot-"
_UNLOCKED_ARCHIVE_MAX_AGE = 3600
"""Seconds after which a bare ``ganymede-snapshot-*.zip`` (kept in no locked folder, as
earlier versions did) can only belong to a dead run."""
_ENTRY_OVERHEAD = 1024
"""Generous bytes of ZIP headers per entry (local header, central record, long names)."""
_T = TypeVar("_T")


@contextmanager
def fetch_snapshot(
    client: GanymedeClient,
    *,
    flow: str | None = None,
    include_lib: bool = True,
    limits: ArchiveLimits | None = None,
    progress: ProgressCallback | None = None,
    known: KnownFlows | Callable[[], KnownFlows] | None = None,
    flows_progress: Callable[[int, int], None] | None = None,
) -> Iterator[Snapshot]:
    """Download and validate the environment's code; yield it while the archive exists.

    ``known`` holds the flow files of the last pull with their versions (or is a function
    that returns them): those Ganymede still lists at that version are not read again.
    ``progress`` follows the download's bytes, ``flows_progress`` the documents read.
    """
    limits = limits or ArchiveLimits()
    temporary = Path(tempfile.gettempdir())
    reclaim(temporary, SCRATCH_PREFIX)  # archives of runs that died before removing theirs
    _remove_unlocked_archives(temporary)
    url = client.snapshot_url(flow=flow, include_lib=include_lib)

    def flow_files(stop: threading.Event) -> tuple[dict[str, bytes], dict[str, str]]:
        return fetch_flow_files(
            client,
            flow=flow,
            max_flows=limits.max_entries,
            known=known,
            stop=stop,
            progress=flows_progress,
        )

    with (
        scratch_folder(temporary, SCRATCH_PREFIX) as scratch,
        _meanwhile(flow_files, client.cut_exchanges) as documents_read,
    ):
        path = scratch / "snapshot.zip"
        # Compressed data never needs more room than the content it holds, plus headers.
        ceiling = limits.max_total_bytes + limits.max_entries * _ENTRY_OVERHEAD
        try:
            client.download(url, path, progress=progress, max_bytes=ceiling)
        except ApiError:
            if _failed(documents_read):
                documents_read.result()  # raises what ended the download: the cause
            raise
        with open_snapshot(path, limits=limits) as snapshot:
            documents, versions = documents_read.result()
            snapshot.add_documents(documents, versions)
            yield snapshot


@contextmanager
def _meanwhile(
    work: Callable[[threading.Event], _T], cut: Callable[[], None]
) -> Iterator[Future[_T]]:
    """Run ``work`` in a thread while the body runs; yield its future.

    Whichever fails first ends the other: when the body fails (or is interrupted),
    ``work`` is told to stop through the event it gets and the requests in flight are
    ``cut`` (a Ctrl-C does not wait for a slow server); when ``work`` fails, the body's
    requests are ``cut``. ``work`` is waited for, so no request outlives the call.
    """
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="meanwhile") as pool:
        future = pool.submit(work, stop)
        future.add_done_callback(partial(_cut_if_failed, cut))
        try:
            yield future
        except BaseException:
            stop.set()
            cut()
            raise
        finally:
            stop.set()


def _cut_if_failed(cut: Callable[[], None], future: Future[Any]) -> None:
    """``cut`` the exchanges in flight when ``future`` failed: the call is doomed, and
    what runs beside need not run to its end."""
    if _failed(future):
        cut()


def _failed(future: Future[Any]) -> bool:
    """Tell whether ``future`` ended with an error (not cancelled, not still running)."""
    return future.done() and not future.cancelled() and future.exception() is not None


def _remove_unlocked_archives(temporary: Path) -> None:
    """Remove bare archives that earlier versions left behind when killed."""
    limit = time.time() - _UNLOCKED_ARCHIVE_MAX_AGE
    for path in temporary.glob(f"{SCRATCH_PREFIX}*.zip"):
        with suppress(OSError):
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime < limit:
                path.unlink()
