"""Pull: bring one environment's flow code from Ganymede into its folder.

The runner of ``invoke pull``, the counterpart of ``deploy``: settings, a folder
and options in; a result dataclass out. It checks the options and git, fetches and
validates the snapshot, compares it with the folder, refuses to overwrite local
work, applies it atomically with its manifest, and optionally commits.
``report.describe_pull`` turns the result into the lines a person reads;
``connect`` makes the API client (tests pass one that never waits).

Never prints and never imports Invoke; HTTP, archives, files and git are each
left to their own module.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ganymede_sync.errors import (
    ArchiveError,
    ConfigError,
    GitError,
    Interrupted,
    LocalChangesError,
)
from ganymede_sync.local import gitops, stat_cache
from ganymede_sync.local.apply import (
    LocalFiles,
    SyncPlan,
    SyncResult,
    apply_plan,
    keep_local_work,
    mass_removal,
    plan_sync,
    record_stats,
    restore_interrupted,
    scan_local,
)
from ganymede_sync.local.deploy_record import recorded_deploys
from ganymede_sync.local.stat_cache import StatCache
from ganymede_sync.plans.planning import folder_paths
from ganymede_sync.plans.reading import known_flows
from ganymede_sync.remote.archive import Snapshot
from ganymede_sync.remote.fetch import fetch_snapshot
from ganymede_sync.remote.opening import open_client
from ganymede_sync.results import PullResult
from ganymede_sync.rules import naming
from ganymede_sync.rules.layout import Scope, is_valid_flow_name
from ganymede_sync.settings.config import REMOVED_SHARE_SETTING, Environment, Settings, is_ci
from ganymede_sync.state import binding
from ganymede_sync.state.manifest import Manifest, load_manifest

if TYPE_CHECKING:
    from ganymede_sync.remote.client import ClientFactory, ProgressCallback

COMMIT_MESSAGE = "Sync flows in environment {folder} from Ganymede"
LISTED_CONFLICTS = 20
"""A refusal names this many conflicting paths, then counts the rest."""


@dataclass(frozen=True)
class PullOptions:
    """The choices of ``invoke pull``."""

    flow: str | None = None
    """Pull only this flow (empty or None: every flow)."""
    include_lib: bool = True
    force: bool = False
    """Take Ganymede's version of everything, local work included."""
    commit: bool = False
    retarget: bool = False
    """Accept a target other than the folder's own, and bind the folder to it."""
    skip_invalid: bool = False
    """Leave out Ganymede's files whose names a checkout cannot keep; update the rest."""


