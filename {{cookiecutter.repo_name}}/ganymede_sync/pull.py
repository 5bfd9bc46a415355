"""Pull: bring one environment's flow code from Ganymede into its folder.

The orchestration behind ``invoke pull``: check the options and git, fetch and
validate the snapshot, compare it with the folder, refuse to overwrite local work,
apply it atomically with its manifest, optionally commit, and return a summary.
``describe`` turns the summary into the lines ``tasks.py`` prints.

Never prints and never imports Invoke; HTTP, archives, files and git are each
left to their own module.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganymede_sync import binding, gitops
from ganymede_sync.archive import Snapshot
from ganymede_sync.client import GanymedeClient, ProgressCallback
from ganymede_sync.config import ArchiveLimits, Environment, Settings, is_ci
from ganymede_sync.errors import ConfigError, GitError, LocalChangesError
from ganymede_sync.layout import Scope, is_valid_flow_name
from ganymede_sync.manifest import Manifest, load_manifest, sha256_file
from ganymede_sync.snapshot import fetch_snapshot
from ganymede_sync.sync import SyncPlan, SyncResult, apply_plan, plan_sync

COMMIT_MESSAGE = "Sync flows in environment {folder} from Ganymede"
LISTED_PATHS = 20
"""Summaries list paths one by one up to this many, then only count them."""


@dataclass(frozen=True)
class PullSummary:
    """What a pull did, for people and for tests."""

    folder: str
    environment: str
    scope: Scope
    target: str = ""
    """Where the code came from, ``acme/prod``: every line names it."""
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    ignored: int = 0
    manifest_written: bool = False
    commit: str | None = None
    commit_requested: bool = False
    safety_checked: bool = True
    downloaded_bytes: int = 0
    seconds: float = 0.0

    @property
    def has_changes(self) -> bool:
        """Tell whether any file of the folder was added, changed or removed."""
        return bool(self.added or self.changed or self.removed)


def pull_environment(
    settings: Settings,
    folder: str,
    *,
    flow: str | None = None,
    include_lib: bool = True,
    force: bool = False,
    commit: bool = False,
    retarget: bool = False,
    progress: ProgressCallback | None = None,
    environ: Mapping[str, str] | None = None,
    client_options: Mapping[str, Any] | None = None,
    limits: ArchiveLimits | None = None,
) -> PullSummary:
    """Make the folder's managed files equal Ganymede's, within the flow/lib scope.

    Refuses (LocalChangesError) to replace or delete a file holding uncommitted work
    unless ``force``; a failure anywhere leaves the folder and manifest as they were.
    Refuses (TargetMismatchError) a target other than the folder's own unless
    ``retarget``, which then binds the folder to the new target.
    """
    started = time.monotonic()
    environment = settings.environment(folder)
    target = binding.check_target(settings, environment, retarget=retarget)
    token = settings.require_token(environment)
    scope = _scope(flow, include_lib)
    flow = scope.flow
    environ = os.environ if environ is None else environ
    if commit:
        _check_can_commit(settings, environ)
    counter = _ByteCounter(progress)
    with (
        GanymedeClient(
            settings.api_url,
            token,
            environment.name,
            **{"network": settings.network, **(client_options or {})},
        ) as client,
        fetch_snapshot(
            client,
            flow=flow,
            include_lib=include_lib,
            limits=limits or settings.archive_limits,
            progress=counter,
        ) as snapshot,
    ):
        result, ignored, checked = _apply(
            settings, environment, snapshot, scope, force=force, tenant=target.tenant
        )
    sha = _commit(settings, environment, environ) if commit else None
    return PullSummary(
        folder=environment.folder,
        environment=environment.name,
        scope=scope,
        target=str(target),
        added=result.added,
        changed=result.changed,
        removed=result.removed,
        ignored=ignored,
        manifest_written=result.manifest_written,
        commit=sha,
        commit_requested=commit,
        safety_checked=checked,
        downloaded_bytes=counter.done,
        seconds=time.monotonic() - started,
    )


class _ByteCounter:
    """Pass download progress on, and remember how many bytes arrived."""

    def __init__(self, progress: ProgressCallback | None) -> None:
        self.progress = progress
        self.done = 0

    def __call__(self, done: int, total: int | None) -> None:
        self.done = done
        if self.progress:
            self.progress(done, total)


def _apply(
    settings: Settings,
    environment: Environment,
    snapshot: Snapshot,
    scope: Scope,
    *,
    force: bool,
    tenant: str,
) -> tuple[SyncResult, int, bool]:
    """Plan, check for local work, apply; return the result, ignored count, and if git checked."""
    plan = plan_sync(environment.path, snapshot, scope)
    old_manifest = load_manifest(environment.manifest_path)
    checked = _refuse_local_work(settings, environment, plan, old_manifest, force=force)
    result = apply_plan(
        plan,
        snapshot,
        manifest_path=environment.manifest_path,
        old_manifest=old_manifest,
        environment=environment.name,
        tenant=tenant,
    )
    return result, snapshot.ignored + plan.out_of_scope, checked


def _scope(flow: str | None, include_lib: bool) -> Scope:
    """Return the pull's scope; an empty flow name means every flow (workflows pass one)."""
    if flow and not is_valid_flow_name(flow):
        raise ConfigError(
            f"'{flow}' is not a flow name: give the flow's id as in its Ganymede URL "
            "(one folder name, not 'lib')"
        )
    return Scope(flow=flow or None, include_lib=include_lib)


