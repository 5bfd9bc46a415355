"""The plain ways to do each job that our code is compared with.

`unzip -q`, `zipfile.extractall`, a plain streamed HTTP download, the steps of
Ganymede's official pull action (`official_pull.sh`: curl, unzip, a shell walk that
mirrors deletions, `cp -r`), and a one-pass payload (read, base64, one `json.dumps`):
what a careful script would do with no validation, no manifest and no safety net.
Standard library, bash, curl and `unzip` only, so they run even before our own code
exists.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable
from pathlib import Path

CHUNK = 1024 * 1024
OFFICIAL_PULL = Path(__file__).with_name("official_pull.sh")


def snapshot_url(api_url: str, token: str, environment: str) -> str:
    """Ask the API for the signed URL of the full snapshot (bare or JSON-quoted)."""
    query = urllib.parse.urlencode({"includeLibFiles": "true"})
    request = urllib.request.Request(  # noqa: S310 - the emulator's http URL
        f"{api_url}/v0/environment/{environment}/commits?{query}", headers={"api-key": token}
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310
        body = response.read().decode().strip()
    return json.loads(body) if body.startswith('"') else body


def download(url: str, destination: Path) -> int:
    """Stream `url` to `destination` in 1 MiB chunks; return the bytes written."""
    with urllib.request.urlopen(url) as response, destination.open("wb") as out:  # noqa: S310
        shutil.copyfileobj(response, out, CHUNK)
        return out.tell()


def unzip(archive: Path, folder: Path) -> None:
    """Extract with Info-ZIP's `unzip -q`, overwriting files that exist."""
    subprocess.run(["unzip", "-q", "-o", str(archive), "-d", str(folder)], check=True)


def official_pull(api_url: str, token: str, environment: str, target: Path, work: Path) -> None:
    """Pull `environment` into `target` as the official action does (its log discarded)."""
    command, environ = official_pull_command(api_url, token, environment, target, work)
    subprocess.run(command, env=environ, check=True, stdout=subprocess.DEVNULL)


def official_pull_command(
    api_url: str, token: str, environment: str, target: Path, work: Path
) -> tuple[list[str], dict[str, str]]:
    """The official step's command line and environment."""
    environ = {**os.environ, "API_URL": api_url, "API_TOKEN": token,
               "ENVIRONMENT": environment, "TARGET": str(target), "WORK": str(work)}  # fmt: skip
    return ["bash", str(OFFICIAL_PULL)], environ


def extractall(archive: Path, folder: Path) -> None:
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(folder)


def one_pass_payload(folder: Path, paths: Iterable[str], author: str = "a@example.com") -> str:
    """Read, base64-encode and serialise the files the way a fast script would."""
    file_map = {
        path: base64.b64encode((folder / path).read_bytes()).decode("ascii") for path in paths
    }
    return json.dumps(
        {"fileMap": file_map, "authorEmail": author, "message": "m", "dry_run": False}
    )


def plain_deploy(
    api_url: str,
    token: str,
    environment: str,
    folder: Path,
    code: Iterable[str],
    settings: dict[str, dict[str, object]],
    author: str,
) -> None:
    """Send changed code files in one PUT, then each flow's changed settings in a PATCH:
    the least a deploy of code and settings sends, with no plan and no check."""
    body = one_pass_payload(folder, code, author).encode()
    _call(f"{api_url}/v0/environment/{environment}/commits", token, "PUT", body)
    for flow, changed in settings.items():
        url = f"{api_url}/v1/environment/{environment}/flows/{urllib.parse.quote(flow)}/settings"
        _call(url, token, "PATCH", json.dumps(changed).encode())


def _call(url: str, token: str, method: str, body: bytes) -> None:
    headers = {"api-key": token, "content-type": "application/json"}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310
    with urllib.request.urlopen(request) as response:  # noqa: S310 - the emulator's URL
        response.read()


def plain_diff(url: str, archive: Path, folder: Path) -> list[str]:
    """Download the snapshot, read both sides whole and list the local files that differ.

    The least work a correct deploy plan can do, with no history, manifest or checks.
    """
    download(url, archive)
    with zipfile.ZipFile(archive) as handle:
        remote = {name: handle.read(name) for name in handle.namelist() if not name.endswith("/")}
    archive.unlink()
    changed = []
    for directory, _, names in os.walk(folder):
        for name in names:
            if name.endswith((".py", ".sql")):
                full = os.path.join(directory, name)
                relative = os.path.relpath(full, folder)
                with open(full, "rb") as handle:
                    if remote.get(relative) != handle.read():
                        changed.append(relative)
    return changed


def has_unzip() -> bool:
    return shutil.which("unzip") is not None


def has_official_tools() -> bool:
    """The official step needs bash, curl and unzip."""
    return all(shutil.which(tool) for tool in ("bash", "curl", "unzip"))
