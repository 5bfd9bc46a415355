"""The API client against the emulator: signed URLs, downloads, retries, errors, secrets."""

from __future__ import annotations

import http.server
import logging
import shutil
import socket
import ssl
import subprocess
import threading
import time
import zipfile

import httpx
import pytest

from ganymede_sync.emulator import Emulator
from ganymede_sync.errors import (
    ApiError,
    AuthenticationError,
    LimitExceeded,
    UncertainDeliveryError,
)
from ganymede_sync.remote.client import GanymedeClient, default_ssl_context
from tests.tooling.pull_helpers import API_KEY, Sleeps


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """One emulator for the module: these tests change faults, never the code it holds."""
    with Emulator(
        tmp_path_factory.mktemp("emulator"), api_key=API_KEY, environments=("dev", "prod")
    ) as shared:
        yield shared


@pytest.fixture
def emulator(running):
    running.clear_faults()
    running.clear_requests()
    yield running
    running.clear_faults()


def client_for(emulator, *, token=API_KEY, environment="dev", sleeps=None, **options):
    options.setdefault("timeout", 5.0)
    return GanymedeClient(
        emulator.url,
        token,
        environment,
        sleep=sleeps if sleeps is not None else Sleeps(),
        **options,
    )


def download_paths(emulator) -> list:
    return [r for r in emulator.requests if r.path.startswith("/_download")]


def test_snapshot_url_is_the_bare_url_the_api_answers(emulator):
    with client_for(emulator) as client:
        url = client.snapshot_url()
    assert url.startswith(emulator.url + "/_download/")


def test_a_json_quoted_signed_url_is_accepted_too(tmp_path):
    quoted = Emulator(tmp_path / "q", api_key=API_KEY, quote_signed_url=True)
    with quoted, client_for(quoted) as client:
        url = client.snapshot_url()
        assert url.startswith(quoted.url + "/_download/")
        size = client.download(url, tmp_path / "a.zip")
    assert zipfile.is_zipfile(tmp_path / "a.zip") and size > 0


def test_the_request_names_flow_and_lib_choice(emulator):
    with client_for(emulator) as client:
        client.snapshot_url(flow="qPCR_Analysis", include_lib=False)
    request = emulator.requests[-1]
    assert request.query == {"flowName": "qPCR_Analysis", "includeLibFiles": "false"}
    assert request.had_api_key


def test_download_streams_to_a_file_with_progress_and_no_api_key(emulator, tmp_path):
    seen = []
    with client_for(emulator) as client:
        url = client.snapshot_url()
        size = client.download(url, tmp_path / "a.zip", progress=lambda d, t: seen.append((d, t)))
    assert size == (tmp_path / "a.zip").stat().st_size
    assert seen[-1] == (size, size)
    downloads = download_paths(emulator)
    assert downloads and not any(r.had_api_key for r in downloads)


def test_a_redirect_to_another_port_never_receives_the_api_key(emulator, tmp_path):
    with Emulator(tmp_path / "other", api_key="other-token") as other:
        emulator.add_fault("redirect", endpoint="commits_get", location=other.url + "/steal")
        with client_for(emulator) as client, pytest.raises(ApiError) as caught:
            client.snapshot_url()
        assert not any(r.had_api_key for r in other.requests)
        assert other.requests == []
    message = str(caught.value)
    assert "another host" in message and API_KEY not in message


def test_a_redirect_within_the_api_host_is_followed(emulator):
    target = emulator.url + "/v0/environment/dev/commits?includeLibFiles=true"
    emulator.add_fault("redirect", endpoint="commits_get", location=target)
    with client_for(emulator) as client:
        assert client.snapshot_url().startswith(emulator.url + "/_download/")
    assert [r.status for r in emulator.requests] == [307, 200]


