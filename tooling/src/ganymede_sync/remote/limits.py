"""Bounds of one network exchange: time, size and destination.

``Deadline`` and ``Watchdog`` end an exchange at its deadline even when the server
trickles bytes; ``read_capped`` decompresses an answer without ever holding more than
a set size; ``link_problem`` is the rule for where a download link may lead. The
client plugs them into httpx (the watchdog through httpcore's ``trace`` extension);
this module imports no HTTP library, never prints, and touches a socket only to shut
down the one whose exchange ran out of time.
"""

from __future__ import annotations

import contextlib
import heapq
import ipaddress
import itertools
import os
import socket
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Deadline:
    """The end of one operation, all its attempts and waits included."""

    seconds: float
    setting: str

    def __post_init__(self) -> None:
        self.ends = time.monotonic() + self.seconds

    def remaining(self) -> float:
        return self.ends - time.monotonic()

    def describe(self) -> str:
        return (
            f"no complete answer within {self.seconds:g} s (the server is too slow or "
            f"stalled): try again later, or raise {self.setting}"
        )


class KeptConnection:
    """The one connection of a single-connection pool, as its last connect left it.

    A kept-alive connection is reused without any connect event, so a watchdog could
    not learn its socket from the ``trace`` hook. A pool of exactly one connection,
    used by one thread, has only this one to cut: each connect records its stream
    here, and the next exchange's watchdog starts from it.
    """

    def __init__(self) -> None:
        self.stream: Any = None


class Watchdog:
    """Bound one exchange in time: when its deadline passes, shut its connection down.

    httpx's read timeout restarts with every byte, so a server that trickles bytes
    never trips it. httpcore's documented ``trace`` extension hands over each new
    connection's stream (and ``kept``, when given, the kept-alive one the exchange may
    reuse); at the deadline, shutting its socket down wakes the blocked read, which
    then fails. The same hook checks the address a download reached (``check_peer``),
    which also covers host names that resolve to private addresses.
    """

    def __init__(self, seconds: float, kept: KeptConnection | None = None) -> None:
        self.expired = False
        self.done = False
        self._seconds = max(0.0, seconds)
        self._lock = threading.Lock()
        self._kept = kept
        self._stream: Any = kept.stream if kept else None
        self._peer_rule: tuple[str, str] | None = None
        self._connecting_to: str | None = None

    def __enter__(self) -> Watchdog:
        _REAPER.watch(self, time.monotonic() + self._seconds)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self.done = True
            self._stream = None  # its connection is closed or back in the pool

    def check_peer(self, url: str, api_url: str) -> None:
        """Refuse the next connection of this exchange unless the rule for ``url`` allows it."""
        self._peer_rule = (url, api_url)

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.started":
            self._connecting_to = str(info.get("host", "")).lower()
        if not event.endswith(".complete"):
            return
        stream = info.get("return_value")
        if not hasattr(stream, "get_extra_info"):
            return
        with self._lock:
            self._stream = stream
            if self._kept is not None:
                self._kept.stream = stream
            expired = self.expired
        if expired:
            shut_down(stream)
        if event == "connection.connect_tcp.complete":
            self._refuse_peer(stream)

    def _refuse_peer(self, stream: Any) -> None:
        if self._peer_rule is None:
            return
        url, api_url = self._peer_rule
        host = (urlsplit(url).hostname or "").lower()
        if self._connecting_to != host or origin(url) == origin(api_url):
            return  # through a proxy (it resolves the name), or the API's own origin
        peer = stream.get_extra_info("server_addr")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        reason = address_problem(address)
        if reason:
            stream.close()
            raise RefusedAddress(origin(url), f"which resolves to {reason}")

    def expire(self) -> None:
        """End the exchange now (the reaper calls this at the deadline), unless it is over."""
        with self._lock:
            if self.done:
                return
            self.expired = True
            if self._stream is not None:
                # Under the lock: once the exchange is over, its kept-alive connection
                # may carry the thread's next exchange, which must not be cut.
                shut_down(self._stream)


