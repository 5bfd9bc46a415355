"""Fault injection of the emulator: failures that tests ask for, each firing N times.

A fault has a kind, an endpoint it applies to and a count; every time a request of that
endpoint reaches the point where the fault acts, one firing is used up, and the fault
disappears after its last one. This module only keeps and validates faults; the server
decides what each kind does to a response.

Kinds and parameters:

- ``error`` (``status`` = 500, ``body`` = the status's reason phrase): answer that status.
- ``rate_limit`` (``retry_after`` = 1): answer 429 with a ``Retry-After`` header (seconds).
- ``slow`` (``seconds`` = 2): wait before handling the request normally.
- ``redirect`` (``location``, required absolute URL): answer 307 to that location.
- ``truncate`` (``after_bytes`` = 100): the download announces its full length, then the
  connection closes after that many bytes.
- ``archive`` (``data``, bytes): the download serves these bytes as the ZIP.
- ``expire_url``: the commits endpoint issues a signed URL that has already expired.
- ``drop_after_apply``: the PUT is applied, then the connection closes without an answer.
- ``hang_run``: the run the trigger starts never ends (it stays Running).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

ENDPOINTS = (
    "commits_get", "commits_put", "download", "flows", "flow", "flow_create", "flow_pipeline",
    "flow_settings", "flow_inputs", "flow_trigger", "flow_run", "flow_runs",
)  # fmt: skip
BEFORE_HANDLING = frozenset({"error", "rate_limit", "slow", "redirect"})
"""Kinds that act before the request is handled, on any endpoint."""
_ONLY_ON = {
    "truncate": "download",
    "archive": "download",
    "expire_url": "commits_get",
    "drop_after_apply": "commits_put",
    "hang_run": "flow_trigger",
}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "error": {"status": 500, "body": None},
    "rate_limit": {"retry_after": 1},
    "slow": {"seconds": 2.0},
    "redirect": {},
    "truncate": {"after_bytes": 100},
    "archive": {},
    "expire_url": {},
    "drop_after_apply": {},
    "hang_run": {},
}
_REQUIRED = {"redirect": "location", "archive": "data"}
KINDS = tuple(_DEFAULTS)


@dataclass
class Fault:
    """One injected fault and how many more times it fires."""

    kind: str
    count: int = 1
    endpoint: str = "any"
    params: dict[str, Any] = field(default_factory=dict)

    def applies_to(self, endpoint: str) -> bool:
        """Tell whether this fault can act on a request of ``endpoint``."""
        natural = _ONLY_ON.get(self.kind)
        if natural is not None and natural != endpoint:
            return False
        return self.endpoint in ("any", endpoint)


def make_fault(kind: str, count: int = 1, endpoint: str = "any", **params: Any) -> Fault:
    """Build a validated fault, or raise ValueError naming the bad field."""
    if kind not in _DEFAULTS:
        raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(KINDS)}")
    if endpoint != "any" and endpoint not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {endpoint!r}; use any, {', '.join(ENDPOINTS)}")
    natural = _ONLY_ON.get(kind)
    if natural is not None and endpoint not in ("any", natural):
        raise ValueError(f"fault {kind!r} only applies to endpoint {natural!r}")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError("count must be a positive integer")
    unknown = set(params) - set(_DEFAULTS[kind]) - {_REQUIRED.get(kind)}
    if unknown:
        raise ValueError(f"fault {kind!r} takes no parameter {sorted(unknown)[0]!r}")
    required = _REQUIRED.get(kind)
    if required and required not in params:
        raise ValueError(f"fault {kind!r} needs the parameter {required!r}")
    merged = {**_DEFAULTS[kind], **params}
    _check_types(kind, merged)
    return Fault(kind, count, endpoint, merged)


def _check_types(kind: str, params: dict[str, Any]) -> None:
    numbers = {"status", "retry_after", "seconds", "after_bytes"}
    for name, value in params.items():
        if name in numbers and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"fault {kind!r}: {name} must be a number")
    if kind == "error" and not 400 <= int(params["status"]) <= 599:
        raise ValueError("fault 'error': status must be between 400 and 599")
    if kind == "error" and not isinstance(params["body"], (str, type(None))):
        raise ValueError("fault 'error': body must be text")
    if kind == "archive" and not isinstance(params["data"], bytes):
        raise ValueError("fault 'archive': data must be bytes")
    if kind == "redirect" and not str(params["location"]).startswith(("http://", "https://")):
        raise ValueError("fault 'redirect': location must be an absolute http(s) URL")


class FaultRegistry:
    """The active faults of one emulator, safe to use from request threads."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        """Activate a fault; faults fire in the order they were added."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Remove every active fault."""
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        """Return a copy of the active faults."""
        with self._lock:
            return [Fault(f.kind, f.count, f.endpoint, dict(f.params)) for f in self._faults]

    def take(self, kinds: frozenset[str] | set[str], endpoint: str) -> Fault | None:
        """Use up one firing of the first fault of ``kinds`` that applies to ``endpoint``."""
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.applies_to(endpoint):
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    return fault
        return None