def test_429_waits_as_long_as_retry_after_says(emulator):
    emulator.add_fault("rate_limit", count=2, endpoint="commits_get", retry_after=7)
    sleeps = Sleeps()
    with client_for(emulator, sleeps=sleeps) as client:
        client.snapshot_url()
    assert sleeps == [7.0, 7.0]


def test_a_retry_after_beyond_reason_fails_at_once(emulator):
    emulator.add_fault("rate_limit", endpoint="commits_get", retry_after=3600)
    sleeps = Sleeps()
    with client_for(emulator, sleeps=sleeps) as client, pytest.raises(ApiError, match="429"):
        client.snapshot_url()
    assert sleeps == []


def test_server_errors_are_retried_with_growing_backoff(emulator):
    emulator.add_fault("error", count=3, endpoint="commits_get", status=502)
    sleeps = Sleeps()
    with client_for(emulator, sleeps=sleeps, backoff=1.0) as client:
        client.snapshot_url()
    assert len(sleeps) == 3
    assert 0.5 <= sleeps[0] <= 1.5 and 1.0 <= sleeps[1] <= 3.0 and 2.0 <= sleeps[2] <= 6.0


def test_retries_are_bounded_and_the_error_says_to_try_later(emulator):
    emulator.add_fault(
        "error", count=10, endpoint="commits_get", status=503, body="down for maintenance"
    )
    with client_for(emulator, max_attempts=3) as client, pytest.raises(ApiError) as caught:
        client.snapshot_url()
    message = str(caught.value)
    assert "environment 'dev'" in message and "503 after 3 attempts" in message
    assert "try again later" in message and "down for maintenance" in message
    assert caught.value.status == 503
    assert len(emulator.requests) == 3


def test_a_wrong_token_names_the_environment_and_the_variable(emulator):
    client = client_for(emulator, token="wrong-secret-value")
    with client, pytest.raises(AuthenticationError) as caught:
        client.snapshot_url()
    message = str(caught.value)
    assert "GANYMEDE_API_TOKEN" in message and "environment 'dev'" in message
    assert "wrong-secret-value" not in message
    assert len(emulator.requests) == 1


def test_an_unknown_environment_says_what_to_check(emulator):
    with client_for(emulator, environment="nope") as client, pytest.raises(ApiError) as caught:
        client.snapshot_url()
    assert caught.value.status == 404
    assert "environment 'nope'" in str(caught.value) and "GANYMEDE_ENVIRONMENT" in str(caught.value)


def test_an_unknown_flow_says_what_to_check(emulator):
    with client_for(emulator) as client, pytest.raises(ApiError) as caught:
        client.snapshot_url(flow="No_Such_Flow")
    assert "flow 'No_Such_Flow'" in str(caught.value) and "flow name" in str(caught.value)


def test_error_text_loses_tokens_and_signed_queries(emulator):
    body = f"bad {API_KEY} see https://store.example/x.zip?X-Signature=abc123&exp=1 " + "z" * 900
    emulator.add_fault("error", endpoint="commits_get", status=400, body=body)
    with client_for(emulator) as client, pytest.raises(ApiError) as caught:
        client.snapshot_url()
    message = str(caught.value)
    assert API_KEY not in message and "abc123" not in message
    assert "https://store.example/x.zip" in message and len(message) < 600


