"""Each fault the emulator can inject behaves as documented, fires N times, then disappears."""

from __future__ import annotations

import base64
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest

KEY = "test-token"
COMMITS = "/v0/environment/dev/commits"
FLOWS = "/v2/environment/dev/flows"
NODE_FILE = "qPCR_Analysis/Load_Run/function.py"


def put_body(content: bytes = b"changed = 1\n") -> dict[str, object]:
    return {
        "fileMap": {NODE_FILE: base64.b64encode(content).decode()},
        "authorEmail": "dev@example.com",
        "message": "Change",
    }


def raw_get(url: str) -> tuple[dict[str, str], bytes]:
    """GET over a plain socket and read until the server closes: headers and body bytes."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as connection:
        target = f"{parts.path}?{parts.query}"
        connection.sendall(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")[1:]
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return headers, body


def test_error_fault_answers_its_status_count_times(emulator, api):
    emulator.add_fault("error", count=2, status=503, body="Service Unavailable")
    first, second, third = (api.get(COMMITS) for _ in range(3))
    assert (first.status_code, first.text) == (503, "Service Unavailable")
    assert second.status_code == 503
    assert third.status_code == 200
    assert [r.status for r in emulator.requests] == [503, 503, 200]


def test_error_fault_acts_before_authentication(emulator):
    emulator.add_fault("error", status=500)
    assert httpx.get(emulator.url + COMMITS).status_code == 500
    assert httpx.get(emulator.url + COMMITS).status_code == 401


def test_rate_limit_fault_answers_429_with_retry_after(emulator, api):
    emulator.add_fault("rate_limit", retry_after=3)
    response = api.put(COMMITS, json=put_body())
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert len(emulator.commits("dev")) == 1
    assert api.put(COMMITS, json=put_body()).status_code == 200


def test_slow_fault_delays_the_answer(emulator, api):
    emulator.add_fault("slow", seconds=0.8, endpoint="flows")
    started = time.monotonic()
    assert api.get(FLOWS).status_code == 200
    assert time.monotonic() - started >= 0.8
    started = time.monotonic()
    api.get(FLOWS)
    assert time.monotonic() - started < 0.8


def test_slow_fault_makes_a_short_client_timeout_expire(emulator, api):
    emulator.add_fault("slow", seconds=1.0)
    with pytest.raises(httpx.ReadTimeout):
        api.get(COMMITS, timeout=0.2)


def test_truncate_fault_closes_the_download_after_some_bytes(emulator, api):
    emulator.add_fault("truncate", after_bytes=50)
    url = api.get(COMMITS).text
    headers, body = raw_get(url)
    assert int(headers["content-length"]) > 50
    assert len(body) == 50
    emulator.add_fault("truncate", after_bytes=50)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url)
    assert httpx.get(url).status_code == 200


def test_expire_url_fault_issues_a_link_that_is_already_expired(emulator, api):
    emulator.add_fault("expire_url")
    expired = api.get(COMMITS).text
    assert httpx.get(expired).status_code == 403
    assert httpx.get(api.get(COMMITS).text).status_code == 200


def test_redirect_fault_answers_307_to_the_location(emulator, api):
    emulator.add_fault("redirect", location="http://127.0.0.1:9/elsewhere", endpoint="commits_get")
    response = api.get(COMMITS)
    assert response.status_code == 307
    assert response.headers["location"] == "http://127.0.0.1:9/elsewhere"


def test_archive_fault_serves_the_given_bytes(emulator, api):
    emulator.add_fault("archive", data=b"PK\x03\x04 not really a zip")
    url = api.get(COMMITS).text
    assert httpx.get(url).content == b"PK\x03\x04 not really a zip"
    assert httpx.get(url).content.startswith(b"PK")
    assert httpx.get(url).content != b"PK\x03\x04 not really a zip"


def test_drop_after_apply_commits_then_closes_without_an_answer(emulator, api):
    emulator.add_fault("drop_after_apply")
    with pytest.raises(httpx.RemoteProtocolError):
        api.put(COMMITS, json=put_body(b"dropped = 1\n"))
    assert emulator.commits("dev")[0].message == "Change"
    assert emulator.files("dev")["dags/" + NODE_FILE] == b"dropped = 1\n"
    assert emulator.requests[-1].status == 0


def test_fault_applies_only_to_its_endpoint(emulator, api):
    emulator.add_fault("error", status=502, endpoint="flows")
    url = api.get(COMMITS).text
    assert httpx.get(url).status_code == 200
    assert api.get(FLOWS).status_code == 502


def test_download_fault_leaves_the_api_alone(emulator, api):
    emulator.add_fault("error", status=500, endpoint="download")
    url = api.get(COMMITS).text
    assert httpx.get(url).status_code == 500
    assert httpx.get(url).status_code == 200


def test_clear_faults_removes_every_fault(emulator, api):
    emulator.add_fault("error", count=5)
    emulator.clear_faults()
    assert api.get(COMMITS).status_code == 200


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("explode", {}, "unknown fault kind"),
        ("error", {"status": 200}, "status"),
        ("error", {"endpoint": "pull"}, "endpoint"),
        ("truncate", {"endpoint": "flows"}, "download"),
        ("redirect", {}, "location"),
        ("archive", {"data": "text"}, "bytes"),
        ("slow", {"count": 0}, "count"),
        ("slow", {"delay": 1}, "delay"),
    ],
)
def test_add_fault_refuses_nonsense(emulator, kind, params, message):
    with pytest.raises(ValueError, match=message):
        emulator.add_fault(kind, **params)


def test_admin_endpoint_adds_lists_and_clears_faults(emulator, api):
    admin = httpx.Client(base_url=emulator.url, headers={"api-key": KEY})
    data = base64.b64encode(b"not a zip").decode()
    added = admin.post("/_emulator/faults", json={"kind": "archive", "data": data})
    assert added.status_code == 200
    assert admin.post("/_emulator/faults", json={"kind": "rate_limit", "count": 2}).is_success
    listed = admin.get("/_emulator/faults").json()
    assert [(f["kind"], f["count"]) for f in listed] == [("archive", 1), ("rate_limit", 2)]
    assert api.get(COMMITS).status_code == 429
    assert admin.delete("/_emulator/faults").status_code == 200
    assert admin.get("/_emulator/faults").json() == []
    assert httpx.get(api.get(COMMITS).text).content != b"not a zip"


def test_admin_endpoint_refuses_a_bad_fault(emulator):
    admin = httpx.Client(base_url=emulator.url, headers={"api-key": KEY})
    assert admin.post("/_emulator/faults", json={"kind": "nope"}).status_code == 400
    assert admin.post("/_emulator/faults", content=b"[").status_code == 400
    assert admin.post("/_emulator/faults", json={"kind": "archive", "data": "%"}).status_code == 400


def test_admin_endpoint_shows_the_request_journal(emulator, api):
    api.get(COMMITS, params={"flowName": "qPCR_Analysis"})
    httpx.get(emulator.url + FLOWS)
    admin = httpx.Client(base_url=emulator.url, headers={"api-key": KEY})
    journal = admin.get("/_emulator/requests").json()
    assert journal == [
        {
            "method": "GET",
            "path": COMMITS,
            "query": {"flowName": "qPCR_Analysis"},
            "had_api_key": True,
            "status": 200,
        },
        {"method": "GET", "path": FLOWS, "query": {}, "had_api_key": False, "status": 401},
    ]
    assert admin.delete("/_emulator/requests").status_code == 200
    assert emulator.requests == []


def test_clearing_the_journal_forgets_a_request_still_in_flight(emulator, api):
    emulator.add_fault("slow", seconds=0.5, endpoint="flows")
    with pytest.raises(httpx.ReadTimeout):
        api.get(FLOWS, timeout=0.1)
    emulator.clear_requests()
    time.sleep(0.8)
    assert api.get(FLOWS).status_code == 200
    assert [r.status for r in emulator.requests] == [200]
