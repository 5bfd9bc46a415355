"""Deploy and status as the tasks run them: check the target, plan, show, send.

The runner of ``invoke deploy`` and ``invoke status``, the counterpart of ``pull``:
settings, a folder and options in; a result dataclass out. The jobs are each left
to their module: ``reading`` plans from both sides, ``planning`` classifies and
refuses, ``sending`` sends with re-plan, ``authorship`` names author and message,
``report`` renders everything a person or GitHub's step summary sees. ``show``
receives each piece of text as soon as it exists, so a plan is visible before it
is sent; ``connect`` makes the API client (tests pass one that never waits).

Every run first checks that the folder goes where it is bound (``binding``), and a
deploy sends committed code only, unless asked to send uncommitted files. A refused
or failed deploy still leaves its plan and reason in the step summary.

Never prints and never imports Invoke.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ganymede_sync.errors import ConfigError, DeployRefused, FlowRunError, GanymedeSyncError
from ganymede_sync.local import gitops
from ganymede_sync.local.apply import restore_interrupted
from ganymede_sync.local.deploy_history import DeployRecord, write_record
from ganymede_sync.plans.authorship import resolve_author_email, resolve_message
from ganymede_sync.plans.planning import (
    DeployPlan,
    folder_paths,
    misnamed_in_ganymede,
    only_flows,
    refusal_reasons,
)
from ganymede_sync.plans.reading import plan_environment, plan_offline, read_remote_contents
from ganymede_sync.remote.flows import active_runs, listed_versions
from ganymede_sync.remote.opening import open_client
from ganymede_sync.results import DeployResult, SendOutcome, StatusResult
from ganymede_sync.rules.hashing import blob_id
from ganymede_sync.rules.layout import flow_of, is_flow_file, is_lib_path, is_valid_flow_name
from ganymede_sync.rules.visible import visible
from ganymede_sync.runners.runs import check_smoke, run_smoke
from ganymede_sync.runners.sending import send_plan
from ganymede_sync.settings.config import Environment, Settings
from ganymede_sync.state import binding
from ganymede_sync.state.manifest import utc_now
from ganymede_sync.ui import report

if TYPE_CHECKING:
    from ganymede_sync.remote.client import ClientFactory, GanymedeClient, ProgressCallback

Show = Callable[[str], None]


def _silent(text: str) -> None:
    """The default ``show``: a caller that wants only the result."""


@dataclass(frozen=True)
class DeployOptions:
    """The choices of ``invoke deploy``."""

    dry_run: bool = False
    force: bool = False
    """Send files that were also changed in Ganymede."""
    retarget: bool = False
    allow_dirty: bool = False
    """Send files with uncommitted changes (the Ganymede commit message says so)."""
    author_email: str | None = None
    message: str | None = None
    prune_nodes: bool = False
    """Let flow files remove nodes from Ganymede's flows."""
    flows: tuple[str, ...] = ()
    """Deploy only these flows (their nodes and flow files); empty: the whole folder."""
    lib: bool = True
    """With ``flows``: send ``lib/`` too (``--no-lib`` leaves it for a later deploy)."""
    smoke: bool = False
    """After the deploy, run the folder's smoke flows; fail when one does not succeed."""


@dataclass(frozen=True)
class StatusOptions:
    """The choices of ``invoke status``."""

    retarget: bool = False
    allow_dirty: bool = False
    """Plan as ``deploy --allow-dirty`` would: uncommitted files are not refused."""
    offline: bool = False
    """Plan against the last pull instead of reading Ganymede (no token needed)."""
    diff: bool = False
    prune_nodes: bool = False
    """Plan as ``deploy --prune-nodes``: node removals are not refused."""
    flows: tuple[str, ...] = ()
    """Plan only these flows, as ``deploy --flow``."""
    lib: bool = True


def restore_first(environment: Environment, show: Show) -> None:
    """Undo the half-done swap of a pull killed earlier, before reading the folder."""
    restored = restore_interrupted(environment.path, environment.manifest_path)
    if restored:
        show(report.restored_line(environment.folder, restored))


def select(
    plan: DeployPlan, flows: Sequence[str], environment: Environment, *, lib: bool = True
) -> DeployPlan:
    """Narrow ``plan`` to some flows when asked; a flow neither side has is an error."""
    if not flows:
        if not lib:
            raise ConfigError("--no-lib leaves lib/ out of a deploy of some flows: add --flow")
        return plan
    known = {flow for entry in plan.entries if (flow := flow_of(entry.path))}
    chosen = []
    for flow in flows:
        flow = flow.rstrip("/")  # as a shell completes a folder's name
        if not is_valid_flow_name(flow):
            raise ConfigError(f"'{visible(flow)}' is not a flow name: give a flow folder's name")
        if flow not in known:
            near = flow.replace(" ", "_")
            hint = f" (did you mean {near}?)" if near != flow and near in known else ""
            raise ConfigError(
                f"no flow '{visible(flow)}' in {environment.folder}/ or in Ganymede{hint}: give "
                f"the name of a folder of {environment.folder}/ (its flow id)"
            )
        chosen.append(flow)
    return only_flows(plan, chosen, with_lib=lib)


