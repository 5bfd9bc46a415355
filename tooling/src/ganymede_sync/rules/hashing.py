"""The two hashes the tooling compares content by: sha256 and git's blob id.

sha256 is what manifests record and Ganymede's answers are checked against; the git
blob id lets content be compared with git history without reading it back out.
Every hash of the package is computed here, so each formula is written once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

CHUNK = 1 << 20
"""Files are hashed in pieces of this size, so memory stays flat for any file."""


def sha256_bytes(data: bytes) -> str:
    """Return the sha256 hex digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_chunks(chunks: Iterable[bytes]) -> str:
    """Return the sha256 hex digest of the concatenation of ``chunks``."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    """Return the sha256 hex digest of a file, read in pieces."""
    with path.open("rb") as handle:
        return sha256_chunks(iter(lambda: handle.read(CHUNK), b""))


def blob_hasher(size: int) -> hashlib._Hash:
    """Start git's blob hash of ``size`` bytes: the caller feeds it exactly that many."""
    return hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False)


def blob_id(data: bytes) -> str:
    """Return git's blob id of ``data``."""
    hasher = blob_hasher(len(data))
    hasher.update(data)
    return hasher.hexdigest()
