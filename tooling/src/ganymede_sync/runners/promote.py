"""Diff and promote as the tasks run them: compare two folders, promote one into the next.

A promotion makes the target folder's managed files (``layout``) of the chosen flows,
and of ``lib/`` unless left out, equal to the source folder's. Everything else in the
target stays as it is: its other flows, its own files, its manifest (which still
records the target's last pull, so the next deploy of the target sees exactly what
the promotion changed). Nothing reaches Ganymede here: merging the promotion and
deploying the target does, through the usual deploy.

Before changing a file, a promotion plans the target's deploy as it will be
afterwards, from Ganymede's current state of the target (the only network use), and
refuses what that deploy would refuse: above all nodes the target lacks, since the
API cannot create nodes. A managed file that exists only in the target, inside a
promoted flow or ``lib/``, is deleted from the folder; the plan then says "deleted
here", because the API cannot delete it from Ganymede either.

``comparison`` compares the folders; ``report`` renders comparisons, plans and
results; ``connect`` makes the API client, as for ``pull`` and ``deploy``.

Never does: print, import Invoke, or touch a folder other than the target.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ganymede_sync.errors import (
    ConfigError,
    DeployRefused,
    FolderWriteError,
    GitError,
    LocalChangesError,
)
from ganymede_sync.local import gitops
from ganymede_sync.local.apply import replace_files
from ganymede_sync.plans import planning
from ganymede_sync.plans.comparison import Comparison, Selection, compare
from ganymede_sync.plans.reading import plan_environment
from ganymede_sync.remote.opening import open_client
from ganymede_sync.results import Promotion, PromotionResult, promotion_branch
from ganymede_sync.rules.layout import flow_of, is_valid_flow_name, scan_managed
from ganymede_sync.rules.visible import visible
from ganymede_sync.runners.runs import latest_smoke, load_smoke
from ganymede_sync.settings.config import CONFIG_FILE, Environment, Settings
from ganymede_sync.state import binding
from ganymede_sync.ui import report

if TYPE_CHECKING:
    from ganymede_sync.remote.client import ClientFactory, ProgressCallback

Show = Callable[[str], None]


def diff_environments(
    settings: Settings, folder: str | None, against: str | None, flow: str | None = None
) -> Comparison:
    """Compare ``folder`` with ``against``: one flow without ``lib/``, or everything."""
    source, target = settings.environment(folder), _other(settings, against, "--against")
    if flow is not None:
        _check_flow_name(flow)
    selection = Selection(frozenset({flow}), include_lib=False) if flow else Selection()
    return compare(source, target, selection)


# --- promoting ------------------------------------------------------------------
def check_chain(chain: Sequence[str], source: str, target: str) -> None:
    """Refuse a promotion that skips or reverses the ``[promotion] chain`` of ganymede.toml."""
    if not chain:
        return
    order = " -> ".join(chain)
    setting = f"[promotion] chain in {CONFIG_FILE} ({order})"
    if source not in chain or target not in chain:
        outside = source if source not in chain else target
        raise ConfigError(f"{outside} is not in the {setting}: promote along the chain only")
    following = chain.index(source) + 1
    if following >= len(chain):
        raise ConfigError(f"{source} is the last environment of the {setting}: nothing follows it")
    if chain[following] != target:
        raise ConfigError(
            f"the {setting} promotes {source} to {chain[following]} only, not to {target}"
        )


def prepare_promotion(
    settings: Settings,
    source_folder: str | None,
    target_folder: str | None,
    flows: Sequence[str] = (),
    *,
    include_lib: bool = True,
    commit: bool = False,
) -> Promotion:
    """Check that the promotion may run and decide what it changes, reading local files only."""
    source = _other(settings, source_folder, "--from")
    target = _other(settings, target_folder, "--to")
    if source.folder == target.folder:
        raise ConfigError(f"--from and --to both name {source.folder}: choose two environments")
    check_chain(settings.promotion_chain, source.folder, target.folder)
    chosen = _chosen_flows(source, flows)
    _refuse_dirty(settings, target)
    if commit:
        # The commit names the source's commit: what it promotes must be in that commit.
        _refuse_dirty(settings, source, chosen, include_lib)
        branch = promotion_branch(source.folder, target.folder)
        gitops.require_repository(settings.root).check_branch_can_start(branch)
    comparison = compare(source, target, Selection(frozenset(chosen), include_lib))
    return Promotion(source, target, tuple(chosen), include_lib, comparison)


def _other(settings: Settings, folder: str | None, option: str) -> Environment:
    if not folder:
        known = ", ".join(settings.environments)
        raise ConfigError(f"choose an environment with {option} (one of: {known})")
    return settings.environment(folder)


def _chosen_flows(source: Environment, flows: Sequence[str]) -> list[str]:
    """Return the flows to promote: those asked for, or every flow of the source folder."""
    present = sorted({flow for path in scan_managed(source.path) if (flow := flow_of(path))})
    if not flows:
        return present
    for flow in flows:
        _check_flow_name(flow)
        if flow not in present:
            raise ConfigError(
                f"flow '{flow}' has no node files in {source.folder}/: "
                f"choose among {', '.join(present) or 'none'}"
            )
    return sorted(set(flows))


def _check_flow_name(flow: str) -> None:
    if not is_valid_flow_name(flow):
        raise ConfigError(f"'{flow}' cannot name a flow folder")


def _refuse_dirty(
    settings: Settings,
    environment: Environment,
    flows: Sequence[str] | None = None,
    include_lib: bool = True,
) -> None:
    """Refuse uncommitted changes in ``environment`` (within ``flows`` and lib/ when given)."""
    repo = gitops.open_repository(settings.root)
    dirty = repo.dirty_paths(environment.path) if repo is not None else None
    if dirty is None:
        raise GitError(
            f"a promotion needs a git repository at {settings.root}, to check for "
            "uncommitted work and to undo it: run invoke init first"
        )
    if flows is not None:
        selection = Selection(frozenset(flows), include_lib)
        dirty = [path for path in dirty if selection.covers(path)]
    if dirty:
        shown = ", ".join(f"{environment.folder}/{path}" for path in dirty[:5])
        more = f" and {len(dirty) - 5} more" if len(dirty) > 5 else ""
        raise LocalChangesError(
            f"{environment.folder}/ has uncommitted changes: {shown}{more} "
            "(commit or stash them, then promote again)"
        )


def plan_after(
    settings: Settings,
    promotion: Promotion,
    progress: ProgressCallback | None = None,
    connect: ClientFactory = open_client,
) -> planning.DeployPlan:
    """Plan the target's deploy as it will be after the promotion, reading Ganymede's state.

    The target folder must be bound where this run would read, as for pull and deploy:
    a plan read from another environment would approve the wrong promotion.
    """
    binding.check_target(settings, promotion.target, retarget=False, can_retarget=False)
    with connect(settings, promotion.target) as client:
        return plan_environment(
            client, settings, promotion.target, progress=progress, pending=promotion.pending
        )


def refusal(promotion: Promotion, plan: planning.DeployPlan) -> str | None:
    """Say why the promotion must not happen, or None: what its deploy would refuse."""
    target = promotion.target
    reasons = planning.refusal_reasons(plan, target.folder)
    if not reasons:
        return None
    return f"nothing was changed in {target.folder}/: " + "; ".join(reasons)


def apply_promotion(promotion: Promotion) -> None:
    """Write and delete the target's files all or nothing, even across ``kill -9``.

    The files go through the pull's staging folder and journal (``replace_files``), so
    a killed promotion leaves the target entirely old or entirely new, and the next
    task of any kind restores a half-done one and says so.
    """
    target = promotion.target
    files = {path: new for path, (new, _) in promotion.comparison.contents.items()}
    try:
        replace_files(target.path, files, target.manifest_path)
    except FolderWriteError as error:
        raise FolderWriteError(
            error.problem,
            hint=f"fix that, then promote again; nothing was changed in {target.folder}/",
            path=error.path,
        ) from None


def commit_promotion(settings: Settings, promotion: Promotion) -> str | None:
    """Commit the promotion on its branch, then switch to it; return the commit's SHA.

    The commit is made from git objects alone, before any file changes, and the switch
    comes last: a promotion killed at any moment leaves the user on their own branch
    with their files as they were (at worst with the branch made, which a new run names).
    """
    repo = gitops.require_repository(settings.root)
    head = repo.head_commit()
    message = promotion.commit_message(head.short_sha if head else None)
    files = {path: new for path, (new, _) in promotion.comparison.contents.items()}
    sha = repo.commit_on_new_branch(promotion.branch, promotion.target.path, files, message)
    repo.switch(promotion.branch)
    return sha


def _check_smoke_covers(
    smoke: Sequence[tuple[str, str, str]], note: str, source: Environment, path: Path
) -> None:
    """Refuse saved smoke runs that leave out a smoke flow of the source (unless they say
    why they could not be read): a promotion must not pass for want of a row."""
    missing = sorted({run.flow for run in source.smoke} - {flow for flow, _, _ in smoke})
    if missing and not note:
        raise ConfigError(
            f"{visible(str(path))} has no smoke run of {', '.join(missing)} ({source.folder}/'s "
            f"smoke flows): write it again with invoke smoke-status --env {source.folder} --save"
        )


def run_promotion(
    settings: Settings,
    promotion: Promotion,
    show: Show,
    *,
    commit: bool = False,
    connect: ClientFactory = open_client,
    progress: ProgressCallback | None = None,
    ignore_smoke: bool = False,
    smoke_results: Path | None = None,
) -> PromotionResult:
    """Plan, show the plan, refuse or apply, and commit when asked.

    A source whose latest smoke run of a flow failed is not promoted, unless
    ``ignore_smoke``: what failed there would fail in the target too. The runs are read
    with the source's token, or from ``smoke_results`` (``invoke smoke-status --save``),
    which a job holding that token wrote.
    """
    if not promotion.comparison.differs:
        return PromotionResult(promotion, None)
    if smoke_results is not None:
        smoke, note = load_smoke(smoke_results, promotion.source.folder)
        _check_smoke_covers(smoke, note, promotion.source, smoke_results)
    else:
        smoke, note = latest_smoke(settings, promotion.source, connect=connect)
    if note:
        show(note)
    failed = [(flow, run) for flow, state, run in smoke if state == "Failed"]
    if failed and not ignore_smoke:
        listed = ", ".join(f"{flow} (run {visible(run)})" for flow, run in failed)
        raise DeployRefused(
            f"nothing was changed in {promotion.target.folder}/: the latest smoke run in "
            f"{promotion.source.folder}/ failed: {listed}; fix {promotion.source.folder}/ and "
            "run its smoke flows again, or promote with --ignore-smoke"
        )
    plan = plan_after(settings, promotion, progress, connect)
    show(report.promotion_plan_heading(promotion, binding.arrow(settings, promotion.target)))
    show(report.plan_table(plan, promotion.target.folder))
    reason = refusal(promotion, plan)
    if reason:
        raise DeployRefused(reason)
    if commit:
        return PromotionResult(
            promotion, plan, commit_promotion(settings, promotion), tuple(smoke), note
        )
    apply_promotion(promotion)
    sha = None
    return PromotionResult(promotion, plan, sha, tuple(smoke), note)
