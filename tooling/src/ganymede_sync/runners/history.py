"""History and rollback as the tasks run them: the deploys git records, and going back.

``invoke history`` lists the records ``deploy_history`` keeps (tags, read offline).
``invoke rollback`` makes a folder's files equal to a recorded deploy or a commit, as
a new commit on a branch of its own, so git stays the truth and the usual deploy path,
reviewers included, ships it; with ``deploy`` it also deploys that branch at once, with
the usual conflict protection. A rollback never rewrites history.

Never prints and never imports Invoke.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ganymede_sync.errors import ConfigError, DeployRefused
from ganymede_sync.local import gitops
from ganymede_sync.local.deploy_history import DeployRecord, find_record, read_records
from ganymede_sync.plans import planning
from ganymede_sync.plans.reading import plan_environment
from ganymede_sync.remote.opening import open_client
from ganymede_sync.results import Rollback, RollbackResult
from ganymede_sync.rules.layout import is_managed
from ganymede_sync.rules.visible import visible
from ganymede_sync.runners.deploy import run_deploy
from ganymede_sync.settings.config import Settings
from ganymede_sync.state import binding
from ganymede_sync.ui import report

if TYPE_CHECKING:
    from ganymede_sync.remote.client import ClientFactory, ProgressCallback

Show = Callable[[str], None]


def list_history(
    settings: Settings, folder: str | None, flow: str | None = None
) -> list[DeployRecord]:
    """Return the recorded deploys of ``folder`` (those that sent ``flow``), newest first."""
    environment = settings.environment(folder)
    records = read_records(settings, environment.folder)
    if flow is not None:
        flow = flow.rstrip("/")
        records = [record for record in records if record.touches(flow)]
    return records


def prepare_rollback(settings: Settings, folder: str | None, to: str | None) -> Rollback:
    """Resolve ``to`` (a recorded deploy or a commit) and find the files that change."""
    environment = settings.environment(folder)
    if not to:
        raise ConfigError(
            f"choose what to roll back to with --to: a deploy that invoke history --env "
            f"{environment.folder} lists, or a commit"
        )
    repo = gitops.require_repository(settings.root)
    record = find_record(read_records(settings, environment.folder), to)
    if record is not None and record.uncommitted:
        raise ConfigError(
            f"deploy {record.tag} sent uncommitted changes ({', '.join(record.uncommitted[:3])}), "
            f"which git does not hold: roll back to a commit instead (--to {record.short_commit})"
        )
    commit = repo.commit_sha(record.commit if record else to)
    if commit is None:
        raise ConfigError(
            f"'{visible(to)}' is neither a deploy of {environment.folder}/ (invoke history --env "
            f"{environment.folder}) nor a commit of this clone (git fetch --tags, then try again)"
        )
    dirty = repo.dirty_paths(environment.path) or []
    if dirty:
        raise ConfigError(
            f"{environment.folder}/ has uncommitted changes ({', '.join(dirty[:3])}): commit or "
            "stash them, then roll back"
        )
    # Committed files only, on both sides: ignored and untracked files are the user's.
    # Compared by blob id; only the files that differ are read.
    old = _managed(repo.blobs_at(commit, environment.path))
    now = _managed(repo.blobs_at("HEAD", environment.path))
    files: dict[str, bytes | None] = {
        path: repo.blob_bytes(blob) for path, blob in old.items() if now.get(path) != blob
    }
    files.update({path: None for path in now if path not in old})
    branch = f"rollback/{environment.folder}-{commit[:10]}"
    label = record.tag if record else f"commit {commit[:10]}"
    return Rollback(environment, commit, label, files, branch)


def _managed(files: dict[str, str]) -> dict[str, str]:
    return {path: data for path, data in files.items() if is_managed(path)}


def plan_rollback(
    settings: Settings,
    rollback: Rollback,
    *,
    connect: ClientFactory = open_client,
    progress: ProgressCallback | None = None,
) -> planning.DeployPlan:
    """Plan the folder's deploy as it will be after the rollback, reading Ganymede."""
    environment = rollback.environment
    binding.check_target(settings, environment, retarget=False, can_retarget=False)
    with connect(settings, environment) as client:
        return plan_environment(
            client, settings, environment, progress=progress, pending=rollback.files
        )


def apply_rollback(settings: Settings, rollback: Rollback) -> str:
    """Commit the rollback on its branch from git objects alone, then switch to it.

    As ``promote --commit`` does: killed at any moment, the user is on their own branch
    with their files as they were, or the rollback is done and checked out.
    """
    environment = rollback.environment
    repo = gitops.require_repository(settings.root)
    sha = repo.commit_on_new_branch(
        rollback.branch, environment.path, rollback.files, rollback.commit_message()
    )
    repo.switch(rollback.branch)
    return sha


def refuse_planned(rollback: Rollback, plan: planning.DeployPlan) -> None:
    """Refuse a rollback whose deploy would be refused: say why, before any file changes."""
    reasons = planning.refusal_reasons(plan, rollback.environment.folder)
    if reasons:
        raise DeployRefused(
            f"nothing was changed in {rollback.environment.folder}/: " + "; ".join(reasons)
        )


def rollback_heading(settings: Settings, rollback: Rollback) -> str:
    environment = rollback.environment
    commit = "" if rollback.label.startswith("commit ") else f" ({rollback.short_commit})"
    return (
        f"rollback of {binding.arrow(settings, environment)} to {rollback.label}{commit}: "
        f"{len(rollback.files)} file(s) change in {environment.folder}/ (the plan lists those "
        "Ganymede does not already hold)"
    )


def show_plan(
    show: Show, settings: Settings, rollback: Rollback, plan: planning.DeployPlan
) -> None:
    show(rollback_heading(settings, rollback))
    show(report.plan_table(plan, rollback.environment.folder))


def run_rollback(
    settings: Settings,
    folder: str | None,
    to: str | None,
    show: Show,
    *,
    dry_run: bool = False,
    connect: ClientFactory = open_client,
    progress: ProgressCallback | None = None,
) -> RollbackResult:
    """Plan the rollback against Ganymede, refuse what its deploy would refuse, then write
    and commit it on its branch (nothing is written with ``dry_run``)."""
    rollback = prepare_rollback(settings, folder, to)
    if not rollback.files:
        return RollbackResult(rollback, None)
    plan = plan_rollback(settings, rollback, connect=connect, progress=progress)
    show_plan(show, settings, rollback, plan)
    refuse_planned(rollback, plan)
    if dry_run:
        return RollbackResult(rollback, plan)
    return RollbackResult(rollback, plan, apply_rollback(settings, rollback))


def deploy_rollback(
    settings: Settings,
    result: RollbackResult,
    *,
    show: Show,
    environ: Mapping[str, str],
    connect: ClientFactory = open_client,
) -> RollbackResult:
    """Deploy the committed rollback at once, through the usual deploy and its checks."""
    deployed = run_deploy(
        settings, result.rollback.environment.folder, connect=connect, show=show, environ=environ
    )
    return RollbackResult(result.rollback, result.plan, result.commit, deployed)
