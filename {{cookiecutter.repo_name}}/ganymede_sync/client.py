"""HTTP client of Ganymede's API: the only module that imports httpx.

One ``GanymedeClient`` per environment, used as a context manager, with one method
per API operation. Retries live here and nowhere else: connection failures, 429
(honouring ``Retry-After``) and 5xx are retried with exponential backoff and jitter,
a bounded number of times, for requests that are safe to repeat. A PUT is repeated
only when it provably never reached Ganymede (no connection) or Ganymede said so
(429/503); when its fate is unknown it raises ``UncertainDeliveryError``.

Security rules: the ``api-key`` header goes only to the API origin. Redirects are
followed by hand and only within that origin; the signed-URL download is a separate
request without the header. No message ever holds the token or a signed URL's query.
Never prints, never touches files other than a download's destination.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import re
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from ganymede_sync.config import TOTAL_LIMIT_SETTING
from ganymede_sync.errors import ApiError, AuthenticationError, UncertainDeliveryError

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, "int | None"], None]
"""Called as ``progress(bytes_done, bytes_total_or_None)`` while a download runs."""

MAX_REDIRECTS = 5
MAX_RETRY_AFTER = 120.0
_MAX_DELAY = 30.0
_BODY_LIMIT = 300
_CHUNK = 1 << 16
_SIGNED_QUERY = re.compile(r"(https?://[^\s?\"']+)\?[^\s\"']*")
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_PUT_RETRY_STATUSES = frozenset({429, 503})
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


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
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.environment = environment
        self._token = token
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff
        self._sleep = sleep
        timeouts = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self._api = httpx.Client(
            base_url=self.base_url,
            headers={"api-key": token, "accept": "application/json, text/plain"},
            timeout=timeouts,
            follow_redirects=False,
            transport=transport,
            verify=default_ssl_context(),
        )
        # No api-key here: signed URLs live on another host and carry their own signature.
        self._plain = httpx.Client(
            timeout=timeouts,
            follow_redirects=True,
            transport=transport,
            verify=default_ssl_context(),
        )

    def __enter__(self) -> GanymedeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close both connection pools."""
        self._api.close()
        self._plain.close()

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
        ``max_bytes`` is refused at once, so a runaway answer cannot fill the disk.
        """
        what = "downloading the code"
        for attempt in range(1, self._max_attempts + 1):
            try:
                return self._download_once(url, destination, progress, what, max_bytes)
            except _Retry as retry:
                self._pause_or_fail(attempt, retry, what)
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

    # --- requests, retries and errors --------------------------------------------
    @property
    def _quoted_env(self) -> str:
        return quote(self.environment, safe="")

    def _path(self, operation: str) -> str:
        return f"/v0/environment/{self._quoted_env}/{operation}"

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
    ) -> httpx.Response:
        """Send one API call with retries; return a 200-class answer or raise ApiError."""
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = self._send_following(method, path, what, params=params, json=json)
            except _NEVER_SENT as error:
                self._pause_or_fail(attempt, _Retry(self._network_problem(error)), what)
                continue
            except httpx.TransportError as error:
                if not repeatable:
                    raise self._uncertain(error, what) from None
                self._pause_or_fail(attempt, _Retry(self._network_problem(error)), what)
                continue
            if response.is_success:
                return response
            retry = self._retry_for(response, repeatable)
            if retry is None:
                raise self._status_error(response, what, flow=flow, repeatable=repeatable)
            self._pause_or_fail(attempt, retry, what, response=response, flow=flow)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_following(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        """Send a request, following redirects by hand, only inside the API origin.

        httpx would forward our custom header to any host a redirect names; a
        redirect elsewhere is refused instead, so the token never leaves the API host.
        """
        url = self.base_url + path
        for _ in range(MAX_REDIRECTS + 1):
            response = self._api.request(method, url, **kwargs)
            if not response.is_redirect:
                return response
            target = urljoin(url, response.headers.get("location", ""))
            if _origin(target) != _origin(self.base_url):
                raise ApiError(
                    f"{self._where(what)}: the API redirected to {_origin(target)}, another "
                    f"host, and the token is only ever sent to {_origin(self.base_url)}: check "
                    "GANYMEDE_API_URL (or api_url in ganymede.toml)",
                    status=response.status_code,
                )
            url, kwargs["params"] = target, None
        raise ApiError(f"{self._where(what)}: too many redirects: check GANYMEDE_API_URL")

    def _download_once(
        self,
        url: str,
        destination: Path,
        progress: ProgressCallback | None,
        what: str,
        max_bytes: int | None,
    ) -> int:
        written = 0
        try:
            with self._plain.stream("GET", url) as response:
                if not response.is_success:
                    response.read()
                    retry = self._retry_for(response, repeatable=True)
                    if retry is None:
                        raise self._download_error(response, what)
                    raise retry
                total = _content_length(response)
                self._refuse_oversize(total or 0, max_bytes, what)
                with destination.open("wb") as handle:
                    for chunk in response.iter_bytes(_CHUNK):
                        handle.write(chunk)
                        written += len(chunk)
                        self._refuse_oversize(written, max_bytes, what)
                        if progress:
                            progress(written, total)
        except httpx.TransportError as error:
            raise _Retry(self._network_problem(error, host=_origin(url))) from None
        received = response.num_bytes_downloaded
        if total is not None and received != total:
            raise _Retry(f"the download stopped after {received} of {total} bytes")
        return written

    def _refuse_oversize(self, size: int, max_bytes: int | None, what: str) -> None:
        if max_bytes is not None and size > max_bytes:
            raise ApiError(
                f"{self._where(what)}: the archive is over the {max_bytes}-byte limit: raise "
                f"{TOTAL_LIMIT_SETTING} only if this environment really holds that much code"
            )

    def _retry_for(self, response: httpx.Response, repeatable: bool) -> _Retry | None:
        """Return how to retry an error answer, or None when retrying cannot help."""
        allowed = _RETRY_STATUSES if repeatable else _PUT_RETRY_STATUSES
        if response.status_code not in allowed:
            return None
        return _Retry(f"Ganymede answered {response.status_code}", _retry_after(response), response)

    def _pause_or_fail(
        self,
        attempt: int,
        retry: _Retry,
        what: str,
        *,
        response: httpx.Response | None = None,
        flow: str | None = None,
    ) -> None:
        """Sleep before the next attempt, or raise once the attempts are used up."""
        response = response or retry.response
        if attempt >= self._max_attempts or (retry.wait or 0) > MAX_RETRY_AFTER:
            if response is not None:
                raise self._status_error(response, what, flow=flow, attempts=attempt)
            raise ApiError(
                f"{self._where(what)}: {retry.reason}{_after(attempt)}: check "
                "your network and GANYMEDE_API_URL, or try again later"
            )
        delay = retry.wait
        if delay is None:
            delay = min(_MAX_DELAY, self._backoff * 2 ** (attempt - 1))
            delay *= random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not security
        logger.info("%s: %s; retrying in %.1fs", what, retry.reason, delay)
        self._sleep(delay)

    def _status_error(
        self,
        response: httpx.Response,
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
                f"GANYMEDE_API_TOKEN is the API token of environment '{self.environment}'{said}",
                status=status,
            )
        if status == 404:
            names = f"environment '{self.environment}'" + (f" or flow '{flow}'" if flow else "")
            return ApiError(
                f"{where}: Ganymede does not know {names} (404): check the environment name "
                f"(ganymede.toml or GANYMEDE_ENVIRONMENT){' and the flow name' if flow else ''}"
                f"{said}",
                status=status,
            )
        if not repeatable and status in (502, 504):
            return UncertainDeliveryError(
                f"{where}: a gateway answered {status}, so Ganymede may or may not have "
                f"applied it: pull first to see what arrived, then deploy again if needed{said}",
                status=status,
            )
        hint = "try again later" if status >= 500 or status == 429 else "check the request"
        return ApiError(
            f"{where}: Ganymede answered {status}{_after(attempts)}: {hint}{said}", status=status
        )

    def _download_error(self, response: httpx.Response, what: str) -> ApiError:
        status = response.status_code
        hint = (
            "the signed link expired or was refused: run the pull again (and check this "
            "computer's clock)"
            if status in (401, 403, 404, 410)
            else "try again later"
        )
        return ApiError(
            f"{self._where(what)}: the storage host {_origin(str(response.request.url))} "
            f"answered {status}: {hint}{self._ganymede_said(response)}",
            status=status,
        )

    def _uncertain(self, error: httpx.TransportError, what: str) -> UncertainDeliveryError:
        return UncertainDeliveryError(
            f"{self._where(what)}: {self._network_problem(error)} after the request was sent, "
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
            httpx.RemoteProtocolError: "the connection was dropped",
        }.get(type(error), "the connection failed")
        return f"{kind} to {host or _origin(self.base_url)}"

    def _ganymede_said(self, response: httpx.Response) -> str:
        text = self._redact(" ".join(response.text.split()))
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
                "link: check GANYMEDE_API_URL points at the Ganymede API"
            )
        return text


class _Retry(Exception):
    """A failed attempt worth repeating, with the server's requested wait if any."""

    def __init__(
        self, reason: str, wait: float | None = None, response: httpx.Response | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait
        self.response = response


def _after(attempts: int) -> str:
    return f" after {attempts} attempts" if attempts > 1 else ""


def _retry_after(response: httpx.Response) -> float | None:
    """Return the seconds a 429/503 asks to wait, when given as a number."""
    value = response.headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    return int(value) if value and value.isdigit() else None


def _origin(url: str) -> str:
    """Return scheme://host:port of a URL, the part a message may show."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{parts.hostname}:{port}"
