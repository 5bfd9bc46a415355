"""HTTP client of Ganymede's API: the only module that imports httpx.

One ``GanymedeClient`` per environment, used as a context manager, with one method
per API operation. Retries live here and nowhere else: connection failures, 429
(honouring ``Retry-After``) and 5xx are retried with exponential backoff and jitter,
a bounded number of times, for requests that are safe to repeat. A PUT is repeated
only when it provably never reached Ganymede (no connection) or Ganymede said so
(429/503); when its fate is unknown it raises ``UncertainDeliveryError``.

Security rules: the ``api-key`` header goes only to the API origin. Redirects are
followed by hand and only within that origin; the signed-URL download is a separate
request without the header, and only to an https link on a public address (or to
the API's own origin, as the local emulator serves it). No message ever holds the
token or a signed URL's query, and only the API's own answers are ever quoted.

Bounds: every operation has an overall deadline (``NetworkLimits``) that holds even
when a server trickles bytes; API answers are read, and decompressed, up to
``MAX_ANSWER_BYTES``; the archive is asked for and accepted only without a
``Content-Encoding``, so its bytes on disk are the bytes counted against its limit.
Never prints, never touches files other than a download's destination.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from ganymede_sync.errors import (
    ApiError,
    AuthenticationError,
    ConfigError,
    LimitExceeded,
    UncertainDeliveryError,
)
from ganymede_sync.remote.limits import (
    AnswerProblem,
    Deadline,
    KeptConnection,
    RefusedAddress,
    Watchdog,
    link_problem,
    origin,
    printable,
    read_capped,
)
from ganymede_sync.settings.config import (
    API_URL_VARIABLE,
    ENVIRONMENT_VARIABLE,
    TOKEN_VARIABLE,
    ArchiveLimits,
    Environment,
    NetworkLimits,
    Settings,
    token_problem,
)

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, "int | None"], None]
"""Called as ``progress(bytes_done, bytes_total_or_None)`` while a download runs."""

MAX_REDIRECTS = 5
MAX_RETRY_AFTER = 120.0
MAX_ANSWER_BYTES = 16 << 20
"""Largest API answer read, after decompression: a flow list of tens of thousands of flows."""
_MAX_DELAY = 30.0
_BODY_LIMIT = 300
_SIGNED_QUERY = re.compile(r"(https?://[^\s?\"']+)\?[^\s\"']*")
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_PUT_RETRY_STATUSES = frozenset({429, 503})
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_API_HEADERS = {"accept": "application/json, text/plain", "accept-encoding": "gzip, deflate"}


class _RedactSignedUrls(logging.Filter):
    """Strip query strings from httpx's request log lines (``invoke --debug`` shows them).

    A signed URL's query is its signature: a credential for as long as it lives.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SIGNED_QUERY.sub(r"\1?<query removed>", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


logging.getLogger("httpx").addFilter(_RedactSignedUrls())


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """Return the process's one certificate-verifying SSL context, made on first use.

    The same context httpx would make (its CA bundle, ``SSL_CERT_FILE``/``SSL_CERT_DIR``
    honoured), built once: loading the CA bundle costs tens of milliseconds, and
    every client needs a context even for ``http://``, as a redirect or a proxy may
    lead to TLS. An SSL context is safe to share between clients and threads.
    """
    return httpx.create_ssl_context()