def uncommitted_files(settings: Settings, environment: Environment, plan: DeployPlan) -> list[str]:
    """Return the files to send that differ from ``HEAD`` (all of them outside git)."""
    repo = gitops.open_repository(settings.root)
    dirty = repo.dirty_paths(environment.path) if repo is not None else None
    if dirty is None:
        return list(plan.to_send)
    return sorted(set(plan.to_send) & set(dirty))


def dirty_reason(folder: str, paths: list[str]) -> str:
    """Say which files are uncommitted and the two ways forward."""
    return (
        f"uncommitted changes to files it would send: {folder_paths(folder, paths)} (commit "
        f"them: git add {folder} && git commit; or deploy with --allow-dirty to send them "
        "as they are)"
    )


def run_status(
    settings: Settings,
    folder: str | None,
    options: StatusOptions = StatusOptions(),
    *,
    connect: ClientFactory = open_client,
    show: Show = _silent,
    progress: ProgressCallback | None = None,
    environ: Mapping[str, str] | None = None,
) -> StatusResult:
    """Plan a deploy of ``folder`` and show it; return the plan and the refusals as data.

    ``show`` gets the table, the refusals and the diffs; nothing is sent.
    """
    environment = settings.environment(folder)
    restore_first(environment, show)
    target = binding.check_target(settings, environment, retarget=options.retarget)
    if options.offline and options.diff:
        raise ConfigError("--diff compares with Ganymede's content: run it without --offline")
    diffs: dict[str, str] = {}
    if options.offline:
        plan = select(plan_offline(settings, environment, prune_nodes=options.prune_nodes),
                      options.flows, environment, lib=options.lib)  # fmt: skip
    else:
        with connect(settings, environment) as client:
            plan = plan_environment(
                client, settings, environment, progress=progress,
                prune_nodes=options.prune_nodes,
            )  # fmt: skip
            plan = select(plan, options.flows, environment, lib=options.lib)
            if options.diff and plan.to_send:
                diffs = _diffs(client, settings, environment, plan)
    reasons = refusal_reasons(plan, environment.folder)
    uncommitted = uncommitted_files(settings, environment, plan)
    if uncommitted and not options.allow_dirty:
        reasons.append(dirty_reason(environment.folder, uncommitted))
    result = StatusResult(
        environment.folder, target, plan, reasons, options.offline, diffs,
        misnamed_in_ganymede(plan),
    )  # fmt: skip
    for text in report.status_lines(result):
        show(text)
    title = report.status_title(binding.arrow(settings, environment), offline=options.offline)
    _summarise(plan, environment, title, report.status_outcome(result), environ)
    return result


def _diffs(
    client: GanymedeClient, settings: Settings, environment: Environment, plan: DeployPlan
) -> dict[str, str]:
    """Return a unified diff per file to send: Ganymede's content -> the local file."""
    theirs = read_remote_contents(client, plan.to_send, settings.archive_limits)
    return {
        path: report.unified_diff(
            f"{environment.folder}/{path}", theirs.get(path), plan.contents[path]
        )
        for path in plan.to_send
    }


def run_deploy(
    settings: Settings,
    folder: str | None,
    options: DeployOptions = DeployOptions(),
    *,
    connect: ClientFactory = open_client,
    show: Show = _silent,
    progress: ProgressCallback | None = None,
    environ: Mapping[str, str] | None = None,
) -> DeployResult:
    """Plan, show the plan, send it; return what was done.

    Files with uncommitted changes are refused unless ``allow_dirty`` (a dry run
    sends nothing to keep, so it shows them without refusing).
    """
    environment = settings.environment(folder)
    restore_first(environment, show)
    target = binding.check_target(settings, environment, retarget=options.retarget)
    settings.require_token(environment)  # the first thing to fix when several are missing
    author = resolve_author_email(options.author_email, settings)
    title = report.deploy_title(binding.arrow(settings, environment), dry_run=options.dry_run)
    with connect(settings, environment) as client:
        plan = plan_environment(
            client, settings, environment, force=options.force, progress=progress,
            prune_nodes=options.prune_nodes,
        )  # fmt: skip
        plan = select(plan, options.flows, environment, lib=options.lib)
        show(report.plan_table(plan, environment.folder, str(target)))
        uncommitted = uncommitted_files(settings, environment, plan)
        try:
            if uncommitted and not (options.allow_dirty or options.dry_run):
                raise DeployRefused(
                    f"nothing was sent to {target}: "
                    + dirty_reason(environment.folder, uncommitted)
                )
            if options.smoke:
                check_smoke(settings, environment, client)
            if not options.force:
                # A dry run only tells: it never waits.
                wait = 0.0 if options.dry_run else environment.wait_for_runs_s
                _wait_for_runs(client, plan, target, environment, wait, show)
            message = resolve_message(options.message, settings, environment, plan, uncommitted)
            outcome = send_plan(
                client, settings, environment, plan, author_email=author, message=message,
                dry_run=options.dry_run, force=options.force,
            )  # fmt: skip
        except GanymedeSyncError as error:
            _summarise(plan, environment, title, f"Not deployed: {error}", environ)
            raise
        record = None
        if outcome.sent and not outcome.dry_run:
            record = _record(client, settings, environment, outcome, author, message, uncommitted)
    result = DeployResult(environment.folder, target, outcome, author, record)
    if record is not None:
        report.append_output("record", f"refs/tags/{record.tag}", environ or {})
    _summarise(outcome.plan, environment, title, report.deploy_line(result), environ)
    if options.smoke and not options.dry_run:
        _smoke(settings, environment, result, connect, show)
    return result


