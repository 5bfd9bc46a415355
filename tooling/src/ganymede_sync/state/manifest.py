"""The manifest of the last pull: ``.ganymede/<folder>.json``, committed with the code.

It records what Ganymede held when the environment folder was last pulled (repo
path -> sha256 of the content), so a deploy can tell a local edit from an edit made
in Ganymede since, and where it was pulled from (tenant and environment): the
target the folder is bound to. The JSON is deterministic (sorted keys, two-space indent, final
newline) and rewritten only when its content changes, so a pull that brings nothing
new leaves git clean.

Never reads archives, never touches git or the network, never prints.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ganymede_sync.errors import ManifestError

FORMAT_VERSION = 1
MANIFEST_MODE = 0o644


@dataclass(frozen=True)
class Manifest:
    """What the last pull that changed anything brought, and when."""

    environment: str
    """Ganymede environment name the files came from."""
    files: dict[str, str] = field(default_factory=dict)
    """Repository path -> sha256 hex of the content Ganymede held."""
    changed_at: str | None = None
    """UTC time (ISO 8601) of the last pull that changed the files."""
    flow: str | None = None
    """Flow that pull covered, or None when it covered every flow."""
    include_lib: bool = True
    """Whether that pull covered ``lib/``."""
    tenant: str | None = None
    """Ganymede tenant (subdomain) the files came from; None in manifests older than it."""
    flow_versions: dict[str, str] = field(default_factory=dict)
    """Flow id -> the version Ganymede listed when its flow file was pulled: a later read
    that lists the same version skips the flow's document (see ``remote.flows``)."""

    def to_json(self) -> str:
        """Serialise deterministically: the same manifest always gives the same bytes.

        The bytes are exactly those of ``json.dumps(..., indent=2, sort_keys=True,
        ensure_ascii=False)`` plus a newline, the format manifests in repositories
        already have. ``indent`` would force json's pure-Python encoder over tens of
        thousands of files, so the ``files`` block is encoded in one C-encoder call
        whose item separator carries the indentation.
        """
        lines = (
            f'  "changed_at": {_json(self.changed_at)}',
            f'  "environment": {_json(self.environment)}',
            f'  "files": {_files_json(self.files)}',
            f'  "flow": {_json(self.flow)}',
            *(
                [f'  "flow_versions": {_files_json(self.flow_versions)}']
                if self.flow_versions
                else []
            ),
            f'  "include_lib": {_json(self.include_lib)}',
            *([f'  "tenant": {_json(self.tenant)}'] if self.tenant is not None else []),
            f'  "version": {_json(FORMAT_VERSION)}',
        )
        return "{\n" + ",\n".join(lines) + "\n}\n"


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _files_json(files: dict[str, str]) -> str:
    """Encode ``files`` as ``indent=2`` would at the second level (keys sorted)."""
    if not files:
        return "{}"
    inner = json.dumps(files, ensure_ascii=False, sort_keys=True, separators=(",\n    ", ": "))
    return "{\n    " + inner[1:-1] + "\n  }"


def utc_now() -> str:
    """Return the current UTC time to the second, as manifests record it."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    return now.isoformat().replace("+00:00", "Z")


RESTORE_HINT = "restore it from git or delete it and pull again"


def load_manifest(path: Path) -> Manifest | None:
    """Read a manifest, or return None when there is none (no pull yet)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(
            f"{path.name} in {path.parent.name}/ is unreadable ({error})",
            hint=RESTORE_HINT,
            path=f"{path.parent.name}/{path.name}",
        ) from None
    return _from_data(data, path)


def _from_data(data: object, path: Path) -> Manifest:
    if not isinstance(data, dict):
        data = {}
    files = data.get("files")
    valid = isinstance(files, dict) and all(
        isinstance(key, str) and isinstance(value, str) for key, value in files.items()
    )
    if not isinstance(files, dict) or not valid or not isinstance(data.get("environment"), str):
        raise ManifestError(
            f"{path.name} in {path.parent.name}/ is not a pull manifest",
            hint=RESTORE_HINT,
            path=f"{path.parent.name}/{path.name}",
        )
    return Manifest(
        environment=data["environment"],
        files=dict(files),
        changed_at=data.get("changed_at"),
        flow=data.get("flow"),
        include_lib=bool(data.get("include_lib", True)),
        tenant=data["tenant"] if isinstance(data.get("tenant"), str) else None,
        flow_versions=_string_map(data.get("flow_versions")),
    )


def _string_map(value: object) -> dict[str, str]:
    """A str -> str map as read; anything else (an older or edited manifest) is empty."""
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def save_manifest(path: Path, manifest: Manifest) -> bool:
    """Write the manifest unless the file already holds exactly these bytes.

    Returns whether the file was written. The write goes through a temporary file
    and a rename, so a reader never sees half a manifest.
    """
    content = manifest.to_json().encode("utf-8")
    try:
        if path.read_bytes() == content:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        os.chmod(temporary, MANIFEST_MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True
