"""HTTP plumbing of the emulator: routing, api-key check, faults and the request journal.

Built on the standard library's ``ThreadingHTTPServer`` (no dependency beyond Python).
Each request is routed to one endpoint of ``api.Ganymede``, after the faults a test asked
for have had their chance to act, and is recorded in the journal (method, path, query,
whether an api-key was sent, status) so tests can check what the client really sent; a
download's signature is redacted there and in the log, so neither hands out a live link.
The emulator-only admin endpoints live under ``/_emulator/`` and need a tenant's api-key.
Request bodies are read within a size cap, chunked ones included, and every request gets
an answer. This module decides nothing about Ganymede's answers; ``api.py`` does.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, unquote, urlsplit

from ganymede_sync.emulator.api import BadRequest, Ganymede, Reply, as_json, text
from ganymede_sync.emulator.faults import BEFORE_HANDLING, Fault, FaultRegistry, make_fault
from ganymede_sync.emulator.store import StoreError

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024**3
"""Largest request body accepted (413 beyond), however it is framed."""
LISTEN_BACKLOG = 128
"""Connections the kernel queues before the server accepts them. The standard library's
default of 5 makes a burst of clients (30 parallel PUTs) wait for SYN retries of 1, 3,
7 s, and clients with a shorter timeout give up without an answer."""
_MAX_LINE = 8192
_READ_PIECE = 1024**2
_MAX_TRAILER_LINES = 100
_REDACTED = "[redacted]"
_SECRET_PARAMETERS = frozenset({"signature"})
_SIGNATURE_IN_TEXT = re.compile(r"(signature=)[^&\s'\"]*", re.IGNORECASE)
_ROUTES = (
    ("GET", re.compile(r"^/v0/environment/([^/]+)/commits/?$"), "commits_get"),
    ("PUT", re.compile(r"^/v0/environment/([^/]+)/commits/?$"), "commits_put"),
    ("GET", re.compile(r"^/v2/environment/([^/]+)/flows/?$"), "flows"),
    ("GET", re.compile(r"^/v2/environment/([^/]+)/flows/([^/]+)/?$"), "flow"),
    ("POST", re.compile(r"^/v1/environment/([^/]+)/flows/?$"), "flow_create"),
    ("PUT", re.compile(r"^/v1/environment/([^/]+)/flows/([^/]+)/pipeline/?$"), "flow_pipeline"),
    ("PATCH", re.compile(r"^/v1/environment/([^/]+)/flows/([^/]+)/settings/?$"), "flow_settings"),
    ("GET", re.compile(r"^/v1/environment/([^/]+)/flows/([^/]+)/inputs/?$"), "flow_inputs"),
    ("POST", re.compile(r"^/v1/environment/([^/]+)/flows/([^/]+)/trigger/?$"), "flow_trigger"),
    ("GET", re.compile(r"^/v1/environment/([^/]+)/flows/([^/]+)/flowruns/([^/]+)/?$"), "flow_run"),
    ("GET", re.compile(r"^/v2/environment/([^/]+)/flows/([^/]+)/flowruns/?$"), "flow_runs"),
    ("GET", re.compile(r"^/_download/([^/]+)$"), "download"),
)
_NO_ANSWER = 0


@dataclass(frozen=True)
class RequestRecord:
    """One request the emulator received (admin requests excluded)."""

    method: str
    path: str
    query: dict[str, str]
    """The query parameters, a download's ``signature`` replaced by ``[redacted]``."""
    had_api_key: bool
    """True when an ``api-key`` header (or the key in any other header) was sent."""
    status: int
    """Status answered; 0 when the connection was closed without an answer."""


