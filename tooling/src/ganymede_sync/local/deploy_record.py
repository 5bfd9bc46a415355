"""The record of versions this clone sent to Ganymede since the last pull.

Git history knows what was committed; this record (a JSON file inside the git
folder, never committed) also knows what was deployed straight from the working
tree, so a second local deploy without a commit in between is no false conflict,
and a pull does not take the versions it sent for edits made in Ganymede. A version
counts as sent from just before its request, and as arrived once Ganymede confirmed
it: a pull treats only arrived ones as Ganymede's, so a deploy killed before its
answer never makes a pull drop the work it was sending.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from ganymede_sync.local import gitops
from ganymede_sync.rules.hashing import blob_id
from ganymede_sync.settings.config import Environment, Settings


def recorded_deploys(
    settings: Settings, environment: Environment, *, arrived: bool = False
) -> dict[str, set[str]]:
    """Return the blob ids this clone sent since the last pull, uncommitted files included.

    Git history knows what was committed; this record (in the git folder, never
    committed) also knows what was deployed straight from the working tree, so a
    second local deploy without a commit in between is no false conflict. Versions
    are recorded before they are sent (a deploy may die waiting for the answer); with
    ``arrived``, only those Ganymede confirmed: what a pull may take as Ganymede's.
    """
    record = _read_record(settings, environment)
    if record.get("manifest") != _manifest_blob(environment):
        return {}
    files = record.get("arrived" if arrived else "files", {})
    if not isinstance(files, dict):
        return {}
    return {path: set(blobs) for path, blobs in files.items() if isinstance(blobs, list)}


def record_deploy(
    settings: Settings,
    environment: Environment,
    contents: Mapping[str, bytes] | Iterable[tuple[str, bytes]],
    *,
    arrived: bool = False,
) -> None:
    """Remember versions about to be sent (or, with ``arrived``, confirmed by Ganymede).

    ``contents`` maps paths to bytes, or lists (path, bytes) pairs when a path has
    several versions to remember (the states a flow passes through), in one write.
    """
    target = _record_path(settings, environment)
    versions = list(contents.items() if isinstance(contents, Mapping) else contents)
    if target is None or not versions:
        return
    kinds = {"files": recorded_deploys(settings, environment)}
    kinds["arrived"] = recorded_deploys(settings, environment, arrived=True)
    for kind in ("files", "arrived") if arrived else ("files",):
        for path, data in versions:
            kinds[kind].setdefault(path, set()).add(blob_id(data))
    record = {
        "manifest": _manifest_blob(environment),
        **{
            kind: {path: sorted(blobs) for path, blobs in found.items()}
            for kind, found in kinds.items()
        },
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _read_record(settings: Settings, environment: Environment) -> dict:
    target = _record_path(settings, environment)
    try:
        record = json.loads(target.read_text(encoding="utf-8")) if target else {}
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _record_path(settings: Settings, environment: Environment) -> Path | None:
    """Where this clone keeps the record of ``environment``; None outside a repository."""
    repo = gitops.open_repository(settings.root)
    if repo is None:
        return None
    return repo.local_state_path(f"deployed-{environment.folder}.json")


def _manifest_blob(environment: Environment) -> str | None:
    try:
        return blob_id(environment.manifest_path.read_bytes())
    except OSError:
        return None