class _Reaper:
    """One daemon thread that expires every watchdog whose deadline has passed.

    A thread per exchange would do, but a pull reads hundreds of flow documents: one
    thread, started on first use, sleeps until the earliest deadline. Watchdogs whose
    exchange ended stay queued until their deadline and are then skipped.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start with no thread and nothing queued (also in a forked child, where the
        parent's thread does not exist)."""
        self._wake = threading.Condition()
        self._queue: list[tuple[float, int, Watchdog]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, watchdog: Watchdog, when: float) -> None:
        with self._wake:
            heapq.heappush(self._queue, (when, next(self._order), watchdog))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="deadlines", daemon=True)
                self._thread.start()
            if self._queue[0][2] is watchdog:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue or self._queue[0][0] > time.monotonic():
                    timeout = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._wake.wait(timeout)
                _, _, watchdog = heapq.heappop(self._queue)
            watchdog.expire()


_REAPER = _Reaper()
os.register_at_fork(after_in_child=_REAPER.reset)


def shut_down(stream: Any) -> None:
    """Shut a connection's socket down for both directions; a blocked read then returns."""
    sock = stream.get_extra_info("socket")
    if isinstance(sock, socket.socket):
        # The plain socket method: an ssl socket's own shutdown would also drop its
        # TLS state under the reading thread's feet.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def link_problem(url: str, api_url: str) -> str | None:
    """Return why a download link must not be followed, or None when it may be.

    Allowed: the API's own origin (the local emulator serves downloads there), or
    https to a host that is not an address of this computer or a private network.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return "which is not a valid URL"
    if parts.scheme in ("http", "https") and origin(url) == origin(api_url):
        return None
    if parts.scheme != "https":
        return f"which is {parts.scheme or 'no'} scheme, not https"
    host = (parts.hostname or "").lower()
    if not host:
        return "which names no host"
    if host == "localhost" or host.endswith(".localhost"):
        return "this computer"
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None  # a name: its address is checked when the download connects
    problem = address_problem(host)
    return f"{problem}" if problem else None


def address_problem(text: str) -> str | None:
    """Name the kind of a non-public IP address (loopback, private, ...), or None if public."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return "an address that is not an IP address"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    for kind, test in (
        ("a loopback address", address.is_loopback),
        ("a link-local address", address.is_link_local),
        ("a private-network address", address.is_private),
        ("a multicast address", address.is_multicast),
        ("an unspecified address", address.is_unspecified),
        ("a reserved address", address.is_reserved),
    ):
        if test:
            return kind
    return None if address.is_global else "an address that is not public"


def read_capped(encoding: str, chunks: Iterable[bytes], limit: int) -> bytes:
    """Join received ``chunks``, decompressing gzip or deflate, refusing more than ``limit`` bytes.

    An HTTP library inflates each received chunk whole, and a small compressed answer
    can expand a thousandfold: here the decompressor never produces more than the
    room left under ``limit``. ``encoding`` is the answer's Content-Encoding.
    """
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        inflate = None
    elif encoding in ("gzip", "x-gzip", "deflate"):
        inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header
    else:
        raise AnswerProblem(
            f"the API answered with Content-Encoding '{printable(encoding)[:40]}', which "
            "this tool does not read",
            suspect="address and proxy",
        )
    parts: list[bytes] = []
    size = 0
    for raw in chunks:
        pending = raw
        while pending:
            room = limit - size + 1
            if inflate is None:
                piece, pending = pending[:room], b""
            else:
                try:
                    piece = inflate.decompress(pending, room)
                except zlib.error:
                    raise AnswerProblem(
                        f"the API's {encoding} answer is corrupt", suspect="server"
                    ) from None
                pending = inflate.unconsumed_tail
            size += len(piece)
            if size > limit:
                raise AnswerProblem(
                    f"the API's answer is over {limit >> 20} MiB, more than any answer it "
                    "should give",
                    suspect="address",
                )
            parts.append(piece)
            if not piece:
                break
    return b"".join(parts)


def printable(text: str) -> str:
    """Replace characters a terminal would act on (escapes, controls) with '?'."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def origin(url: str) -> str:
    """Return scheme://host:port of a URL, the part a message may show."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return "an invalid address"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{printable(host)}:{port}"


class AnswerProblem(Exception):
    """An API answer that is too large or not decodable; the text says which.

    A signal to ``client``, which turns it into an ``ApiError`` whose hint follows
    ``suspect``: the ``address`` (the API URL setting), the ``address and proxy``,
    or the ``server`` (try again later). This module names no setting.
    """

    def __init__(self, problem: str, *, suspect: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.suspect = suspect


class RefusedAddress(Exception):
    """A download connected to an address the signed-link rule refuses."""

    def __init__(self, origin: str, reason: str) -> None:
        super().__init__(reason)
        self.origin = origin
        self.reason = reason
