"""The client against a hostile server on 127.0.0.1: bounded in time, size and destination.

The server here misbehaves on purpose, the way a broken proxy, a stalled storage host
or a malicious answer would: it trickles bytes, inflates gzip bombs, sends encodings
the client never asked for, loops redirects, points download links at private
addresses and writes secrets or terminal escapes into its error bodies. Every case
must end quickly, in one line, without the token or a signature in it.
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import shutil
import socket
import ssl
import subprocess
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from ganymede_sync.errors import ApiError, ConfigError, UncertainDeliveryError
from ganymede_sync.remote.client import (
    MAX_ANSWER_BYTES,
    MAX_REDIRECTS,
    GanymedeClient,
    default_ssl_context,
)
from ganymede_sync.settings.config import NetworkLimits
from ganymede_sync.ui.progress import render_bar, render_line
from tests.tooling.pull_helpers import API_KEY, Sleeps

SIGNATURE = "X-Goog-Signature=c0ffee"
Script = Callable[["Handler"], None]


class Handler(http.server.BaseHTTPRequestHandler):
    """Answers every request with the script the test set on the server."""

    protocol_version = "HTTP/1.1"
    server: HostileServer

    def handle(self) -> None:
        """Serve one connection's requests, counting the connections open meanwhile."""
        with self.server.lock:
            self.server.open += 1
        try:
            super().handle()
        finally:
            with self.server.lock:
                self.server.open -= 1

    def do_GET(self) -> None:
        self._play()

    def do_PUT(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        self._play()

    def _play(self) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.seen.append((self.command, self.path, headers))
        self.server.ports.append(self.client_address[1])
        with contextlib.suppress(OSError):  # the client hung up, as it should
            self.server.script(self)

    def log_message(self, *args: object) -> None:
        pass

    def answer(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def trickle_answer(self, start: bytes) -> None:
        """Answer 200 announcing 100,000 bytes, then trickle ``start`` and spaces."""
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.trickle(start)

    def trickle(self, data: bytes, every: float = 0.2, most: float = 10.0) -> None:
        """Send ``data`` one byte at a time, then keep sending spaces until stopped, or for
        ``most`` seconds: a client that fails to cut the exchange fails its test, not hangs it."""
        ends = time.monotonic() + most
        for index in range(len(data)):
            self.wfile.write(data[index : index + 1])
            self.wfile.flush()
            time.sleep(every)
        while not self.server.stopping.is_set() and time.monotonic() < ends:
            self.wfile.write(b" ")
            self.wfile.flush()
            time.sleep(every)


class HostileServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.script: Script = lambda handler: handler.answer(404)
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.ports: list[int] = []
        """The client's port of each request: a repeated port is a kept-alive connection."""
        self.open = 0
        """Connections open now."""
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet: clients hanging up mid-answer is what these tests provoke."""


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = HostileServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.stopping.set()
    server.shutdown()
    server.server_close()


@dataclass
class Timed:
    """A client with small deadlines, and how long its last call took."""

    server: HostileServer
    request_deadline: float = 1.0
    download_deadline: float = 1.0
    sleeps: Sleeps = field(default_factory=Sleeps)

    def client(self, **options: object) -> GanymedeClient:
        network = NetworkLimits(self.request_deadline, self.download_deadline)
        options = {"timeout": 5.0, "network": network, "sleep": self.sleeps, **options}
        return GanymedeClient(self.server.url, API_KEY, "dev", **options)  # type: ignore[arg-type]


def call(action: Callable[[], object], limit: float = 3.0) -> ApiError:
    """Run ``action``, which must fail with a one-line ApiError within ``limit`` seconds."""
    started = time.monotonic()
    with pytest.raises(ApiError) as caught:
        action()
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert elapsed < limit, f"took {elapsed:.1f}s: {message}"
    assert "\n" not in message and "\x1b" not in message
    assert API_KEY not in message and "c0ffee" not in message
    return caught.value


def link(server: HostileServer, path: str = "/file.zip") -> bytes:
    return f"{server.url}{path}?{SIGNATURE}".encode()


def commits_then(download: Script, url: bytes | None = None) -> Script:
    """Answer the commits call with a signed link (to this server), the flow list with no
    flow, the rest with ``download``."""

    def script(handler: Handler) -> None:
        if handler.path.startswith("/v0/"):
            handler.answer(200, url or link(handler.server))
        elif handler.path.startswith("/v2/"):
            handler.answer(200, b"[]")
        else:
            download(handler)

    return script


def flows_then_trickle(start: bytes) -> Script:
    """Answer the flow list with no flow, the rest with a 200 trickling ``start``: the
    second exchange of a client reuses the first one's kept-alive connection."""

    def script(handler: Handler) -> None:
        if handler.path.startswith("/v2/"):
            handler.answer(200, b"[]")
        else:
            handler.trickle_answer(start)

    return script


# --- deadlines -------------------------------------------------------------------------
def test_an_api_answer_trickled_byte_by_byte_is_cut_at_the_request_deadline(hostile):
    hostile.script = lambda handler: handler.trickle_answer(b"http://")
    timed = Timed(hostile)
    with timed.client() as client:
        error = call(client.snapshot_url)
    assert "within 1 s" in str(error) and "[network] request_deadline_s" in str(error)
    assert len(hostile.seen) == 1, "no retry once the deadline has passed"


def serve_tls(server: HostileServer, folder: Path) -> Path:
    """Make ``server`` answer over TLS with a new self-signed certificate; return its file."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a certificate")
    key, cert = folder / "key.pem", folder / "cert.pem"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj"]
    request += ["/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        [openssl, *request, "-keyout", key, "-out", cert], check=True, capture_output=True
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return cert


def test_a_trickled_https_answer_is_cut_at_the_deadline_too(hostile, tmp_path):
    """Ganymede is reached over TLS: cutting the socket must wake a blocked TLS read too."""
    cert = serve_tls(hostile, tmp_path)
    hostile.script = lambda handler: handler.trickle_answer(b"https://")
    trusting = httpx.HTTPTransport(verify=ssl.create_default_context(cafile=str(cert)))
    url = f"https://127.0.0.1:{hostile.server_address[1]}"
    network = NetworkLimits(request_deadline_s=1.0)
    with GanymedeClient(url, API_KEY, "dev", network=network, transport=trusting) as client:
        error = call(client.snapshot_url)
    assert "within 1 s" in str(error)


def test_a_kept_alive_https_connection_that_trickles_is_cut_too(hostile, tmp_path, monkeypatch):
    """The connection the client keeps is a TLS one: its socket is the one to shut down."""
    monkeypatch.setenv("SSL_CERT_FILE", str(serve_tls(hostile, tmp_path)))
    default_ssl_context.cache_clear()  # made again from SSL_CERT_FILE, as a user's would be
    hostile.script = flows_then_trickle(b"https://")
    url = f"https://127.0.0.1:{hostile.server_address[1]}"
    network = NetworkLimits(request_deadline_s=1.0)
    try:
        with GanymedeClient(url, API_KEY, "dev", network=network) as client:
            assert client.list_flows() == []
            error = call(client.snapshot_url)
    finally:
        default_ssl_context.cache_clear()
    assert "within 1 s" in str(error)
    assert len(set(hostile.ports)) == 1, "both exchanges ran on one kept-alive connection"


def test_trickled_headers_are_cut_at_the_request_deadline(hostile):
    hostile.script = lambda handler: handler.trickle(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100)
    with Timed(hostile).client() as client:
        error = call(client.list_flows)
    assert "within 1 s" in str(error)


def test_a_kept_alive_connection_that_trickles_is_cut_at_the_request_deadline(hostile):
    """The second exchange reuses the first one's connection, which fires no connect
    event: the watchdog must still know that socket."""
    hostile.script = flows_then_trickle(b"http://")
    with Timed(hostile).client() as client:
        assert client.list_flows() == []
        error = call(client.snapshot_url)
    assert "within 1 s" in str(error)
    assert len(set(hostile.ports)) == 1, "both exchanges ran on one kept-alive connection"


def test_requests_safe_to_repeat_share_connections_and_a_deploy_opens_its_own(hostile):
    hostile.script = lambda handler: handler.answer(200, b"[]")
    with Timed(hostile).client() as client:
        for _ in range(3):
            client.list_flows()
        client.put_commits({}, author_email="a@b.c", message="m")
        client.list_flows()
    reads, deploy, last = hostile.ports[:3], hostile.ports[3], hostile.ports[4]
    assert len(set(reads)) == 1 and last == reads[0], "reads reuse one connection"
    assert deploy not in reads, "a request that must not arrive twice never reuses one"


def test_kept_alive_connections_of_ended_threads_are_closed(hostile):
    """A long-lived client used from pool after pool holds one connection per live thread."""
    hostile.script = lambda handler: handler.answer(200, b"[]")
    with Timed(hostile).client() as client:
        for _ in range(5):
            reader = threading.Thread(target=client.list_flows)
            reader.start()
            reader.join()
        client.list_flows()
        wait_until(lambda: hostile.open == 1)
    wait_until(lambda: hostile.open == 0)
    assert len(set(hostile.ports)) == 6


def wait_until(condition: Callable[[], bool], limit: float = 5.0) -> None:
    """Wait for the server to see what the client did (a closed socket arrives later)."""
    ends = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < ends, "the server never saw it"
        time.sleep(0.01)


def test_a_kept_alive_connection_the_server_closed_is_replaced_without_a_retry(hostile):
    """A server may close an idle connection at any time (here: after every answer)."""
    hostile.script = lambda handler: handler.answer(200, b"[]", connection="close")
    timed = Timed(hostile)
    with timed.client() as client:
        for _ in range(3):
            assert client.list_flows() == []
    assert len(hostile.seen) == 3 and len(set(hostile.ports)) == 3
    assert timed.sleeps == [], "a closed connection is noticed before sending, not retried"


def test_a_deploy_cut_by_its_deadline_is_uncertain_and_not_repeated(hostile):
    hostile.script = lambda handler: handler.trickle(b"HTTP/1.1 200 OK\r\n")
    with Timed(hostile).client() as client:
        error = call(lambda: client.put_commits({}, author_email="a@b.c", message="m"))
    assert isinstance(error, UncertainDeliveryError) and "may or may not" in str(error)
    assert [method for method, _, _ in hostile.seen] == ["PUT"]


def test_a_trickled_download_is_cut_at_the_download_deadline(hostile, tmp_path):
    hostile.script = commits_then(lambda handler: handler.trickle_answer(b"PK\x03\x04"))
    seen = []
    with Timed(hostile, download_deadline=1.0).client() as client:
        url = client.snapshot_url()
        error = call(
            lambda: client.download(url, tmp_path / "a.zip", progress=lambda *a: seen.append(a))
        )
    assert "within 1 s" in str(error) and "[network] download_deadline_s" in str(error)
    assert seen and all(done <= total for done, total in seen)


def test_retries_stop_when_the_deadline_leaves_no_time_for_them(hostile):
    hostile.script = lambda handler: handler.answer(503, b"busy", Retry_After="1")
    with Timed(hostile, request_deadline=1.5).client(max_attempts=10, sleep=time.sleep) as client:
        error = call(client.snapshot_url)
    assert "503 after 2 attempts" in str(error)
    assert len(hostile.seen) == 2, "waited once (1 s), then no time was left for a second wait"


# --- sizes and encodings ---------------------------------------------------------------
def test_a_gzip_bomb_from_the_api_is_refused_in_bounded_memory(hostile):
    bomb = gzip.compress(b"\0" * (256 << 20), compresslevel=9)  # 256 MiB in ~250 KiB
    hostile.script = lambda handler: handler.answer(200, bomb, Content_Encoding="gzip")
    tracemalloc.start()
    try:
        with Timed(hostile, request_deadline=10).client() as client:
            error = call(client.list_flows, limit=10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert f"over {MAX_ANSWER_BYTES >> 20} MiB" in str(error)
    assert peak < 3 * MAX_ANSWER_BYTES, f"peak {peak >> 20} MiB"


def test_a_gzip_api_answer_within_the_cap_is_read(hostile):
    body = gzip.compress(b'[{"id": "flow_a"}]')
    hostile.script = lambda handler: handler.answer(200, body, Content_Encoding="gzip")
    with Timed(hostile).client() as client:
        assert client.list_flows() == [{"id": "flow_a"}]


@pytest.mark.parametrize("encoding", ["br", "compress", "gzip, gzip", "\x1b[31mx"])
def test_an_api_answer_in_an_unknown_encoding_is_one_line(hostile, encoding):
    hostile.script = lambda handler: handler.answer(200, b"xx", Content_Encoding=encoding)
    with Timed(hostile).client() as client:
        error = call(client.list_flows)
    assert "Content-Encoding" in str(error)


def test_a_corrupt_gzip_api_answer_is_one_line(hostile):
    hostile.script = lambda handler: handler.answer(
        200, b"\x1f\x8b garbage", Content_Encoding="gzip"
    )
    with Timed(hostile).client() as client:
        error = call(client.list_flows)
    assert "corrupt" in str(error)


def test_the_archive_is_asked_for_plain_and_any_content_encoding_is_refused(hostile, tmp_path):
    archive = gzip.compress(b"\0" * (8 << 20))
    hostile.script = commits_then(
        lambda handler: handler.answer(200, archive, Content_Encoding="gzip")
    )
    with Timed(hostile).client() as client:
        url = client.snapshot_url()
        error = call(lambda: client.download(url, tmp_path / "a.zip", max_bytes=1 << 20))
    assert "Content-Encoding 'gzip'" in str(error)
    download = [headers for _, path, headers in hostile.seen if path.startswith("/file")]
    assert [h.get("accept-encoding") for h in download] == ["identity"]
    assert not (tmp_path / "a.zip").exists() or (tmp_path / "a.zip").stat().st_size == 0


def test_progress_never_shows_more_than_the_total():
    assert render_line("downloading", 300, 100).endswith("(100%)")
    assert render_bar("downloading", 300, 100).count("#") == 30


# --- redirects and httpx's own errors --------------------------------------------------
def test_a_download_redirect_loop_ends_in_one_line(hostile, tmp_path):
    hostile.script = commits_then(
        lambda handler: handler.answer(302, Location=f"/file.zip?{SIGNATURE}")
    )
    with Timed(hostile).client() as client:
        url = client.snapshot_url()
        error = call(lambda: client.download(url, tmp_path / "a.zip"))
    assert f"redirected more than {MAX_REDIRECTS} times" in str(error)
    assert len([p for _, p, _ in hostile.seen if p.startswith("/file")]) == MAX_REDIRECTS + 1


def test_an_api_redirect_loop_ends_in_one_line(hostile):
    hostile.script = lambda handler: handler.answer(307, Location="/v2/environment/dev/flows")
    with Timed(hostile).client() as client:
        error = call(client.list_flows)
    assert "too many redirects" in str(error)


def test_a_garbled_answer_is_retried_then_one_line(hostile):
    def garble(handler: Handler) -> None:
        handler.wfile.write(b"NOT HTTP AT ALL\r\n\r\n")
        handler.close_connection = True

    hostile.script = garble
    timed = Timed(hostile)
    with timed.client(max_attempts=2) as client:
        error = call(client.list_flows)
    assert "garbled" in str(error) and "after 2 attempts" in str(error)


def test_a_redirect_to_an_invalid_url_is_one_line(hostile, tmp_path):
    hostile.script = commits_then(lambda handler: handler.answer(302, Location="http://[::1/x"))
    with Timed(hostile).client(max_attempts=2) as client:
        url = client.snapshot_url()
        error = call(lambda: client.download(url, tmp_path / "a.zip"))
    assert "garbled" in str(error) and "after 2 attempts" in str(error)


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://[::1"])
def test_an_api_url_httpx_cannot_parse_is_one_line(url):
    with GanymedeClient(url, API_KEY, "dev", sleep=Sleeps()) as client:
        error = call(client.list_flows)
    assert "not a valid URL" in str(error) or "could not" in str(error)


@pytest.mark.parametrize("token", ["tok\n", "tok en", "tök", "tok\r"])
def test_a_token_unfit_for_a_header_is_refused_before_any_request(hostile, token):
    with pytest.raises(ConfigError) as caught:
        GanymedeClient(hostile.url, token, "dev")
    assert "GANYMEDE_API_TOKEN holds" in str(caught.value) and token not in str(caught.value)
    assert hostile.seen == []


# --- where a download may go, and what is shown of it ---------------------------------
@pytest.mark.parametrize(
    "url, reason",
    [
        ("https://10.1.2.3/f.zip", "private-network"),
        ("https://192.168.0.7/f.zip", "private-network"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[fe80::1]/f.zip", "link-local"),
        ("https://[::1]:8443/f.zip", "loopback"),
        ("https://127.0.0.1:8443/f.zip", "loopback"),
        ("https://localhost/f.zip", "this computer"),
        ("http://93.184.216.34/f.zip", "not https"),
    ],
)
def test_a_signed_link_to_a_non_public_or_plain_http_address_is_refused(
    hostile, tmp_path, url, reason
):
    hostile.script = commits_then(
        lambda handler: handler.answer(200, b"PK"), f"{url}?{SIGNATURE}".encode()
    )
    with Timed(hostile).client() as client:
        signed = client.snapshot_url()
        error = call(lambda: client.download(signed, tmp_path / "a.zip"))
    assert reason in str(error) and "only https links to public addresses" in str(error)
    assert len(hostile.seen) == 1, "nothing but the API call"


def test_a_redirect_from_the_storage_host_to_a_private_address_is_refused(hostile, tmp_path):
    hostile.script = commits_then(
        lambda handler: handler.answer(302, Location="https://10.0.0.8/internal")
    )
    with Timed(hostile).client() as client:
        url = client.snapshot_url()
        error = call(lambda: client.download(url, tmp_path / "a.zip"))
    assert "https://10.0.0.8:443" in str(error) and "private-network" in str(error)


def test_a_host_name_that_resolves_to_this_computer_is_refused_when_connecting(hostile, tmp_path):
    name = socket.gethostname()
    try:
        address = socket.getaddrinfo(name, 443, type=socket.SOCK_STREAM)[0][4][0]
    except OSError:
        pytest.skip("this computer's name does not resolve")
    if address.startswith(("127.", "10.", "192.168.", "172.", "::1", "fe80")) is False:
        pytest.skip("this computer's name resolves to a public address")
    url = f"https://{name}:{hostile.server_address[1]}/f.zip?{SIGNATURE}".encode()
    hostile.script = commits_then(lambda handler: handler.answer(200, b"PK"), url)
    with Timed(hostile).client() as client:
        signed = client.snapshot_url()
        error = call(lambda: client.download(signed, tmp_path / "a.zip"))
    assert "resolves to a" in str(error)
    assert len(hostile.seen) == 1, "refused before sending anything"


def test_a_storage_host_error_body_is_never_shown(hostile, tmp_path):
    body = b"SECRET-INTERNAL-DETAIL \x1b[2J bucket=acme-prod"
    hostile.script = commits_then(lambda handler: handler.answer(403, body))
    with Timed(hostile).client() as client:
        url = client.snapshot_url()
        error = call(lambda: client.download(url, tmp_path / "a.zip"))
    assert "answered 403" in str(error)
    assert "SECRET" not in str(error) and "Ganymede said" not in str(error)


def test_the_api_error_body_is_quoted_on_one_printable_line(hostile):
    body = b"bad request\x1b[31m red\x07 \r\nsecond line " + b"z" * 5000
    hostile.script = lambda handler: handler.answer(400, body)
    with Timed(hostile).client() as client:
        error = call(client.list_flows)
    message = str(error)
    assert "Ganymede said: bad request?[31m red? second line" in message
    assert len(message) < 500
