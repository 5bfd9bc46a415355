"""Fetch an environment's current code from Ganymede as a validated ``Snapshot``.

Asks for the signed URL, streams the archive into a temporary file in the system's
temporary folder (never inside the repository), validates it, and removes the file
when the caller is done, whatever happens. Pull and deploy both read Ganymede's
state through here, so they see it the same way.

Never writes into the repository, never touches git, never prints.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ganymede_sync.archive import Snapshot, open_snapshot
from ganymede_sync.client import GanymedeClient, ProgressCallback
from ganymede_sync.config import ArchiveLimits

_ENTRY_OVERHEAD = 1024
"""Generous bytes of ZIP headers per entry (local header, central record, long names)."""


@contextmanager
def fetch_snapshot(
    client: GanymedeClient,
    *,
    flow: str | None = None,
    include_lib: bool = True,
    limits: ArchiveLimits | None = None,
    progress: ProgressCallback | None = None,
) -> Iterator[Snapshot]:
    """Download and validate the environment's code; yield it while the archive exists."""
    limits = limits or ArchiveLimits()
    url = client.snapshot_url(flow=flow, include_lib=include_lib)
    descriptor, name = tempfile.mkstemp(prefix="ganymede-snapshot-", suffix=".zip")
    os.close(descriptor)
    path = Path(name)
    try:
        # Compressed data never needs more room than the content it holds, plus headers.
        ceiling = limits.max_total_bytes + limits.max_entries * _ENTRY_OVERHEAD
        client.download(url, path, progress=progress, max_bytes=ceiling)
        with open_snapshot(path, limits=limits) as snapshot:
            yield snapshot
    finally:
        path.unlink(missing_ok=True)
