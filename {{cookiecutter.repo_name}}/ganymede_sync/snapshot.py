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

from ganymede_sync.archive import ArchiveLimits, Snapshot, open_snapshot
from ganymede_sync.client import GanymedeClient, ProgressCallback


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
    url = client.snapshot_url(flow=flow, include_lib=include_lib)
    descriptor, name = tempfile.mkstemp(prefix="ganymede-snapshot-", suffix=".zip")
    os.close(descriptor)
    path = Path(name)
    try:
        client.download(url, path, progress=progress)
        with open_snapshot(path, limits=limits) as snapshot:
            yield snapshot
    finally:
        path.unlink(missing_ok=True)