def _record(
    client: GanymedeClient,
    settings: Settings,
    environment: Environment,
    outcome: SendOutcome,
    author: str,
    message: str,
    uncommitted: list[str],
) -> DeployRecord | None:
    """Record the deploy in git as a tag on the deployed commit (see ``deploy_history``).

    The flow versions come from one listing after the deploy; a listing that fails
    leaves them out rather than failing a deploy that is done.
    """
    repo = gitops.open_repository(settings.root)
    head = repo.head_commit() if repo is not None else None
    if head is None:
        return None
    plan = outcome.plan
    files = {
        path: blob_id(plan.contents[path]) if path in plan.contents else plan.remote_blobs[path]
        for path in outcome.sent
        if path in plan.contents or path in plan.remote_blobs
    }
    try:
        versions = listed_versions(client)
    except GanymedeSyncError:
        versions = {}
    flows = sorted({flow for path in files if is_flow_file(path) and (flow := flow_of(path))})
    record = DeployRecord(
        folder=environment.folder, target=settings.target(environment), commit=head.sha,
        time=utc_now(), author=author, message=message, files=files, flows=tuple(flows),
        versions=versions, only=plan.selected, with_lib=plan.with_lib,
        uncommitted=tuple(uncommitted),
    )  # fmt: skip
    return write_record(settings, record)


RUN_POLL_S = 2.0
"""How often a deploy that waits for runs asks Ganymede again."""


def _wait_for_runs(
    client: GanymedeClient,
    plan: DeployPlan,
    target: object,
    environment: Environment,
    wait: float,
    show: Show,
) -> None:
    """Wait up to ``wait`` s (the folder's ``wait_for_runs``) while runs of the flows the
    deploy changes are queued or running, then refuse with them listed.

    Ganymede disables flow runs environment-wide while it processes a save, so a deploy
    in the middle of a lab run is a risk. A change to lib/ touches every flow.
    """
    sending = plan.to_send
    if not sending:
        return
    every = sorted({flow for entry in plan.entries if (flow := flow_of(entry.path))})
    touched = sorted({flow for path in sending if (flow := flow_of(path))})
    flows = every if any(is_lib_path(path) for path in sending) else touched
    deadline = time.monotonic() + wait
    active = active_runs(client, flows)
    if active and wait > 0:
        show(
            f"waiting up to {wait:.0f} s for runs of the flows this "
            f"deploy changes to end ({_listed(active)}; [environments.{environment.folder}] "
            "wait_for_runs in ganymede.toml)"
        )
    while active and time.monotonic() < deadline:
        time.sleep(min(RUN_POLL_S, max(0.0, deadline - time.monotonic())))
        active = active_runs(client, flows)
    if active:
        waited = f" after waiting {wait:.0f} s" if wait else ""
        raise DeployRefused(
            f"nothing was sent to {target}: runs of the flows it would change are queued or "
            f"running{waited} ({_listed(active)}); deploy when they end, or with --force to "
            "deploy now"
        )


def _listed(active: Mapping[str, list[str]]) -> str:
    return "; ".join(
        f"{visible(flow)}: {', '.join(visible(run) for run in runs)}"
        for flow, runs in sorted(active.items())
    )


def _smoke(
    settings: Settings,
    environment: Environment,
    result: DeployResult,
    connect: ClientFactory,
    show: Show,
) -> None:
    """Run the folder's smoke flows after its deploy; a failed one fails the deploy task."""
    if not environment.smoke:
        show(
            f"no smoke runs set for {environment.folder}/ ([environments.{environment.folder}] "
            "smoke in ganymede.toml)"
        )
        return
    show(f"smoke runs of {environment.folder}/ in {result.target}:")
    try:
        run_smoke(settings, environment, connect=connect, show=show)
    except (FlowRunError, ConfigError) as error:
        # A smoke input that cannot be read is the smoke run's failure: the deploy is done.
        raise FlowRunError(
            f"{environment.folder}/ was deployed, but its smoke run failed: {error.problem}",
            hint=error.hint,
        ) from None


def _summarise(
    plan: DeployPlan,
    environment: Environment,
    title: str,
    outcome: str,
    environ: Mapping[str, str] | None,
) -> None:
    markdown = report.plan_markdown(plan, environment.folder, title=title, outcome=outcome)
    report.append_step_summary(markdown, environ or {})