def test_an_unreachable_api_is_retried_then_explained(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    client = GanymedeClient(f"http://127.0.0.1:{port}", API_KEY, "dev", sleep=sleeps)
    with client, pytest.raises(ApiError) as caught:
        client.snapshot_url()
    assert len(sleeps) == 3
    assert "could not connect" in str(caught.value) and "try again later" in str(caught.value)


def test_a_slow_answer_times_out_and_is_retried(emulator):
    emulator.add_fault("slow", endpoint="commits_get", seconds=1.0)
    sleeps = Sleeps()
    with client_for(emulator, sleeps=sleeps, timeout=0.3) as client:
        assert client.snapshot_url()
    assert len(sleeps) == 1
    deadline = time.monotonic() + 10
    while len(emulator.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # let the abandoned slow request finish before the next test


def test_a_truncated_download_is_retried(emulator, tmp_path):
    emulator.add_fault("truncate", endpoint="download", after_bytes=50)
    with client_for(emulator) as client:
        size = client.download(client.snapshot_url(), tmp_path / "a.zip")
    assert zipfile.is_zipfile(tmp_path / "a.zip") and size > 50


def test_a_download_that_keeps_breaking_fails_clearly(emulator, tmp_path):
    emulator.add_fault("truncate", count=4, endpoint="download", after_bytes=50)
    with client_for(emulator) as client:
        url = client.snapshot_url()
        with pytest.raises(ApiError) as caught:
            client.download(url, tmp_path / "a.zip")
    message = str(caught.value)
    assert "download" in message and "after 4 attempts" in message
    assert "signature" not in message and "?" not in message


def test_an_expired_signed_url_is_explained_without_its_signature(emulator, tmp_path):
    emulator.add_fault("expire_url")
    with client_for(emulator) as client:
        url = client.snapshot_url()
        with pytest.raises(ApiError) as caught:
            client.download(url, tmp_path / "a.zip")
    message = str(caught.value)
    assert "403" in message and "expired" in message
    assert url.split("?", 1)[1] not in message


def test_list_flows_returns_the_flows(emulator):
    with client_for(emulator) as client:
        flows = client.list_flows()
    assert "qPCR_Analysis" in {flow["id"] for flow in flows}


def test_put_is_not_repeated_after_a_server_error(emulator):
    emulator.add_fault("error", endpoint="commits_put", status=500)
    with client_for(emulator) as client, pytest.raises(ApiError) as caught:
        client.put_commits({}, author_email="dev@example.com", message="m", dry_run=True)
    assert caught.value.status == 500
    assert [r.method for r in emulator.requests] == ["PUT"]


def test_put_is_repeated_after_503_and_429(emulator):
    emulator.add_fault("error", endpoint="commits_put", status=503)
    emulator.add_fault("rate_limit", endpoint="commits_put", retry_after=1)
    with client_for(emulator) as client:
        client.put_commits({}, author_email="dev@example.com", message="m", dry_run=True)
    assert [r.status for r in emulator.requests] == [503, 429, 200]


def test_a_put_whose_answer_is_lost_is_uncertain_and_not_repeated(emulator):
    emulator.add_fault("drop_after_apply")
    with client_for(emulator) as client, pytest.raises(UncertainDeliveryError) as caught:
        client.put_commits({}, author_email="dev@example.com", message="m")
    assert "may or may not" in str(caught.value)
    assert [r.method for r in emulator.requests] == ["PUT"]


def test_a_put_that_never_connected_is_repeated():
    calls = []

    def refuse_then_answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, text="ok")

    transport = httpx.MockTransport(refuse_then_answer)
    with GanymedeClient(
        "http://api.invalid", API_KEY, "dev", transport=transport, sleep=Sleeps()
    ) as client:
        assert client.put_commits({}, author_email="a@b.c", message="m") == "ok"
    assert calls == ["PUT", "PUT"]


def test_an_answer_that_is_not_a_url_is_refused():
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>login</html>"))
    client = GanymedeClient("http://api.invalid", API_KEY, "dev", transport=transport)
    with client, pytest.raises(ApiError, match="not a download link"):
        client.snapshot_url()


def test_request_logs_never_show_a_signature(emulator, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with client_for(emulator) as client:
        url = client.snapshot_url()
        client.download(url, tmp_path / "a.zip")
    signature = url.split("?", 1)[1]
    assert "HTTP Request" in caplog.text
    assert signature not in caplog.text and API_KEY not in caplog.text


def test_a_download_over_the_limit_is_stopped_and_not_repeated(emulator, tmp_path):
    with client_for(emulator) as client:
        url = client.snapshot_url()
        with pytest.raises(LimitExceeded, match="over the 100-byte limit") as caught:
            client.download(url, tmp_path / "a.zip", max_bytes=100)
    assert caught.value.limit == 100 and "max_total_mb" in (caught.value.setting or "")
    assert len([r for r in emulator.requests if r.path.startswith("/_download")]) == 1


# --- TLS -------------------------------------------------------------------------
def test_clients_share_one_verifying_ssl_context():
    with GanymedeClient("http://127.0.0.1:9", "t", "dev"), GanymedeClient("https://x", "t", "p"):
        pass
    context = default_ssl_context()
    assert context is default_ssl_context() and default_ssl_context.cache_info().misses == 1
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


@pytest.fixture
def self_signed_server(tmp_path):
    """An HTTPS server on 127.0.0.1 whose certificate no CA vouches for."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj"]
    request += ["/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)]
    subprocess.run([openssl, *request], check=True, capture_output=True)
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_download_from_an_unverifiable_https_host_is_refused(self_signed_server, tmp_path):
    destination = tmp_path / "snapshot.zip"
    with GanymedeClient(self_signed_server, "t", "dev", max_attempts=1) as client:
        with pytest.raises(ApiError, match="could not connect"):
            client.download(self_signed_server + "/x.zip", destination)
        with pytest.raises(ApiError):
            client.list_flows()


# --- stopping ----------------------------------------------------------------------------
SLOW = 2.0
"""Seconds the emulator holds a slow answer in these tests."""


def let_slow_answers_finish(since: float) -> None:
    """Wait out the emulator's slow answers abandoned since ``since``, so that they do not
    land in the next test's records."""
    time.sleep(max(0.0, since + SLOW + 0.3 - time.monotonic()))


def test_cutting_the_exchanges_ends_a_read_in_flight_at_once(emulator):
    emulator.add_fault("slow", endpoint="flow", seconds=SLOW)
    failures: list[Exception] = []

    def read() -> None:
        try:
            client.get_flow("qPCR_Analysis")
        except ApiError as error:
            failures.append(error)

    with client_for(emulator) as client:
        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(0.5)  # the read is waiting for its slow answer
        started = time.monotonic()
        client.cut_exchanges()
        reader.join(timeout=5)
        assert time.monotonic() - started < 1.0
        assert len(failures) == 1, "the read failed instead of waiting for the slow answer"
        emulator.clear_faults()
        assert client.get_flow("qPCR_Analysis"), "later exchanges are not affected"
    let_slow_answers_finish(started)


def test_a_failed_download_does_not_wait_for_slow_flow_documents(emulator):
    """Ctrl-C or a failure during the download ends the flow reads beside it at once."""
    from ganymede_sync.remote.fetch import fetch_snapshot

    emulator.add_fault("slow", count=3, endpoint="flow", seconds=SLOW)
    emulator.add_fault("error", count=4, endpoint="download", status=503)
    started = time.monotonic()

    def pause(seconds: float) -> None:
        time.sleep(0.2)  # between attempts: the download fails once the reads are under way

    with (
        client_for(emulator, sleeps=pause) as client,
        pytest.raises(ApiError),
        fetch_snapshot(client),
    ):
        pass
    assert time.monotonic() - started < 1.5
    let_slow_answers_finish(started)


def test_a_failed_read_of_the_flows_ends_the_download_and_is_what_the_pull_says(emulator):
    """A pull that cannot read the flows is doomed: its download is not waited for."""
    from ganymede_sync.remote.fetch import fetch_snapshot

    emulator.add_fault("error", endpoint="flows", status=403)
    emulator.add_fault("slow", endpoint="download", seconds=SLOW)
    started = time.monotonic()
    with (
        client_for(emulator) as client,
        pytest.raises(ApiError) as caught,
        fetch_snapshot(client),
    ):
        pass
    assert time.monotonic() - started < 1.5
    assert "listing the flows" in str(caught.value) and "403" in str(caught.value)
    let_slow_answers_finish(started)
