"""The emulator refuses hostile requests cleanly and answers every client, over real sockets.

Odd names are refused before anything is committed, bodies are capped however they are
framed, the admin endpoints need the api-key, the journal and log never hand out a live
download link, and a burst of parallel clients is answered in full.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import logging
import socket
import subprocess
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ganymede_sync.emulator import Emulator

KEY = "test-token"
COMMITS = "/v0/environment/dev/commits"
NODE_FILE = "qPCR_Analysis/Load_Run/function.py"


@pytest.fixture(scope="module")
def refusing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """One seeded emulator for the tests of refused requests: none of them may commit."""
    with Emulator(tmp_path_factory.mktemp("refusing"), api_key=KEY) as emulator:
        yield emulator


def put_json(file_map: dict[str, str], **fields: object) -> bytes:
    """A PUT body as JSON text; a lone surrogate is written as the escape a client sends."""
    body = {"fileMap": file_map, "authorEmail": "dev@example.com", "message": "Update", **fields}
    return json.dumps(body).encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def address(emulator: Emulator) -> tuple[str, int]:
    parts = urlsplit(emulator.url)
    return parts.hostname or "127.0.0.1", parts.port or 80


@dataclass(frozen=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage
    text: str


def exchange(emulator: Emulator, request: bytes, timeout: float = 10) -> Answer:
    """Send raw bytes on a new connection and read the answer."""
    with socket.create_connection(address(emulator), timeout=timeout) as connection:
        connection.sendall(request)
        response = http.client.HTTPResponse(connection)
        response.begin()
        body = response.read().decode("utf-8", "replace")
        return Answer(response.status, response.headers, body)


def put_request(body: bytes, *, headers: str = "", chunked: bool = False) -> bytes:
    """A raw PUT of the commits endpoint with the api-key, framed by length or chunked."""
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}"
    head = (
        f"PUT {COMMITS} HTTP/1.1\r\nHost: 127.0.0.1\r\napi-key: {KEY}\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n{headers}\r\n"
    )
    return head.encode() + body


def put_and_status(api: httpx.Client, file_map: dict[str, str]) -> int:
    body = {"fileMap": file_map, "authorEmail": "dev@example.com", "message": "Update"}
    return api.put(COMMITS, json=body).status_code


def chunks(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


# --- names that git cannot hold safely are refused, and never break a download ------------
@pytest.mark.parametrize(
    "path",
    [
        "lib/labtools/bad\ud800.py",
        "lib/labtools/bad\udcff.py",
        "qPCR_Analysis/Load_Run/\udc80.py",
        "lib/.git/hooks/post-checkout",
        "qPCR_Analysis/.git/config.py",
        "lib/.GIT/hooks/x.py",
        "lib/.git./hooks/x.py",
        "lib/git~1/x.py",
        "lib/a\rb.py",
        "lib/a\tb.py",
        "lib/a\nb.py",
        "lib/a\x00b.py",
        "lib/a\x7fb.py",
        "lib/a\x85b.py",
        "/lib/x.py",
        "lib/../x.py",
        "lib/labtools/../../x.py",
        "lib\\labtools\\x.py",
        "lib//x.py",
        "lib/labtools/",
    ],
)
def test_put_refuses_a_bad_name_naming_it_and_commits_nothing(refusing, path):
    before = refusing.commits("dev")
    for dry_run in (False, True):
        body = put_json({NODE_FILE: b64(b"ok = 1\n"), path: b64(b"x = 1\n")}, dry_run=dry_run)
        response = exchange(refusing, put_request(body))
        assert response.status == 400
        assert repr(path) in response.text
    assert refusing.commits("dev") == before


SEGMENTS = st.one_of(
    st.text(st.characters(blacklist_categories=()), max_size=5),
    st.sampled_from(["", ".", "..", ".git", ".Git", ".git ", "git~1", "a\\b", "\u200c.git"]),
)
LIB_PATHS = st.lists(SEGMENTS, min_size=1, max_size=3).map(lambda parts: "lib/" + "/".join(parts))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(path=LIB_PATHS)
def test_any_name_is_either_refused_by_name_or_served_back_exactly(emulator, path):
    """Whatever a PUT holds, the emulator answers, and what it commits a download serves."""
    name = path + ".py"
    before = len(emulator.commits("dev"))
    response = exchange(emulator, put_request(put_json({name: b64(b"v = 1\n")})))
    event(f"answered {response.status}")
    if response.status == 400:
        assert repr(name) in response.text
        assert len(emulator.commits("dev")) == before
        return
    assert response.status == 200, response.text
    with httpx.Client(base_url=emulator.url, headers={"api-key": KEY}) as client:
        download = httpx.get(client.get(COMMITS).text)
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        assert archive.read(name) == b"v = 1\n"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"message": "bad \ud800"}, "message"),
        ({"authorEmail": "d\udcffv@example.com"}, "d\\udcffv@example.com"),
    ],
)
def test_put_refuses_a_lone_surrogate_in_message_or_author(refusing, fields, named):
    before = refusing.commits("dev")
    response = exchange(refusing, put_request(put_json({NODE_FILE: b64(b"x = 1\n")}, **fields)))
    assert response.status == 400
    assert named in response.text
    assert refusing.commits("dev") == before


def _commit_by_hand(repository: Path, path: bytes, data: bytes) -> None:
    """Commit a file with plain git under a raw byte name the API would refuse."""

    def git(*args: str, data: bytes | None = None) -> bytes:
        done = subprocess.run(
            ["git", *args], cwd=repository, input=data, capture_output=True, check=True
        )
        return done.stdout

    blob = git("hash-object", "-w", "--stdin", data=data).strip()
    git("update-index", "--index-info", data=b"100644 " + blob + b"\t" + path + b"\n")
    git("commit", "-qm", "By hand")


def test_a_name_that_is_not_utf8_in_the_repository_never_breaks_downloads(emulator, api):
    repository = emulator.pipeline_path("dev")
    _commit_by_hand(repository, b"lib/labtools/bad\xff.py", b"x = 1\n")
    _commit_by_hand(repository, b"dags/Bad\xfe/Node/function.py", b"y = 1\n")
    for params in ({}, {"includeLibFiles": "false"}, {"flowName": "qPCR_Analysis"}):
        url = api.get(COMMITS, params=params).text
        download = httpx.get(url)
        assert download.status_code == 200
        with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
            names = archive.namelist()
        assert "qPCR_Analysis/Load_Run/function.py" in names
        assert not any("bad" in name.lower() for name in names)
    assert api.get("/v2/environment/dev/flows").status_code == 200
    assert put_and_status(api, {NODE_FILE: b64(b"still = 1\n")}) == 200


def test_a_flow_name_of_any_script_is_served_with_a_valid_header(emulator, api):
    emulator.write_file("dev", 'dags/流れ "x"/Node/function.py', b"z = 1\n")
    url = api.get(COMMITS, params={"flowName": '流れ "x"'}).text
    download = httpx.get(url)
    assert download.status_code == 200
    disposition = download.headers["content-disposition"]
    assert "filename*=UTF-8''%E6%B5%81%E3%82%8C%20%22x%22.zip" in disposition
    assert disposition.isascii()


# --- bodies are capped however they are framed ---------------------------------------------
@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """An emulator that accepts request bodies of at most 1000 bytes."""
    data_dir = tmp_path_factory.mktemp("capped")
    with Emulator(data_dir, api_key=KEY, max_body_bytes=1000) as emulator:
        yield emulator


def test_a_chunked_body_within_the_cap_is_a_normal_put(capped):
    body = put_json({NODE_FILE: b64(b"chunked = 1\n")})
    response = exchange(capped, put_request(chunks(body[:40], body[40:]), chunked=True))
    assert response.status == 200, response.text
    assert capped.files("dev")["dags/" + NODE_FILE] == b"chunked = 1\n"
    assert capped.commits("dev")[0].message == "Update"


def test_a_chunked_body_over_the_cap_is_refused_before_its_bytes_are_read(capped):
    # Only the size line of a 1 GiB chunk is sent: waiting for its bytes would time out.
    before = capped.commits("dev")
    capped.clear_requests()
    request = put_request(b"40000000\r\n", chunked=True)
    response = exchange(capped, request, timeout=5)
    assert response.status == 413
    assert response.headers["Connection"] == "close"
    assert capped.commits("dev") == before
    assert [(r.method, r.path, r.status) for r in capped.requests] == [("PUT", COMMITS, 413)]


def test_small_chunks_adding_up_over_the_cap_are_refused_at_the_first_one_over(capped):
    before = capped.commits("dev")
    three_chunks = b"".join(b"12c\r\n" + b"a" * 300 + b"\r\n" for _ in range(3))
    request = put_request(three_chunks, chunked=True)
    response = exchange(capped, request + b"12c\r\n", timeout=5)
    assert response.status == 413
    assert capped.commits("dev") == before


def test_a_content_length_over_the_cap_is_refused_unread(capped):
    head = f"PUT {COMMITS} HTTP/1.1\r\nHost: 127.0.0.1\r\napi-key: {KEY}\r\n"
    request = (head + "Content-Length: 5000\r\n\r\n").encode()
    before = capped.commits("dev")
    assert exchange(capped, request, timeout=5).status == 413
    assert capped.commits("dev") == before


def test_a_body_announced_over_the_cap_is_refused_before_100_continue(capped):
    head = f"PUT {COMMITS} HTTP/1.1\r\nHost: 127.0.0.1\r\napi-key: {KEY}\r\n"
    expect = "Expect: 100-continue\r\nContent-Length: {}\r\n\r\n"
    with socket.create_connection(address(capped), timeout=5) as connection:
        connection.sendall((head + expect.format(5000)).encode())
        assert connection.recv(65536).startswith(b"HTTP/1.1 413 ")
    with socket.create_connection(address(capped), timeout=5) as connection:
        connection.sendall((head + expect.format(500)).encode())
        assert connection.recv(65536).startswith(b"HTTP/1.1 100 ")


@pytest.mark.parametrize("chunked", [False, True])
def test_an_http_client_sending_too_much_reads_the_413(capped, chunked):
    data = b"x" * 200_000
    with httpx.Client(base_url=capped.url, headers={"api-key": KEY}) as client:
        response = client.put(COMMITS, content=iter([data]) if chunked else data)
    assert response.status_code == 413
    assert "at most 1000 bytes" in response.text


@pytest.mark.parametrize(
    ("framing", "body"),
    [
        ("Transfer-Encoding: chunked", b"-1\r\n{}\r\n0\r\n\r\n"),
        ("Transfer-Encoding: chunked", b"zz\r\n{}\r\n0\r\n\r\n"),
        ("Transfer-Encoding: chunked", b"2\r\n{}XX0\r\n\r\n"),
        ("Transfer-Encoding: chunked", b"1" * 9000 + b"\r\n"),
        ("Transfer-Encoding: gzip", b"{}"),
        ("Content-Length: \xb2", b"{}"),
        ("Content-Length: -2", b"{}"),
    ],
    ids=[
        "negative-size",
        "not-hex",
        "chunk-cut-short",
        "endless-size-line",
        "other-coding",
        "unicode-digit",
        "negative-length",
    ],
)
def test_a_malformed_body_framing_is_refused(capped, framing, body):
    head = f"PUT {COMMITS} HTTP/1.1\r\nHost: 127.0.0.1\r\napi-key: {KEY}\r\n{framing}\r\n\r\n"
    before = capped.commits("dev")
    response = exchange(capped, head.encode("latin-1") + body, timeout=5)
    assert response.status == (501 if "gzip" in framing else 400)
    assert capped.commits("dev") == before


def test_a_malformed_request_line_is_answered(refusing):
    for line in (b"NONSENSE\r\n\r\n", b"GET /a b HTTP/1.1\r\n\r\n"):
        with socket.create_connection(address(refusing), timeout=5) as connection:
            connection.sendall(line)
            assert b"400" in connection.recv(65536)


# --- admin endpoints need the api-key ----------------------------------------------------------
ADMIN_CALLS = [
    ("POST", "/_emulator/faults", {"kind": "error", "status": 503}),
    ("GET", "/_emulator/faults", None),
    ("DELETE", "/_emulator/faults", None),
    ("GET", "/_emulator/requests", None),
    ("DELETE", "/_emulator/requests", None),
    ("GET", "/_emulator/nothing", None),
]


@pytest.mark.parametrize(("method", "path", "document"), ADMIN_CALLS)
def test_admin_endpoints_refuse_a_request_without_the_api_key(
    emulator, api, method, path, document
):
    emulator.add_fault("rate_limit", endpoint="flows")
    api.get(COMMITS)
    for headers in ({}, {"api-key": "wrong"}, {"Authorization": KEY}, {"api-key": ""}):
        response = httpx.request(method, emulator.url + path, headers=headers, json=document)
        assert response.status_code == 401, headers
        assert "api-key" in response.text
    assert [f["kind"] for f in api.get("/_emulator/faults").json()] == ["rate_limit"]
    assert [r.path for r in emulator.requests] == [COMMITS]


def test_an_empty_api_key_is_refused_at_start(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        Emulator(tmp_path / "one", api_key="")
    with pytest.raises(ValueError, match="empty"):
        Emulator(tmp_path / "two", api_key={"dev": "k", "prod": ""}, environments=("dev", "prod"))


def test_admin_endpoints_accept_the_key_of_any_environment(tmp_path):
    keys = {"dev": "dev-key", "prod": "prod-key"}
    with Emulator(tmp_path, api_key=keys, environments=("dev", "prod")) as emulator:
        for key in keys.values():
            response = httpx.get(emulator.url + "/_emulator/faults", headers={"api-key": key})
            assert response.json() == []


# --- the journal and the log never hand out a live download link ----------------------------
def test_journal_and_log_never_show_a_download_signature(emulator, api, caplog):
    caplog.set_level(logging.DEBUG, logger="ganymede_sync.emulator")
    url = api.get(COMMITS).text
    signature = dict(parse_qsl(urlsplit(url).query))["signature"]
    assert httpx.get(url).status_code == 200
    assert httpx.get(url.replace("signature=", "signature=0")).status_code == 403
    target = urlsplit(url)._replace(scheme="", netloc="").geturl()
    with socket.create_connection(address(emulator), timeout=5) as connection:
        connection.sendall(f"GET {target} extra HTTP/1.1\r\n\r\n".encode())
        connection.recv(65536)
    downloads = [r for r in emulator.requests if r.path.startswith("/_download/")]
    assert [r.query["signature"] for r in downloads] == ["[redacted]", "[redacted]"]
    assert downloads[0].query["expires"].isdigit()
    journal = api.get("/_emulator/requests").text
    assert signature not in journal and signature not in repr(emulator.requests)
    assert "[redacted]" in caplog.text
    assert signature not in caplog.text


# --- every client of a burst gets its answer ------------------------------------------------
def test_fifty_parallel_puts_are_all_answered_without_connect_retries(tmp_path):
    clients = 50
    users = tuple(f"user{n}@example.com" for n in range(clients))
    ready = threading.Barrier(clients)

    def put(n: int) -> tuple[float, int]:
        body = json.dumps(
            {
                "fileMap": {f"lib/burst/module_{n}.py": b64(f"n = {n}\n".encode())},
                "authorEmail": users[n],
                "message": f"Burst {n}",
            }
        ).encode()
        ready.wait(timeout=30)
        started = time.monotonic()
        connection = socket.create_connection(("127.0.0.1", port), timeout=60)
        connected = time.monotonic() - started
        connection.sendall(put_request(body))
        response = http.client.HTTPResponse(connection)
        response.begin()
        response.read()
        connection.close()
        return connected, response.status

    with Emulator(tmp_path, api_key=KEY, users=users) as emulator:
        port = address(emulator)[1]
        with ThreadPoolExecutor(max_workers=clients) as pool:
            results = list(pool.map(put, range(clients)))
        assert [status for _, status in results] == [200] * clients
        # A connection the listen queue had no room for is retried by the kernel after 1 s.
        assert max(connected for connected, _ in results) < 1.0
        messages = {commit.message for commit in emulator.commits("dev")}
        assert {f"Burst {n}" for n in range(clients)} <= messages