class GanymedeClient:
    """Talk to one Ganymede environment with one token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        environment: str,
        *,
        timeout: float = 30.0,
        max_attempts: int = 4,
        backoff: float = 0.5,
        network: NetworkLimits | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        problem = token_problem(token)
        if problem:
            raise ConfigError(problem)
        self.base_url = base_url.rstrip("/")
        self.environment = environment
        self._token = token
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff
        self._network = network or NetworkLimits()
        self._sleep = sleep
        self._transport = transport
        # A connection per exchange, so the deadline watchdog learns each socket it may
        # have to cut; requests safe to repeat ride kept-alive ones instead (``_kept_alive``).
        self._api = self._http_client(_API_HEADERS | {"api-key": token}, keep_alive=False)
        # No api-key here: signed URLs live on another host and carry their own signature.
        self._plain = self._http_client({"accept-encoding": "identity"}, keep_alive=False)
        self._per_thread = threading.local()
        self._kept_clients: list[tuple[threading.Thread, httpx.Client]] = []
        self._in_flight: set[Watchdog] = set()
        self._lock = threading.Lock()

    def __enter__(self) -> GanymedeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection pool, kept-alive connections included."""
        self._api.close()
        self._plain.close()
        with self._lock:
            kept, self._kept_clients = self._kept_clients, []
        for _, client in kept:
            client.close()

    def cut_exchanges(self) -> None:
        """End every exchange in flight now, as if its deadline had passed.

        For a caller that is stopping (Ctrl-C, or a failure beside) and must not wait
        for slow answers on other threads: their calls fail at once. Exchanges started
        afterwards are not affected.
        """
        with self._lock:
            watchdogs = list(self._in_flight)
        for watchdog in watchdogs:
            watchdog.expire()

    # --- operations ----------------------------------------------------------
    def snapshot_url(self, *, flow: str | None = None, include_lib: bool = True) -> str:
        """Return the short-lived signed URL of the environment's code archive.

        The body is the bare URL in practice; a JSON-quoted string is accepted too.
        """
        params = {"includeLibFiles": "true" if include_lib else "false"}
        if flow:
            params["flowName"] = flow
        what = f"getting the code of flow '{flow}'" if flow else "getting the code"
        response = self._request("GET", self._path("commits"), what, params=params, flow=flow)
        return self._parse_signed_url(response.text, what)

    def download(
        self,
        url: str,
        destination: Path,
        *,
        progress: ProgressCallback | None = None,
        max_bytes: int | None = None,
    ) -> int:
        """Stream a signed URL into ``destination`` (constant memory) and return its size.

        Retried like any safe request; each attempt starts the file afresh. More than
        ``max_bytes`` is refused at once, so a runaway answer cannot fill the disk; the
        whole download, retries included, ends by ``download_deadline_s``.
        """
        what = "downloading the code"
        deadline = Deadline(
            self._network.download_deadline_s, self._network.DOWNLOAD_DEADLINE_SETTING
        )
        for attempt in range(1, self._max_attempts + 1):
            try:
                return self._download_once(url, destination, progress, what, max_bytes, deadline)
            except _Retry as retry:
                self._pause_or_fail(attempt, retry, what, deadline=deadline)
        raise AssertionError("unreachable")  # pragma: no cover

    def list_flows(self) -> list[dict[str, Any]]:
        """Return the environment's flows as Ganymede describes them (id, name, ...)."""
        what = "listing the flows"
        response = self._request("GET", f"/v2/environment/{self._quoted_env}/flows", what)
        try:
            flows = response.json()
        except ValueError:
            flows = None
        if not isinstance(flows, list):
            raise ApiError(f"{self._where(what)}: Ganymede answered something that is not a list")
        return flows

    def get_flow(self, flow: str) -> Any:
        """Return one flow's document (``FlowV2``: pipeline, settings, version) as parsed JSON."""
        what = f"reading flow '{flow}'"
        path = f"/v2/environment/{self._quoted_env}/flows/{quote(flow, safe='')}"
        return self._json(self._request("GET", path, what, flow=flow), what)

    def create_flow(self, name: str, *, author_email: str) -> Any:
        """Create an empty flow named ``name``; return Ganymede's ``Flow`` (its id)."""
        what = f"creating flow '{name}'"
        body = {"name": name, "authorEmail": author_email}
        path = f"/v1/environment/{self._quoted_env}/flows"
        answer = self._request("POST", path, what, json=body, repeatable=False)
        return self._json(answer, what)

    def update_pipeline(self, flow: str, tasks: dict[str, Any], *, author_email: str) -> Any:
        """Replace ``flow``'s task map (a total replacement, as the API defines it).

        Sending the same map twice leaves the same pipeline, so it is safe to repeat.
        """
        what = f"updating the pipeline of flow '{flow}'"
        path = f"/v1/environment/{self._quoted_env}/flows/{quote(flow, safe='')}/pipeline"
        body = {"tasks": tasks, "authorEmail": author_email}
        return self._json(self._request("PUT", path, what, json=body, flow=flow), what)

    def update_settings(self, flow: str, settings: dict[str, Any]) -> Any:
        """Update the given settings of ``flow`` (a partial update: safe to repeat)."""
        what = f"updating the settings of flow '{flow}'"
        path = f"/v1/environment/{self._quoted_env}/flows/{quote(flow, safe='')}/settings"
        return self._json(self._request("PATCH", path, what, json=settings, flow=flow), what)

    def flow_inputs(self, flow: str) -> Any:
        """Return the inputs a run of ``flow`` needs (``FlowInputSchema`` records)."""
        what = f"reading the inputs of flow '{flow}'"
        path = f"/v1/environment/{self._quoted_env}/flows/{quote(flow, safe='')}/inputs"
        return self._json(self._request("GET", path, what, flow=flow), what)

    def trigger_flow(self, flow: str, inputs: list[dict[str, str]], *, dry_run: bool) -> str:
        """Start a run of ``flow`` (or only check its inputs: ``dry_run``); return its id.

        Never repeated when its fate is unknown: a repeat could start a second run.
        """
        what = f"checking the inputs of flow '{flow}'" if dry_run else f"triggering flow '{flow}'"
        path = f"/v1/environment/{self._quoted_env}/flows/{quote(flow, safe='')}/trigger"
        body = {"flowInputs": inputs, "dry_run": dry_run}
        answer = self._json(
            self._request("POST", path, what, json=body, flow=flow, repeatable=dry_run), what
        )
        if not isinstance(answer, str):
            raise ApiError(f"{self._where(what)}: Ganymede answered no run id")
        return answer

    def flow_run(self, flow: str, run_id: str) -> Any:
        """Return one run of ``flow`` (``FlowRun``)."""
        what = f"reading run {run_id} of flow '{flow}'"
        path = (
            f"/v1/environment/{self._quoted_env}/flows/{quote(flow, safe='')}"
            f"/flowruns/{quote(run_id, safe='')}"
        )
        return self._json(self._request("GET", path, what, flow=flow), what)

    def flow_runs(self, flow: str, *, since_ms: int | None = None) -> Any:
        """Return the runs of ``flow``, newest first (those since ``since_ms``, epoch ms)."""
        what = f"listing the runs of flow '{flow}'"
        path = f"/v2/environment/{self._quoted_env}/flows/{quote(flow, safe='')}/flowruns"
        params = {"runAfter": str(since_ms)} if since_ms is not None else None
        return self._json(self._request("GET", path, what, params=params, flow=flow), what)

    def put_commits(
        self, file_map: dict[str, str], *, author_email: str, message: str, dry_run: bool = False
    ) -> str:
        """Send base64 file contents as one Ganymede commit (or validate them: ``dry_run``).

        Returns Ganymede's answer text. Retried only when the request never arrived.
        """
        body = {
            "fileMap": file_map,
            "authorEmail": author_email,
            "message": message,
            "dry_run": dry_run,
        }
        what = "the dry run of the deploy" if dry_run else "the deploy"
        response = self._request("PUT", self._path("commits"), what, json=body, repeatable=False)
        return response.text

    def _json(self, response: Answer, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                f"{self._where(what)}: Ganymede answered something that is not JSON"
            ) from None

    # --- requests, retries and errors --------------------------------------------
    @property
    def _quoted_env(self) -> str:
        return quote(self.environment, safe="")

    def _path(self, operation: str) -> str:
        return f"/v0/environment/{self._quoted_env}/{operation}"

    def _http_client(self, headers: dict[str, str], *, keep_alive: bool) -> httpx.Client:
        """An httpx client with our timeouts, no redirects and the shared SSL context:
        with one kept-alive connection (``keep_alive``), or a connection per exchange."""
        limits = (
            httpx.Limits(max_connections=1, max_keepalive_connections=1)
            if keep_alive
            else httpx.Limits(max_keepalive_connections=0)
        )
        return httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 10.0)),
            follow_redirects=False,
            transport=self._transport,
            verify=default_ssl_context(),
            limits=limits,
        )

    @contextmanager
    def _watched(self, seconds: float, kept: KeptConnection | None = None) -> Iterator[Watchdog]:
        """A watchdog for one exchange, known to ``cut_exchanges`` while it runs."""
        with Watchdog(seconds, kept) as watchdog:
            with self._lock:
                self._in_flight.add(watchdog)
            try:
                yield watchdog
            finally:
                with self._lock:
                    self._in_flight.discard(watchdog)

    def _kept_alive(self) -> tuple[httpx.Client, KeptConnection | None]:
        """This thread's API client with its one kept-alive connection, made on first use.

        A pull reads hundreds of flow documents from a pool of threads: a connection
        each, kept for the next, spares as many TCP and TLS handshakes. One connection
        per client and one client per thread lets the watchdog know which socket an
        exchange uses (``KeptConnection``). A transport given by the caller keeps its
        own connections: then every exchange goes through the one API client.
        """
        if self._transport is not None:
            return self._api, None
        mine: tuple[httpx.Client, KeptConnection] | None = getattr(self._per_thread, "api", None)
        if mine is None:
            headers = _API_HEADERS | {"api-key": self._token}
            mine = self._http_client(headers, keep_alive=True), KeptConnection()
            self._keep_for_this_thread(mine[0])
            self._per_thread.api = mine
        return mine

    def _keep_for_this_thread(self, client: httpx.Client) -> None:
        """Hold ``client`` until ``close``, and close those of threads that have ended:
        a long-lived client holds at most one connection per live thread."""
        with self._lock:
            kept = self._kept_clients
            ended = [held for thread, held in kept if not thread.is_alive()]
            self._kept_clients = [(thread, held) for thread, held in kept if thread.is_alive()]
            self._kept_clients.append((threading.current_thread(), client))
        for held in ended:
            held.close()

    def _request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: dict[str, str] | None = None,
        json: object = None,
        flow: str | None = None,
        repeatable: bool = True,
    ) -> Answer:
        """Send one API call with retries; return a 200-class answer or raise ApiError."""
        deadline = Deadline(
            self._network.request_deadline_s, self._network.REQUEST_DEADLINE_SETTING
        )
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = self._send_following(
                    method, path, what, deadline, params=params, json=json, repeatable=repeatable
                )
            except _DeadlinePassed:
                if not repeatable:
                    raise self._uncertain(deadline.describe(), what) from None
                raise ApiError(f"{self._where(what)}: {deadline.describe()}") from None
            except _NEVER_SENT as error:
                retry = _Retry(self._network_problem(error))
                self._pause_or_fail(attempt, retry, what, deadline=deadline)
                continue
            except httpx.TransportError as error:
                if not repeatable:
                    raise self._uncertain(self._network_problem(error), what) from None
                retry = _Retry(self._network_problem(error))
                self._pause_or_fail(attempt, retry, what, deadline=deadline)
                continue
            if response.is_success:
                return response
            answered = self._retry_for(response, repeatable)
            if answered is None:
                raise self._status_error(response, what, flow=flow, repeatable=repeatable)
            self._pause_or_fail(
                attempt, answered, what, response=response, flow=flow, deadline=deadline
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_following(
        self, method: str, path: str, what: str, deadline: Deadline, **kwargs: Any
    ) -> Answer:
        """Send a request, following redirects by hand, only inside the API origin.

        httpx would forward our custom header to any host a redirect names; a
        redirect elsewhere is refused instead, so the token never leaves the API host.
        """
        url = self.base_url + path
        for _ in range(MAX_REDIRECTS + 1):
            response = self._exchange(method, url, what, deadline, **kwargs)
            if not response.is_redirect:
                return response
            target = _join(url, response.headers.get("location", ""))
            if origin(target) != origin(self.base_url):
                raise ApiError(
                    f"{self._where(what)}: the API redirected to {origin(target)}, another "
                    f"host, and the token is only ever sent to {origin(self.base_url)}: check "
                    f"{API_URL_VARIABLE} (or api_url in ganymede.toml)",
                    status=response.status_code,
                )
            url, kwargs["params"] = target, None
        raise ApiError(f"{self._where(what)}: too many redirects: check {API_URL_VARIABLE}")

    def _exchange(
        self,
        method: str,
        url: str,
        what: str,
        deadline: Deadline,
        *,
        repeatable: bool,
        **kwargs: Any,
    ) -> Answer:
        """Send one API request and read its answer, bounded in time and in size.

        Only a request safe to repeat rides a kept-alive connection: one the server
        closed meanwhile fails it before anything is read, and it is then sent again.
        One that must not arrive twice opens a connection of its own.
        """
        client, kept = self._kept_alive() if repeatable else (self._api, None)
        with self._watched(deadline.remaining(), kept) as watchdog:
            try:
                request = client.build_request(
                    method,
                    url,
                    timeout=self._timeouts(deadline),
                    extensions={"trace": watchdog.trace},
                    **kwargs,
                )
                response = client.send(request, stream=True)
                try:
                    content = _read_answer(response)
                finally:
                    response.close()
            except AnswerProblem as problem:
                hint = _ANSWER_HINTS[problem.suspect]
                raise ApiError(f"{self._where(what)}: {problem.problem}", hint=hint) from None
            except httpx.TransportError:
                if watchdog.expired:
                    raise _DeadlinePassed from None
                raise
            except _HTTPX_OTHER_ERRORS as error:
                raise ApiError(f"{self._where(what)}: {_httpx_problem(error)}") from None
        return Answer(response.status_code, response.headers, content, url)

    def _timeouts(self, deadline: Deadline) -> httpx.Timeout:
        """This attempt's timeouts: the usual ones, never past the overall deadline."""
        left = max(0.001, deadline.remaining())
        return httpx.Timeout(min(self._timeout, left), connect=min(self._timeout, 10.0, left))

    def _download_once(
        self,
        url: str,
        destination: Path,
        progress: ProgressCallback | None,
        what: str,
        max_bytes: int | None,
        deadline: Deadline,
    ) -> int:
        if deadline.remaining() <= 0:
            raise ApiError(f"{self._where(what)}: {deadline.describe()}")
        written = 0
        total: int | None = 0
        with self._watched(deadline.remaining()) as watchdog:
            try:
                with self._open_download(url, what, deadline, watchdog) as response:
                    total = _content_length(response)
                    self._refuse_oversize(total or 0, max_bytes, what)
                    with destination.open("wb") as handle:
                        # Raw bytes: the archive is accepted only without Content-Encoding.
                        for chunk in response.iter_raw():
                            handle.write(chunk)
                            written += len(chunk)
                            self._refuse_oversize(written, max_bytes, what)
                            if progress:
                                progress(min(written, total) if total else written, total)
            except RefusedAddress as refused:
                raise ApiError(self._unsafe_link(refused.origin, refused.reason, what)) from None
            except httpx.TransportError as error:
                if watchdog.expired:
                    raise ApiError(f"{self._where(what)}: {deadline.describe()}") from None
                raise _Retry(self._network_problem(error, host=origin(url))) from None
            except _HTTPX_OTHER_ERRORS as error:
                raise ApiError(f"{self._where(what)}: {_httpx_problem(error)}") from None
        if total is not None and written != total:
            raise _Retry(f"the download stopped after {written} of {total} bytes")
        return written

    @contextmanager
    def _open_download(
        self, url: str, what: str, deadline: Deadline, watchdog: Watchdog
    ) -> Iterator[httpx.Response]:
        """Yield the archive's answer, following at most ``MAX_REDIRECTS`` checked redirects.

        Every hop must pass the signed-link rule; an error answer is never quoted, as
        it comes from a storage host, not from Ganymede.
        """
        for _ in range(MAX_REDIRECTS + 1):
            problem = link_problem(url, self.base_url)
            if problem:
                raise ApiError(self._unsafe_link(origin(url), problem, what))
            watchdog.check_peer(url, self.base_url)
            request = self._plain.build_request(
                "GET", url, timeout=self._timeouts(deadline), extensions={"trace": watchdog.trace}
            )
            response = self._plain.send(request, stream=True)
            try:
                if response.is_redirect:
                    url = _join(url, response.headers.get("location", ""))
                    continue
                if not response.is_success:
                    retry = self._retry_for(response, repeatable=True)
                    if retry is None:
                        raise self._download_error(response, what)
                    raise _Retry(retry.reason, retry.wait)
                encoding = response.headers.get("content-encoding", "").strip().lower()
                if encoding not in ("", "identity"):
                    raise ApiError(
                        f"{self._where(what)}: the storage host sent the archive with "
                        f"Content-Encoding '{printable(encoding)[:40]}', and only the plain "
                        "archive is accepted: try again later, or check for a proxy that "
                        "rewrites downloads"
                    )
                yield response
                return
            finally:
                response.close()
        raise ApiError(
            f"{self._where(what)}: the download link redirected more than {MAX_REDIRECTS} "
            "times: run the pull again later"
        )

    def _unsafe_link(self, origin: str, reason: str, what: str) -> str:
        return (
            f"{self._where(what)}: the download link Ganymede gave points to {origin}, "
            f"{reason}; only https links to public addresses are followed: check that "
            f"{API_URL_VARIABLE} is Ganymede's API"
        )

    def _refuse_oversize(self, size: int, max_bytes: int | None, what: str) -> None:
        if max_bytes is not None and size > max_bytes:
            setting = ArchiveLimits.TOTAL_SETTING
            raise LimitExceeded(
                f"{self._where(what)}: the archive is over the {max_bytes}-byte limit",
                hint=f"raise {setting} only if this environment really holds that much code",
                limit=max_bytes,
                setting=setting,
            )

    def _retry_for(self, response: Answer | httpx.Response, repeatable: bool) -> _Retry | None:
        """Return how to retry an error answer, or None when retrying cannot help."""
        allowed = _RETRY_STATUSES if repeatable else _PUT_RETRY_STATUSES
        if response.status_code not in allowed:
            return None
        wait = _retry_after(response.headers)
        if isinstance(response, Answer):
            return _Retry(f"Ganymede answered {response.status_code}", wait, response)
        return _Retry(f"the storage host answered {response.status_code}", wait)

    def _pause_or_fail(
        self,
        attempt: int,
        retry: _Retry,
        what: str,
        *,
        deadline: Deadline,
        response: Answer | None = None,
        flow: str | None = None,
    ) -> None:
        """Sleep before the next attempt, or raise once the attempts or the time are used up."""
        response = response or retry.response
        delay = retry.wait
        if delay is None:
            delay = min(_MAX_DELAY, self._backoff * 2 ** (attempt - 1))
            delay *= random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not security
        no_time = delay >= deadline.remaining()
        if attempt >= self._max_attempts or (retry.wait or 0) > MAX_RETRY_AFTER or no_time:
            if response is not None:
                raise self._status_error(response, what, flow=flow, attempts=attempt)
            raise ApiError(
                f"{self._where(what)}: {retry.reason}{_after(attempt)}: check "
                f"your network and {API_URL_VARIABLE}, or try again later"
            )
        logger.info("%s: %s; retrying in %.1fs", what, retry.reason, delay)
        self._sleep(delay)

    def _status_error(
        self,
        response: Answer,
        what: str,
        *,
        flow: str | None = None,
        attempts: int = 1,
        repeatable: bool = True,
    ) -> ApiError:
        status = response.status_code
        said = self._ganymede_said(response)
        where = self._where(what)
        if status in (401, 403):
            return AuthenticationError(
                f"{where}: Ganymede refused the token ({status}): check that "
                f"{TOKEN_VARIABLE} is the API token of environment '{self.environment}'{said}",
                status=status,
            )
        if status == 404:
            names = f"environment '{self.environment}'" + (f" or flow '{flow}'" if flow else "")
            return ApiError(
                f"{where}: Ganymede does not know {names} (404): check the environment name "
                f"(ganymede.toml or {ENVIRONMENT_VARIABLE}){' and the flow name' if flow else ''}"
                f"{said}",
                status=status,
            )
        if not repeatable and status in (502, 504):
            return UncertainDeliveryError(
                f"{where}: a gateway answered {status}, so Ganymede may or may not have "
                f"applied it: pull first to see what arrived, then deploy again if needed{said}",
                status=status,
            )
        if status == 400 and "authoremail" in response.text.lower():
            return ApiError(
                f"{where}: Ganymede refused the author (400): give the e-mail of a user of "
                f"environment '{self.environment}' with --author-email or "
                f"GANYMEDE_AUTHOR_EMAIL (default: the author of HEAD){said}",
                status=status,
            )
        if status == 422:
            return ApiError(
                f"{where}: Ganymede refused it (422): use only operators (node types) that "
                f"environment '{self.environment}' has{said}",
                status=status,
            )
        hint = "try again later" if status >= 500 or status == 429 else "check the request"
        return ApiError(
            f"{where}: Ganymede answered {status}{_after(attempts)}: {hint}{said}", status=status
        )

    def _download_error(self, response: httpx.Response, what: str) -> ApiError:
        """Explain a refused download; the storage host's own text is never shown."""
        status = response.status_code
        hint = (
            "the signed link expired or was refused: run the pull again (and check this "
            "computer's clock)"
            if status in (401, 403, 404, 410)
            else "try again later"
        )
        return ApiError(
            f"{self._where(what)}: the storage host {origin(str(response.request.url))} "
            f"answered {status}: {hint}",
            status=status,
        )

    def _uncertain(self, problem: str, what: str) -> UncertainDeliveryError:
        return UncertainDeliveryError(
            f"{self._where(what)}: {problem} after the request was sent, "
            "so Ganymede may or may not have applied it: pull first to see what arrived, "
            "then deploy again if needed"
        )

    def _network_problem(self, error: httpx.TransportError, *, host: str | None = None) -> str:
        kind = {
            httpx.ConnectError: "could not connect",
            httpx.ConnectTimeout: "connecting timed out",
            httpx.ReadTimeout: "the answer timed out",
            httpx.WriteTimeout: "sending timed out",
            httpx.PoolTimeout: "no connection was free in time",
            httpx.ReadError: "reading the answer failed",
            httpx.WriteError: "sending the request failed",
            httpx.RemoteProtocolError: "the connection was dropped or garbled",
            httpx.LocalProtocolError: "the request could not be sent",
            httpx.UnsupportedProtocol: "the address is not http(s)",
            httpx.ProxyError: "the proxy refused the connection",
        }.get(type(error), "the connection failed")
        return f"{kind} to {host or origin(self.base_url)}"

    def _ganymede_said(self, response: Answer) -> str:
        """Quote the API's own answer: one line, printable, short, without secrets."""
        text = printable(self._redact(" ".join(response.text.split())))
        if not text:
            return ""
        if len(text) > _BODY_LIMIT:
            text = text[: _BODY_LIMIT - 3] + "..."
        return f". Ganymede said: {text}"

    def _redact(self, text: str) -> str:
        text = _SIGNED_QUERY.sub(r"\1?<signature removed>", text)
        return text.replace(self._token, "<token>") if self._token else text

    def _where(self, what: str) -> str:
        return f"{what} in environment '{self.environment}' failed"

    def _parse_signed_url(self, body: str, what: str) -> str:
        text: object = body.strip()
        if isinstance(text, str) and text.startswith('"'):
            try:
                text = json.loads(text)
            except ValueError:
                text = None
        if isinstance(text, str) and text.startswith("/"):
            text = self.base_url + text
        if not isinstance(text, str) or not re.match(r"^https?://\S+$", text):
            raise ApiError(
                f"{self._where(what)}: Ganymede answered something that is not a download "
                f"link: check {API_URL_VARIABLE} points at the Ganymede API"
            )
        return text


@dataclass(frozen=True)
class Answer:
    """An API answer read whole (within ``MAX_ANSWER_BYTES``) and decompressed."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    url: str

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def is_redirect(self) -> bool:
        return self.status_code in (301, 302, 303, 307, 308) and "location" in self.headers

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.text)


_ANSWER_HINTS = {
    "address": f"check {API_URL_VARIABLE}",
    "address and proxy": f"check {API_URL_VARIABLE} and any proxy in between",
    "server": "try again later",
}
"""What to do about an unreadable answer, by what ``limits`` suspects."""


class _Retry(Exception):
    """A failed attempt worth repeating, with the server's requested wait if any."""

    def __init__(self, reason: str, wait: float | None = None, response: Answer | None = None):
        super().__init__(reason)
        self.reason = reason
        self.wait = wait
        self.response = response


class _DeadlinePassed(Exception):
    """The watchdog cut an API exchange at its deadline."""


_HTTPX_OTHER_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError)
"""httpx errors that are not transport failures (decoding, redirects, bad URLs)."""


