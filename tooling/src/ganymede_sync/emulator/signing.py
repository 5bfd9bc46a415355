"""Signed download URLs of the emulator, standing in for Ganymede's cloud-storage links.

A URL names what to serve (environment, the commit that was HEAD when the URL was issued,
flow, whether lib files are included), an expiry time and an HMAC-SHA256 signature over
both. Anyone holding the URL may download until it expires, without an api-key, exactly
like a signed cloud-storage link. The secret lives in the data directory so URLs stay valid
across restarts. This module never touches git or HTTP handling.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

DOWNLOAD_PREFIX = "/_download/"
_KEY_FILE = "signing-key"


class SignatureError(Exception):
    """A download URL is expired, tampered with or malformed."""


@dataclass(frozen=True)
class Ticket:
    """What a signed URL gives access to."""

    environment: str
    commit: str
    flow: str | None
    include_lib: bool


class UrlSigner:
    """Issue and check signed download URLs with one secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> UrlSigner:
        """Load the secret kept in ``data_dir``, creating it (private to the user) if needed."""
        path = data_dir / _KEY_FILE
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32))
        return cls(bytes.fromhex(path.read_text().strip()))

    def sign(self, ticket: Ticket, *, expires: int) -> str:
        """Return the path and query of a download URL for ``ticket``, valid until ``expires``."""
        payload = json.dumps(
            [ticket.environment, ticket.commit, ticket.flow, ticket.include_lib],
            separators=(",", ":"),
        ).encode()
        token = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        query = urlencode({"expires": str(expires), "signature": self._signature(token, expires)})
        return f"{DOWNLOAD_PREFIX}{token}?{query}"

    def verify(self, token: str, expires: str, signature: str, *, now: float) -> Ticket:
        """Return the ticket of a download URL, or raise SignatureError saying why not."""
        if not expires.isdigit():
            raise SignatureError("the download link has no valid expiry")
        if not hmac.compare_digest(signature, self._signature(token, int(expires))):
            raise SignatureError("the download link's signature does not match")
        if int(expires) < now:
            raise SignatureError("the download link has expired; ask for a new one")
        return _decode(token)

    def _signature(self, token: str, expires: int) -> str:
        message = f"{token}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


def _decode(token: str) -> Ticket:
    try:
        padded = token + "=" * (-len(token) % 4)
        environment, commit, flow, include_lib = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, binascii.Error, TypeError) as error:
        raise SignatureError("the download link is malformed") from error
    return Ticket(str(environment), str(commit), flow, bool(include_lib))