def run_pull(
    settings: Settings,
    folder: str | None,
    options: PullOptions = PullOptions(),
    *,
    connect: ClientFactory = open_client,
    progress: ProgressCallback | None = None,
    flows_progress: Callable[[int, int], None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> PullResult:
    """Make the folder's managed files equal Ganymede's, within the flow/lib scope.

    Keeps local work that Ganymede did not change, and refuses (LocalChangesError)
    to replace or delete work that it did, or to remove too much, unless ``force``.
    Refuses (ArchiveError) names a checkout cannot keep unless ``skip_invalid``,
    which leaves those paths alone. Refuses (TargetMismatchError) a target other than
    the folder's own unless ``retarget``, which then binds the folder to the new
    target. A failure anywhere leaves the folder and manifest as they were.
    """
    started = time.monotonic()
    environment = settings.environment(folder)
    # Before anything else reads the folder.
    restored = restore_interrupted(environment.path, environment.manifest_path)
    target = binding.check_target(settings, environment, retarget=options.retarget)
    settings.require_token(environment)
    scope = _scope(options.flow, options.include_lib)
    environ = os.environ if environ is None else environ
    if options.commit:
        _check_can_commit(settings, environ)
    counter = _ByteCounter(progress)
    cache_path = stat_cache.path_for(settings.root, environment.folder)  # asks git: here
    # The folder is walked, and its records and flow files read, while the archive
    # downloads: local work, beside a download that is mostly waiting.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="walk") as walker:
        walked = walker.submit(scan_local, environment.path)
        manifest = walker.submit(load_manifest, environment.manifest_path)
        known = walker.submit(lambda: known_flows(environment, manifest.result()))
        cache = walker.submit(stat_cache.load, cache_path, environment.folder)
        with (
            connect(settings, environment) as client,
            fetch_snapshot(
                client,
                flow=scope.flow,
                include_lib=scope.include_lib,
                limits=settings.archive_limits,
                progress=counter,
                known=known.result,
                flows_progress=flows_progress,
            ) as snapshot,
        ):
            result, ignored, kept, skipped = _apply(
                settings,
                environment,
                snapshot,
                scope,
                _Local(walked.result(), manifest.result(), cache.result(), cache_path),
                force=options.force,
                skip_invalid=options.skip_invalid,
                tenant=target.tenant,
            )
    message = COMMIT_MESSAGE.format(folder=environment.folder)
    try:
        sha = _commit(settings, environment, message, environ) if options.commit else None
    except KeyboardInterrupt:
        raise Interrupted(
            f"{environment.folder}/ had been updated from Ganymede, but not committed: "
            "run the pull with --commit again to commit it"
        ) from None
    return PullResult(
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
        commit_message=message if sha else "",
        commit_requested=options.commit,
        kept=kept,
        skipped=skipped,
        restored=restored,
        ignored_by_git=_ignored(settings, environment, kept),
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


@dataclass(frozen=True)
class _Local:
    """What a pull reads of the folder while the archive downloads."""

    files: LocalFiles
    manifest: Manifest | None
    """The record of the last pull (None before the first)."""
    cache: StatCache
    cache_path: Path | None
    """Where the stat cache is kept (None outside a git repository)."""


def _apply(
    settings: Settings,
    environment: Environment,
    snapshot: Snapshot,
    scope: Scope,
    local: _Local,
    *,
    force: bool,
    skip_invalid: bool,
    tenant: str,
) -> tuple[SyncResult, int, list[str], list[str]]:
    """Plan, keep local work, apply; return the result, ignored count, files kept and skipped."""
    invalid = {path: why for path, why in snapshot.invalid.items() if scope.covers(path)}
    if invalid and not skip_invalid:
        raise ArchiveError(
            f"Ganymede holds names that a checkout cannot keep: "
            f"{naming.listing(environment.folder, invalid)}. Rename or remove them in "
            "Ganymede, or pull with --skip-invalid to update everything else; nothing was changed"
        )
    plan = plan_sync(
        environment.path, snapshot, scope, skip=set(invalid), cache=local.cache, local=local.files
    )
    _protect_local_work(settings, environment, plan, snapshot, local.manifest, force=force)
    result = apply_plan(
        plan,
        snapshot,
        manifest_path=environment.manifest_path,
        old_manifest=local.manifest,
        environment=environment.name,
        tenant=tenant,
    )
    record_stats(local.cache_path, plan, snapshot, environment.folder)
    return result, snapshot.ignored + plan.out_of_scope, sorted(plan.kept), plan.skipped


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
    repo = gitops.open_repository(settings.root)
    if repo is None:
        raise GitError(f"--commit needs a git repository at {settings.root}: run invoke init first")
    if not is_ci(environ) and not repo.has_identity():
        raise GitError(gitops.IDENTITY_HELP)


def _protect_local_work(
    settings: Settings,
    environment: Environment,
    plan: SyncPlan,
    snapshot: Snapshot,
    manifest: Manifest | None,
    *,
    force: bool,
) -> None:
    """Keep local work out of the plan; raise when Ganymede changed it too, or when
    the plan removes too much.

    Work is whatever differs from the manifest of the last pull (committed, not
    committed or git-ignored alike), so no question to git is needed. ``force``
    takes Ganymede's version of everything, as before.
    """
    if force:
        return
    pulled = manifest.files if manifest else {}
    deployed = recorded_deploys(settings, environment, arrived=True) if plan.overwritten else {}
    conflicts = keep_local_work(plan, snapshot, pulled, deployed)
    if conflicts:
        shown = folder_paths(environment.folder, conflicts[:LISTED_CONFLICTS])
        hidden = len(conflicts) - LISTED_CONFLICTS
        more = f" and {hidden} more" if hidden > 0 else ""
        raise LocalChangesError(
            f"the pull would overwrite local changes that Ganymede also changed since the "
            f"last pull: {shown}{more}. Merge them (docs/pull-and-deploy.md, 'When a "
            "deploy reports a conflict'), or pull again with --force to take Ganymede's version"
        )
    too_many = mass_removal(plan, snapshot, settings.max_removed_share)
    if too_many:
        raise LocalChangesError(
            f"the pull of {environment.folder}/ {too_many.problem}",
            hint="check the environment in Ganymede, then pull again with --force if that "
            "is really wanted; nothing was changed",
            setting=REMOVED_SHARE_SETTING if too_many.over_share else None,
        )


def _ignored(settings: Settings, environment: Environment, kept: list[str]) -> list[str]:
    """Return which kept files git ignores (asked only when some were kept)."""
    if not kept:
        return []
    repo = gitops.open_repository(settings.root)
    ignored = repo.ignored_paths(environment.path) if repo is not None else set()
    return [path for path in kept if path in ignored]


def _commit(
    settings: Settings, environment: Environment, message: str, environ: Mapping[str, str]
) -> str | None:
    bot = is_ci(environ)
    return gitops.require_repository(settings.root).commit_paths(
        [environment.path, environment.manifest_path],
        message,
        author_name=settings.bot_name if bot else None,
        author_email=settings.bot_email if bot else None,
    )