def _httpx_problem(error: Exception) -> str:
    """One line for an httpx error that retrying cannot fix; never the URL's query."""
    if isinstance(error, httpx.InvalidURL):
        return f"the address is not a valid URL: check {API_URL_VARIABLE}"
    if isinstance(error, httpx.DecodingError):
        return "the answer could not be decoded: try again later"
    if isinstance(error, httpx.TooManyRedirects):
        return f"more than {MAX_REDIRECTS} redirects: check {API_URL_VARIABLE}"
    return f"the exchange failed ({type(error).__name__}): try again later"


def _read_answer(response: httpx.Response) -> bytes:
    """Read an API answer within ``MAX_ANSWER_BYTES``, decompressed (raises AnswerProblem)."""
    if response.is_stream_consumed:  # made in memory by a test transport: already bounded
        return response.content
    encoding = response.headers.get("content-encoding", "")
    return read_capped(encoding, response.iter_raw(), MAX_ANSWER_BYTES)


def _after(attempts: int) -> str:
    return f" after {attempts} attempts" if attempts > 1 else ""


def _retry_after(headers: httpx.Headers) -> float | None:
    """Return the seconds a 429/503 asks to wait, when given as a number."""
    value = headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    return int(value) if value and value.isdigit() else None


def _join(base: str, location: str) -> str:
    """Resolve a redirect's Location; a malformed one becomes a URL every check refuses."""
    try:
        return urljoin(base, location)
    except ValueError:
        return "invalid:"


ClientFactory = Callable[[Settings, Environment], GanymedeClient]
"""How the runners get their client: ``open_client``, or a test's own (no real waiting)."""


def open_client(settings: Settings, environment: Environment, **options: Any) -> GanymedeClient:
    """Return the API client of ``environment`` (the token is checked before any request).

    ``options`` are ``GanymedeClient``'s own (timeouts, retries, ``sleep``).
    """
    token = settings.require_token(environment)
    options.setdefault("network", settings.network)
    return GanymedeClient(settings.api_url, token, environment.name, **options)
