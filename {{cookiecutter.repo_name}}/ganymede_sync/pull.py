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
from typing import Any

from ganymede_sync import binding, gitops, naming
from ganymede_sync.archive import Snapshot
from ganymede_sync.client import GanymedeClient, ProgressCallback
from ganymede_sync.config import ArchiveLimits, Environment, Settings, is_ci
from ganymede_sync.errors import (
    ArchiveError,
    ConfigError,
    GitError,
    Interrupted,
    LocalChangesError,
)
from ganymede_sync.layout import Scope, is_valid_flow_name
from ganymede_sync.manifest import Manifest, load_manifest
from ganymede_sync.snapshot import fetch_snapshot
from ganymede_sync.sync import (
    SyncPlan,
    SyncResult,
    apply_plan,
    describe_restored,
    keep_local_work,
    mass_removal,
    plan_sync,
    restore_interrupted,
)

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
    restored: int = 0
    """Interrupted earlier pulls whose half-done swap this one undid first."""
    skipped: list[str] = field(default_factory=list)
    """Ganymede's files left out for their names (``--skip-invalid``): to fix in Ganymede."""
    kept: list[str] = field(default_factory=list)
    """Local work left in place: changed here, unchanged in Ganymede (or not there at all)."""
    ignored_by_git: list[str] = field(default_factory=list)
    """Those of ``kept`` that git ignores: they stay local, a deploy never sends them."""
    ignored: int = 0
    manifest_written: bool = False
    commit: str | None = None
    commit_requested: bool = False
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
    skip_invalid: bool = False,
    progress: ProgressCallback | None = None,
    environ: Mapping[str, str] | None = None,
    client_options: Mapping[str, Any] | None = None,
    limits: ArchiveLimits | None = None,
) -> PullSummary:
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
    restored = restore_interrupted(environment.path)  # before anything else reads the folder
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
        result, ignored, kept, skipped = _apply(
            settings,
            environment,
            snapshot,
            scope,
            force=force,
            skip_invalid=skip_invalid,
            tenant=target.tenant,
        )
    try:
        sha = _commit(settings, environment, environ) if commit else None
    except KeyboardInterrupt:
        raise Interrupted(
            f"{environment.folder}/ had been updated from Ganymede, but not committed: "
            "run the pull with --commit again to commit it"
        ) from None
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


def _apply(
    settings: Settings,
    environment: Environment,
    snapshot: Snapshot,
    scope: Scope,
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
    plan = plan_sync(environment.path, snapshot, scope, skip=set(invalid))
    old_manifest = load_manifest(environment.manifest_path)
    _protect_local_work(settings, environment, plan, snapshot, old_manifest, force=force)
    result = apply_plan(
        plan,
        snapshot,
        manifest_path=environment.manifest_path,
        old_manifest=old_manifest,
        environment=environment.name,
        tenant=tenant,
    )
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
    from ganymede_sync.deploy import recorded_deploys

    pulled = manifest.files if manifest else {}
    deployed = recorded_deploys(settings, environment) if plan.overwritten else {}
    conflicts = keep_local_work(plan, snapshot, pulled, deployed)
    if conflicts:
        shown = ", ".join(f"{environment.folder}/{path}" for path in conflicts[:LISTED_PATHS])
        more = f" and {len(conflicts) - LISTED_PATHS} more" if len(conflicts) > LISTED_PATHS else ""
        raise LocalChangesError(
            f"the pull would overwrite local changes that Ganymede also changed since the "
            f"last pull: {shown}{more}. Merge them (README.md, 'When a deploy reports a "
            "conflict'), or pull again with --force to take Ganymede's version"
        )
    too_many = mass_removal(plan, snapshot, settings.max_removed_share)
    if too_many:
        raise LocalChangesError(
            f"the pull of {environment.folder}/ {too_many}: check the environment in "
            "Ganymede, then pull again with --force if that is really wanted; nothing was changed"
        )


def _ignored(settings: Settings, environment: Environment, kept: list[str]) -> list[str]:
    """Return which kept files git ignores (asked only when some were kept)."""
    if not kept:
        return []
    repo = gitops.open_repository(settings.root)
    ignored = repo.ignored_paths(environment.path) if repo is not None else set()
    return [path for path in kept if path in ignored]


def _commit(settings: Settings, environment: Environment, environ: Mapping[str, str]) -> str | None:
    bot = is_ci(environ)
    return gitops.require_repository(settings.root).commit_paths(
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
    if summary.restored:
        lines.append(describe_restored(summary.folder, summary.restored))
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
    lines.extend(_kept_lines(summary))
    if summary.skipped:
        shown = ", ".join(naming.show(f"{summary.folder}/{p}") for p in summary.skipped[:20])
        lines.append(
            f"skipped {len(summary.skipped)} file(s) whose names a checkout cannot keep "
            f"(rename or remove them in Ganymede): {shown}"
        )
    if summary.ignored:
        lines.append(f"ignored {summary.ignored} archive file(s) that a pull does not manage")
    if summary.commit:
        message = COMMIT_MESSAGE.format(folder=summary.folder)
        lines.append(f"committed {summary.commit[:12]}: {message}")
    elif summary.commit_requested:
        lines.append("nothing to commit")
    lines.append(f"done in {summary.seconds:.1f}s ({_size(summary.downloaded_bytes)} downloaded)")
    return lines


def _kept_lines(summary: PullSummary) -> list[str]:
    """Say which local files were left in place, and why, one per line up to a limit."""
    if not summary.kept:
        return []
    ignored = set(summary.ignored_by_git)
    why = {
        path: "git-ignored local file" if path in ignored else "local change not yet deployed"
        for path in summary.kept
    }
    if len(summary.kept) > LISTED_PATHS:
        return [f"kept {len(summary.kept)} local file(s) that Ganymede did not change"]
    return [f"  = {summary.folder}/{path} (kept: {why[path]})" for path in summary.kept]


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
