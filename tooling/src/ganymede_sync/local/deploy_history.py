"""Deploy history in git: one annotated tag per deploy, ``deploy/<folder>/<UTC time>``.

Each successful deploy tags the commit it deployed; the tag's message is a subject
line and one JSON record: folder, Ganymede target, commit, time, author, Ganymede
commit message, the files and flows sent (blob ids), and the flow versions Ganymede
listed afterwards.

Why tags, not git notes: a clone fetches tags (so does ``actions/checkout`` with
``fetch-depth: 0``), GitHub lists them, and a tag keeps its commit reachable after a
force push, so what a deploy sent stays readable for recognising our own deploys and
for rolling back. A note is not fetched by default and does not keep its commit.

The records are read as untrusted input: anyone who can push a tag can write one. A
message too large, or not of this shape, is skipped; a record may only make a deploy
take a version it names for its own, never send anything by itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TypeGuard

from ganymede_sync.local import gitops
from ganymede_sync.settings.config import Environment, Settings

TAG_PREFIX = "deploy"
RECORD_FORMAT = 1
MAX_RECORD_BYTES = 4 * 1024 * 1024
"""Largest tag message read: a record of 10,000 sent files is about 1 MiB."""


@dataclass(frozen=True)
class DeployRecord:
    """What one deploy sent, where, from which commit, and what Ganymede held after."""

    folder: str
    target: str
    commit: str
    time: str
    """UTC, ISO 8601 with seconds (``2026-12-04T20:15:00Z``), as ``manifest.utc_now``."""
    author: str
    message: str
    files: Mapping[str, str] = field(default_factory=dict)
    """Path in the folder -> blob id of the version sent."""
    flows: tuple[str, ...] = ()
    """Flows whose structure or settings (``flow.json``) were sent."""
    versions: Mapping[str, str] = field(default_factory=dict)
    """Flow id -> the version Ganymede listed after the deploy."""
    only: tuple[str, ...] = ()
    """The flows of a selective deploy (``deploy --flow``); empty for a whole one."""
    with_lib: bool = True
    """Whether ``lib/`` was part of the deploy (``--no-lib`` leaves it out)."""
    uncommitted: tuple[str, ...] = ()
    """Files sent with changes ``commit`` does not hold (``--allow-dirty``)."""
    tag: str = ""

    @property
    def short_commit(self) -> str:
        return self.commit[:10]

    def touches(self, flow: str) -> bool:
        """Tell whether this deploy sent anything of ``flow``."""
        return flow in self.flows or any(path.startswith(f"{flow}/") for path in self.files)

    def to_message(self) -> str:
        """The tag message: a subject a person reads in ``git tag -n``, then the record."""
        data = {"format": RECORD_FORMAT, **asdict(self)}
        data.pop("tag")
        subject = f"Deploy {self.folder}/ to {self.target} at {self.short_commit}"
        return f"{subject}\n\n{json.dumps(data, indent=1, sort_keys=True)}\n"

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def parse_record(tag: str, commit: str, message: str) -> DeployRecord | None:
    """Read a tag message back; None for anything not a record of this shape."""
    _, _, body = message.partition("\n\n")
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
        return None
    strings = ("folder", "target", "commit", "time", "author", "message")
    if not all(isinstance(data.get(key), str) for key in strings) or data["commit"] != commit:
        return None
    files, versions = data.get("files"), data.get("versions")
    if not (_string_map(files) and _string_map(versions)):
        return None
    flows, uncommitted, only = data.get("flows"), data.get("uncommitted"), data.get("only")
    if not (_strings(flows) and _strings(uncommitted) and _strings(only)):
        return None
    return DeployRecord(
        **{key: data[key] for key in strings}, files=dict(files), flows=tuple(flows),
        versions=dict(versions), only=tuple(only), with_lib=data.get("with_lib") is not False,
        uncommitted=tuple(uncommitted), tag=tag,
    )  # fmt: skip


def _string_map(value: object) -> TypeGuard[dict[str, str]]:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _strings(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def write_record(settings: Settings, record: DeployRecord) -> DeployRecord | None:
    """Tag the deployed commit with ``record``; return it with its tag (None outside git).

    Two deploys in one second get ``-2``, ``-3`` ... after the time.
    """
    repo = gitops.open_repository(settings.root)
    if repo is None or not record.commit:
        return None
    # 2026-12-04T20:15:00Z -> 20261204T201500Z: a tag name without ":".
    stamp = record.time.replace("-", "").replace(":", "")
    base = f"{TAG_PREFIX}/{record.folder}/{stamp}"
    name, number = base, 1
    while repo.tag_exists(name):
        number += 1
        name = f"{base}-{number}"
    repo.create_tag(name, record.commit, record.to_message(), email=record.author)
    return replace(record, tag=name)


def read_records(settings: Settings, folder: str | None = None) -> list[DeployRecord]:
    """Return the deploy records of ``folder`` (or of every folder), newest first."""
    repo = gitops.open_repository(settings.root)
    if repo is None:
        return []
    prefix = f"{TAG_PREFIX}/{folder}/" if folder else f"{TAG_PREFIX}/"
    records = []
    for entry in repo.annotated_tags(prefix, max_message_bytes=MAX_RECORD_BYTES):
        record = parse_record(entry.name, entry.commit, entry.message)
        if record is not None and (folder is None or record.folder == folder):
            records.append(record)
    return sorted(records, key=lambda record: (record.time, record.tag), reverse=True)


def deployed_blobs(
    settings: Settings, environment: Environment, target: str
) -> dict[str, set[str]]:
    """Return path -> blob ids that recorded deploys of ``environment`` sent to ``target``
    from commits made after its last committed pull.

    A deploy takes these for its own earlier work in Ganymede, even when the commits
    are no longer reachable from ``HEAD`` (a force push back is a rollback). Deploys of
    commits that do not descend from the last pull do not count, as for the rest of
    history: Ganymede changed since, and a version it holds again may be someone's
    revert. With a pull not yet committed, none count.
    """
    repo = gitops.open_repository(settings.root)
    pulled = repo.last_commit_of(environment.manifest_path) if repo is not None else None
    if repo is None or pulled is None:
        return {}
    after_pull = repo.tags_containing(pulled, f"{TAG_PREFIX}/{environment.folder}/")
    found: dict[str, set[str]] = {}
    for record in read_records(settings, environment.folder):
        if record.target != target or record.tag not in after_pull:
            continue
        for path, blob in record.files.items():
            found.setdefault(path, set()).add(blob)
    return found


def find_record(records: Sequence[DeployRecord], name: str) -> DeployRecord | None:
    """Return the record a user named: its tag, or the tag's last part (the time)."""
    for record in records:
        if name in (record.tag, record.tag.rsplit("/", 1)[-1], f"refs/tags/{record.tag}"):
            return record
    return None


def deploy_of_run(
    records: Sequence[DeployRecord], flow: str, version: object, started: object
) -> DeployRecord | None:
    """Return the deploy whose code a run of ``flow`` ran: the newest one before the run
    started after which Ganymede listed the run's flow version; None when none says so."""
    for record in records:  # newest first
        if record.versions.get(flow) != str(version):
            continue
        if isinstance(started, str) and started and started[:19] < record.time[:19]:
            continue
        return record
    return None