def _check_can_commit(settings: Settings, environ: Mapping[str, str]) -> None:
    """Fail before downloading anything when ``--commit`` could not work."""
    if gitops.open_repository(settings.root) is None:
        raise GitError(f"--commit needs a git repository at {settings.root}: run invoke init first")
    if not is_ci(environ) and not gitops.has_identity(settings.root):
        raise GitError(gitops.IDENTITY_HELP)


def _refuse_local_work(
    settings: Settings,
    environment: Environment,
    plan: SyncPlan,
    manifest: Manifest | None,
    *,
    force: bool,
) -> bool:
    """Raise when the plan would replace or delete uncommitted work; tell if git could check.

    A file counts as work when git sees it changed and its content is not what the
    last pull wrote, so pulling twice without committing in between is fine. A plan
    that replaces and deletes nothing (a first pull, a pull with nothing new) cannot
    lose work, so it skips ``git status``, the slow part in a large folder.
    """
    if force or not plan.overwritten:
        return _git_can_check(settings, environment)
    dirty = gitops.dirty_paths(settings.root, environment.path)
    if dirty is None:
        return False
    pulled = manifest.files if manifest else {}
    dirty_set = set(dirty)
    work = [
        path
        for path in plan.overwritten
        if path in dirty_set and _content_sha(environment, path) != pulled.get(path)
    ]
    if work:
        shown = ", ".join(work[:LISTED_PATHS])
        more = f" and {len(work) - LISTED_PATHS} more" if len(work) > LISTED_PATHS else ""
        raise LocalChangesError(
            f"the pull would overwrite uncommitted changes in {environment.folder}/: {shown}"
            f"{more}. Commit or stash them, or pull again with --force to discard them"
        )
    return True


def _git_can_check(settings: Settings, environment: Environment) -> bool:
    """Tell whether git could check the folder for local work (it lies in a work tree)."""
    repo = gitops.open_repository(settings.root)
    if repo is None or repo.working_tree_dir is None:
        return False
    top = Path(repo.working_tree_dir).resolve()
    return environment.path.resolve().is_relative_to(top)


def _content_sha(environment: Environment, path: str) -> str | None:
    try:
        return sha256_file(environment.path / path)
    except OSError:
        return None


def _commit(settings: Settings, environment: Environment, environ: Mapping[str, str]) -> str | None:
    bot = is_ci(environ)
    return gitops.commit_paths(
        settings.root,
        [environment.path, environment.manifest_path],
        COMMIT_MESSAGE.format(folder=environment.folder),
        author_name=settings.bot_name if bot else None,
        author_email=settings.bot_email if bot else None,
    )


def describe(summary: PullSummary) -> list[str]:
    """Return the lines that tell a person what the pull did."""
    scope = summary.scope.describe()
    target = summary.target or summary.environment
    where = f"{summary.folder}/ -> {target} ({scope})"
    lines = []
    if not summary.safety_checked:
        lines.append(
            "note: not inside a git repository, so no check for uncommitted local changes "
            "was possible"
        )
    if summary.has_changes:
        counts = (
            f"{len(summary.added)} added, {len(summary.changed)} changed, "
            f"{len(summary.removed)} removed"
        )
        lines.append(f"pulled {where}: {counts}")
        lines.extend(_listed(summary))
    elif summary.manifest_written:
        # Typically after a deploy: Ganymede now holds what this folder already had.
        lines.append(
            f"pulled {where}: no file changes; recorded Ganymede's current state "
            f"in .ganymede/{summary.folder}.json"
        )
    else:
        lines.append(f"pulled {where}: no changes")
    if summary.ignored:
        lines.append(f"ignored {summary.ignored} archive file(s) that a pull does not manage")
    if summary.commit:
        message = COMMIT_MESSAGE.format(folder=summary.folder)
        lines.append(f"committed {summary.commit[:12]}: {message}")
    elif summary.commit_requested:
        lines.append("nothing to commit")
    lines.append(f"done in {summary.seconds:.1f}s ({_size(summary.downloaded_bytes)} downloaded)")
    return lines


def _listed(summary: PullSummary) -> list[str]:
    marked = [("+", summary.added), ("~", summary.changed), ("-", summary.removed)]
    total = sum(len(paths) for _, paths in marked)
    if total > LISTED_PATHS:
        return []
    return [f"  {mark} {summary.folder}/{path}" for mark, paths in marked for path in paths]


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1 << 20:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1 << 20):.1f} MiB"