class Journal:
    """The requests received so far, safe to use from request threads.

    Clearing also forgets requests still in flight (a slow fault still waiting), so a
    request of an earlier test never shows up after the journal was cleared for the next.
    """

    def __init__(self) -> None:
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._generation = 0

    @property
    def generation(self) -> int:
        """Number of clears so far; a request remembers it when it arrives."""
        return self._generation

    def add(self, record: RequestRecord, generation: int) -> None:
        """Append one request, unless the journal was cleared since it arrived."""
        with self._lock:
            if generation == self._generation:
                self._records.append(record)

    def records(self) -> list[RequestRecord]:
        """Return a copy of the requests, oldest first."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        """Forget every request, including those still being answered."""
        with self._lock:
            self._records.clear()
            self._generation += 1


class EmulatorServer(ThreadingHTTPServer):
    """The HTTP server, holding what request handlers need."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        address: tuple[str, int],
        ganymede: Ganymede,
        faults: FaultRegistry,
        journal: Journal,
        clock: Callable[[], float] = time.time,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        super().__init__(address, _Handler)
        self.ganymede = ganymede
        self.faults = faults
        self.journal = journal
        self.clock = clock
        self.max_body_bytes = max_body_bytes

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log a client that went away (a timeout, a test's dropped socket) without a trace."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            logger.debug("client %s went away: %s", client_address, error)
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        """Base URL of the server, e.g. ``http://127.0.0.1:8765``."""
        host, port = self.socket.getsockname()[:2]
        return f"http://{host}:{port}"


@dataclass(frozen=True)
class ApiCall:
    """One routed API request: its endpoint, path arguments, query, headers and body."""

    endpoint: str
    arguments: tuple[str, ...]
    """Path segments the route captured: the environment (or download ticket) first."""
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def argument(self) -> str:
        """The first path argument: the environment, or the ticket of a download."""
        return self.arguments[0]


class _Handler(BaseHTTPRequestHandler):
    server: EmulatorServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    """Headers and body go out in separate writes: with Nagle's algorithm on, a client
    that keeps its connection alive waits for the delayed ACK (about 40 ms) on each answer."""
    _unrecorded: tuple[str, dict[str, str], bool, int] | None = None
    _answered = False

    def do_GET(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The query of a download holds its signature: log the path only. A malformed
        # request line is answered before it sets a path or a method.
        logger.info("%s %s %s", self.command or "-", self._path_only(), code)

    def log_message(self, format: str, *args: object) -> None:
        # Errors about a malformed request line quote it, signature included.
        logger.debug("%s", _SIGNATURE_IN_TEXT.sub(r"\1" + _REDACTED, format % args))

    def _path_only(self) -> str:
        return str(getattr(self, "path", "")).split("?", 1)[0]

    def _dispatch(self) -> None:
        self._answered = False
        try:
            self._answer()
        except ConnectionError:
            raise
        except Exception:
            # A bug must not leave the client waiting for an answer that never comes.
            logger.exception("unexpected failure answering %s %s", self.command, self._path_only())
            if not self._answered:
                self.close_connection = True
                self._send(text(500, "Internal Server Error"))

    def _answer(self) -> None:
        url = urlsplit(self.path)
        path, query = url.path, dict(parse_qsl(url.query, keep_blank_values=True))
        headers = {name.lower(): value for name, value in self.headers.items()}
        admin = path.startswith("/_emulator/")
        if not admin:
            had_api_key = self.server.ganymede.carries_key(headers)
            recorded = (path, _redacted(query), had_api_key, self.server.journal.generation)
            self._unrecorded = recorded
        body = self._read_body()
        if body is None:
            return
        if admin:
            self._send(self._admin(path, headers, body))
            return
        endpoint, arguments = _route(self.command, path)
        if endpoint is None:
            self._send(text(405, "Method Not Allowed") if arguments else text(404, "Not Found"))
        else:
            arguments = tuple(unquote(part) for part in arguments)
            self._api(ApiCall(endpoint, arguments, query, headers, body))
        self._record(_NO_ANSWER)

    def _record(self, status: int) -> None:
        """Journal the current request once, before its answer leaves, so tests never race it."""
        if self._unrecorded is not None:
            path, query, had_api_key, generation = self._unrecorded
            record = RequestRecord(self.command, path, query, had_api_key, status)
            self.server.journal.add(record, generation)
            self._unrecorded = None

    def _api(self, call: ApiCall) -> int:
        early = self._fault_before(call.endpoint)
        if early is not None:
            return self._send(early)
        ganymede = self.server.ganymede
        if call.endpoint != "download" and not ganymede.is_authorised(call.headers, call.argument):
            return self._send(text(401, "Unauthorized: missing or invalid api-key header"))
        try:
            return self._endpoint(call)
        except BadRequest as error:
            return self._send(text(400, str(error)))
        except StoreError as error:
            logger.error("pipeline repository failure: %s", error)
            return self._send(text(500, "Internal Server Error"))

    def _endpoint(self, call: ApiCall) -> int:
        ganymede, faults, now = self.server.ganymede, self.server.faults, self.server.clock()
        endpoint, argument, headers = call.endpoint, call.argument, call.headers
        if endpoint == "commits_get":
            base = f"http://{headers['host']}" if "host" in headers else self.server.url
            reply = ganymede.signed_url(
                argument,
                call.query,
                base_url=base,
                now=now,
                expired=lambda: faults.take({"expire_url"}, endpoint) is not None,
            )
            return self._send(reply)
        if endpoint == "flows":
            return self._send(ganymede.list_flows(argument, call.query))
        if endpoint == "flow":
            return self._send(ganymede.get_flow(argument, call.arguments[1]))
        if endpoint == "flow_create":
            return self._send(ganymede.create_flow(argument, call.body, now=now))
        if endpoint == "flow_pipeline":
            return self._send(
                ganymede.update_pipeline(argument, call.arguments[1], call.body, now=now)
            )
        if endpoint == "flow_inputs":
            return self._send(ganymede.flow_inputs(argument, call.arguments[1]))
        if endpoint == "flow_trigger":
            if faults.take({"hang_run"}, endpoint) is not None:
                ganymede.runs.hang_next += 1
            return self._send(ganymede.trigger_flow(argument, call.arguments[1], call.body))
        if endpoint == "flow_run":
            run_id = call.arguments[2]
            return self._send(ganymede.flow_run(argument, call.arguments[1], run_id))
        if endpoint == "flow_runs":
            return self._send(ganymede.flow_runs(argument, call.arguments[1], call.query))
        if endpoint == "flow_settings":
            return self._send(
                ganymede.update_settings(argument, call.arguments[1], call.body, now=now)
            )
        if endpoint == "download":
            return self._download(ganymede.download(argument, call.query, now=now))
        reply, _ = ganymede.put_commits(argument, call.body, now=now)
        if reply.status == 200 and faults.take({"drop_after_apply"}, endpoint):
            self.close_connection = True
            return _NO_ANSWER
        return self._send(reply)

    def _download(self, reply: Reply) -> int:
        faults = self.server.faults
        if reply.status != 200:
            return self._send(reply)
        replacement = faults.take({"archive"}, "download")
        if replacement is not None:
            reply.body = replacement.params["data"]
        truncate = faults.take({"truncate"}, "download")
        if truncate is None:
            return self._send(reply)
        return self._send(reply, limit=int(truncate.params["after_bytes"]))

    def _fault_before(self, endpoint: str) -> Reply | None:
        """Use at most one fault per request: a request delayed by ``slow`` must not wake up
        later and take a fault that was meant for a later request (or a later test)."""
        fault = self.server.faults.take(BEFORE_HANDLING, endpoint)
        if fault is None:
            return None
        if fault.kind != "slow":
            return _fault_reply(fault)
        time.sleep(float(fault.params["seconds"]))
        return None

    def _admin(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        server = self.server
        if not server.ganymede.is_tenant_key(headers):
            return text(401, "Unauthorized: the admin endpoints need the api-key header")
        if path == "/_emulator/faults" and self.command == "POST":
            try:
                fault = _fault_from_json(body)
            except (ValueError, TypeError) as error:
                return text(400, str(error))
            server.faults.add(fault)
            return as_json(200, _fault_json(fault))
        if path == "/_emulator/faults" and self.command == "GET":
            return as_json(200, [_fault_json(fault) for fault in server.faults.active()])
        if path == "/_emulator/faults" and self.command == "DELETE":
            server.faults.clear()
            return text(200, "All faults cleared")
        if path == "/_emulator/requests" and self.command == "GET":
            return as_json(200, [asdict(record) for record in server.journal.records()])
        if path == "/_emulator/requests" and self.command == "DELETE":
            server.journal.clear()
            return text(200, "Request journal cleared")
        return text(404, "Not Found")

    def handle_expect_100(self) -> bool:
        """Refuse a body over the cap before the client sends it (curl waits for this)."""
        if "Transfer-Encoding" not in self.headers:
            try:
                _content_length(self.headers, self.server.max_body_bytes)
            except _BodyRefused as refusal:
                self._refuse(refusal)
                return False
        return super().handle_expect_100()

    def _read_body(self) -> bytes | None:
        """Return the body, or answer 400 or 413 (closing the connection) and return None."""
        try:
            return _read_body(self.rfile, self.headers, self.server.max_body_bytes)
        except _BodyRefused as refusal:
            self._refuse(refusal)
            return None

    def _refuse(self, refusal: _BodyRefused) -> None:
        self.close_connection = True
        self._send(text(refusal.status, str(refusal)))

    def _send(self, reply: Reply, *, limit: int | None = None) -> int:
        self._answered = True
        self._record(reply.status)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if limit is not None or self.close_connection:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(reply.body if limit is None else reply.body[:limit])
        self.wfile.flush()
        return reply.status


class _BodyRefused(Exception):
    """The request body is malformed or too large: the status to answer, and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# A request's body stream: what BaseHTTPRequestHandler.rfile is.
_Stream = BinaryIO | io.BufferedIOBase


def _read_body(stream: _Stream, headers: Message, cap: int) -> bytes:
    """Read a body framed by Content-Length or chunked, never more than ``cap`` bytes.

    A body over the cap is refused from its announced length, before its bytes are read.
    """
    coding = headers.get("Transfer-Encoding")
    if coding is not None:
        if coding.strip().lower() != "chunked":
            raise _BodyRefused(501, f"Unsupported Transfer-Encoding {coding!r}: use chunked")
        return _read_chunked(stream, cap)
    body = bytearray()
    if not _read_into(body, stream, _content_length(headers, cap)):
        raise _BodyRefused(400, "The request body is shorter than its Content-Length")
    return bytes(body)


def _content_length(headers: Message, cap: int) -> int:
    """Return the announced length of a body, refusing it when malformed or over ``cap``."""
    length = (headers.get("Content-Length") or "0").strip()
    if not re.fullmatch(r"[0-9]{1,20}", length):
        raise _BodyRefused(400, "Invalid Content-Length")
    if int(length) > cap:
        raise _too_large(cap)
    return int(length)


def _too_large(cap: int) -> _BodyRefused:
    return _BodyRefused(413, f"Request body too large: at most {cap} bytes")


def _read_chunked(stream: _Stream, cap: int) -> bytes:
    """Read a chunked body chunk by chunk, refusing it as soon as the sizes exceed ``cap``."""
    body = bytearray()
    while True:
        size = _chunk_size(stream.readline(_MAX_LINE + 1))
        if len(body) + size > cap:
            raise _too_large(cap)
        if size == 0:
            break
        complete = _read_into(body, stream, size)
        if not complete or stream.readline(_MAX_LINE + 1) not in (b"\r\n", b"\n"):
            raise _BodyRefused(400, "Malformed chunked body: a chunk is cut short")
    for _ in range(_MAX_TRAILER_LINES):
        if stream.readline(_MAX_LINE + 1) in (b"\r\n", b"\n", b""):
            return bytes(body)
    raise _BodyRefused(400, "Malformed chunked body: too many trailer lines")


def _read_into(body: bytearray, stream: _Stream, size: int) -> bool:
    """Append ``size`` bytes to ``body`` in pieces, so memory grows only with what really
    arrives (one large read would allocate the announced size at once); False if the
    stream ends first."""
    while size > 0:
        piece = stream.read(min(size, _READ_PIECE))
        if not piece:
            return False
        body += piece
        size -= len(piece)
    return True


def _chunk_size(line: bytes) -> int:
    """Parse a chunk-size line (hex digits, optional ``;extensions``)."""
    digits = line.split(b";", 1)[0].strip()
    if not line.endswith(b"\n") or not re.fullmatch(rb"[0-9A-Fa-f]{1,16}", digits):
        raise _BodyRefused(400, "Malformed chunked body: bad chunk size line")
    return int(digits, 16)


def _redacted(query: Mapping[str, str]) -> dict[str, str]:
    """Return the query with a download's signature hidden: it opens the archive."""
    return {name: _REDACTED if name in _SECRET_PARAMETERS else query[name] for name in query}


def _route(method: str, path: str) -> tuple[str | None, tuple[str, ...]]:
    """Return (endpoint, path arguments); (None, (path,)) for a known path with another
    method, (None, ()) for an unknown path."""
    known = False
    for route_method, pattern, endpoint in _ROUTES:
        match = pattern.match(path)
        if match and route_method == method:
            return endpoint, match.groups()
        known = known or bool(match)
    return None, (path,) if known else ()


def _fault_reply(fault: Fault) -> Reply:
    params = fault.params
    if fault.kind == "error":
        status = int(params["status"])
        return text(status, params["body"] or _phrase(status))
    if fault.kind == "rate_limit":
        reply = text(429, "Too Many Requests")
        reply.headers["Retry-After"] = str(params["retry_after"])
        return reply
    reply = text(307, "Temporary Redirect")
    reply.headers["Location"] = str(params["location"])
    return reply


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _fault_from_json(body: bytes) -> Fault:
    """Build a fault from the admin endpoint's JSON (``archive`` data as base64)."""
    try:
        document = json.loads(body or b"null")
    except ValueError:
        raise ValueError("the fault must be a JSON object") from None
    if not isinstance(document, dict) or "kind" not in document:
        raise ValueError("the fault must be a JSON object with a 'kind'")
    if document.get("kind") == "archive" and isinstance(document.get("data"), str):
        try:
            document["data"] = base64.b64decode(document["data"], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("fault 'archive': data must be base64") from None
    return make_fault(**document)


def _fault_json(fault: Fault) -> dict[str, object]:
    params = {k: v for k, v in fault.params.items() if not isinstance(v, bytes)}
    return {"kind": fault.kind, "count": fault.count, "endpoint": fault.endpoint, **params}
