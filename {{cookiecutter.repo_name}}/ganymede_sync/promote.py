"""Compare two environment folders, and promote flow code from one to the next.

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

Never does: print, import Invoke, or touch a folder other than the target.
"""

from __future__ import annotations

import difflib
import enum
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ganymede_sync import gitops, planning, report
from ganymede_sync.client import ProgressCallback, open_client
from ganymede_sync.config import CONFIG_FILE, Environment, Settings
from ganymede_sync.errors import (
    ConfigError,
    DeployRefused,
    FolderWriteError,
    GitError,
    LocalChangesError,
)
from ganymede_sync.layout import LIB_DIR, flow_of, is_lib_path, is_valid_flow_name, scan_managed
from ganymede_sync.reading import plan_environment

Show = Callable[[str], None]


# --- comparing ------------------------------------------------------------------
class Difference(enum.Enum):
    """How one managed path compares between the source and the target folder."""

    SAME = "same"
    CHANGED = "changed"
    ONLY_SOURCE = "only in source"
    ONLY_TARGET = "only in target"


@dataclass(frozen=True)
class Selection:
    """Which managed paths a comparison or promotion covers: some flows, and maybe ``lib/``."""

    flows: frozenset[str] | None = None
    """None: every flow."""
    include_lib: bool = True

    def covers(self, path: str) -> bool:
        if is_lib_path(path):
            return self.include_lib
        return self.flows is None or flow_of(path) in self.flows


@dataclass(frozen=True)
class Comparison:
    """Every managed path of the selection in either folder, sorted, with its difference."""

    source: str
    target: str
    entries: tuple[tuple[str, Difference], ...]
    contents: Mapping[str, tuple[bytes | None, bytes | None]] = field(
        default_factory=dict, repr=False, compare=False
    )
    """Source and target bytes of every path that differs (None: absent on that side)."""

    def paths(self, *kinds: Difference) -> list[str]:
        return [path for path, kind in self.entries if kind in kinds]

    @property
    def differs(self) -> bool:
        return any(kind is not Difference.SAME for _, kind in self.entries)

    def where(self, kind: Difference) -> str:
        """Say ``changed``, ``only in dev/`` ... for people."""
        if kind is Difference.ONLY_SOURCE:
            return f"only in {self.source}/"
        if kind is Difference.ONLY_TARGET:
            return f"only in {self.target}/"
        return kind.value


def compare(source: Environment, target: Environment, selection: Selection) -> Comparison:
    """Compare the managed files of two folders byte for byte (flow code is small)."""
    theirs = {p: f for p, f in scan_managed(source.path).items() if selection.covers(p)}
    ours = {p: f for p, f in scan_managed(target.path).items() if selection.covers(p)}
    entries = []
    contents: dict[str, tuple[bytes | None, bytes | None]] = {}
    for path in sorted(set(theirs) | set(ours)):
        new = theirs[path].read_bytes() if path in theirs else None
        old = ours[path].read_bytes() if path in ours else None
        kind = _difference(new, old)
        entries.append((path, kind))
        if kind is not Difference.SAME:
            contents[path] = (new, old)
    return Comparison(source.folder, target.folder, tuple(entries), contents)


def _difference(new: bytes | None, old: bytes | None) -> Difference:
    if new == old:
        return Difference.SAME
    if new is None:
        return Difference.ONLY_TARGET
    return Difference.ONLY_SOURCE if old is None else Difference.CHANGED


def describe_comparison(comparison: Comparison) -> list[str]:
    """List each flow and ``lib/`` with how it differs, then each differing node or file."""
    rows: list[tuple[str, str]] = []
    for area, entries in _by_area(comparison.entries):
        rows.append((area, _overall(comparison, [kind for _, kind in entries])))
        if rows[-1][1] != "differs":
            continue
        for unit, unit_entries in _by_node(entries):
            kinds = [kind for _, kind in unit_entries]
            whole = _overall(comparison, kinds)
            if unit.endswith("/") and whole.startswith("only in"):
                rows.append(("  " + unit, whole))
                continue
            for path, kind in unit_entries:
                if kind is not Difference.SAME:
                    rows.append(("  " + path, comparison.where(kind)))
    width = max((len(name) for name, _ in rows), default=0)
    lines = [f"{name:<{width}}  {what}" for name, what in rows]
    return [*lines, summary_line(comparison)]


def summary_line(comparison: Comparison) -> str:
    """Say in one line whether the folders differ, with counts of files."""
    source, target = f"{comparison.source}/", f"{comparison.target}/"
    counts = {kind: len(comparison.paths(kind)) for kind in Difference}
    if not comparison.entries:
        return f"{source} and {target} hold no flow code to compare"
    if not comparison.differs:
        return f"{source} and {target} are equal ({counts[Difference.SAME]} files)"
    return (
        f"{source} and {target} differ: {counts[Difference.CHANGED]} changed, "
        f"{counts[Difference.ONLY_SOURCE]} only in {source}, "
        f"{counts[Difference.ONLY_TARGET]} only in {target}, {counts[Difference.SAME]} same"
    )


def unified_diffs(comparison: Comparison) -> Iterator[str]:
    """Yield a unified diff per differing file, from the target's version to the source's.

    That is the change a promotion from the source makes to the target.
    """
    for path, (new, old) in sorted(comparison.contents.items()):
        before = f"{comparison.target}/{path}" if old is not None else "/dev/null"
        after = f"{comparison.source}/{path}" if new is not None else "/dev/null"
        yield from difflib.unified_diff(
            _lines(old), _lines(new), fromfile=before, tofile=after, lineterm=""
        )


def _lines(data: bytes | None) -> list[str]:
    if data is None:
        return []
    text = data.decode("utf-8", errors="replace")
    return [line.rstrip("\r\n") for line in text.splitlines(keepends=True)]


def _by_area(
    entries: Iterable[tuple[str, Difference]],
) -> list[tuple[str, list[tuple[str, Difference]]]]:
    """Group entries by flow (``<flow>/``) then ``lib/``, each group in path order."""
    groups: dict[str, list[tuple[str, Difference]]] = {}
    for path, kind in entries:
        area = f"{LIB_DIR}/" if is_lib_path(path) else f"{flow_of(path)}/"
        groups.setdefault(area, []).append((path, kind))
    return sorted(groups.items(), key=lambda item: (item[0] == f"{LIB_DIR}/", item[0]))


def _by_node(
    entries: Sequence[tuple[str, Difference]],
) -> list[tuple[str, list[tuple[str, Difference]]]]:
    """Group entries by node (``<flow>/<node>/``); a lib file is a group of its own."""
    groups: dict[str, list[tuple[str, Difference]]] = {}
    for path, kind in entries:
        unit = path if is_lib_path(path) else "/".join(path.split("/")[:2]) + "/"
        groups.setdefault(unit, []).append((path, kind))
    return list(groups.items())


def _overall(comparison: Comparison, kinds: Sequence[Difference]) -> str:
    """Say how a group of files compares: same, only in one folder, or differs."""
    if all(kind is Difference.SAME for kind in kinds):
        return "same"
    for only in (Difference.ONLY_SOURCE, Difference.ONLY_TARGET):
        if all(kind is only for kind in kinds):
            return comparison.where(only)
    return "differs"


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
@dataclass(frozen=True)
class Promotion:
    """What a promotion writes into the target folder, decided before anything changes."""

    source: Environment
    target: Environment
    flows: tuple[str, ...]
    include_lib: bool
    comparison: Comparison

    @property
    def pending(self) -> dict[str, bytes | None]:
        """Target paths to write (new bytes) or delete (None)."""
        return {path: new for path, (new, _) in self.comparison.contents.items()}

    @property
    def branch(self) -> str:
        return promotion_branch(self.source.folder, self.target.folder)

    def what(self) -> str:
        """Name the promoted flows, and ``lib/`` when it is part of the promotion."""
        flows = self.flows[0] if len(self.flows) == 1 else f"{len(self.flows)} flows"
        if not self.flows:
            return f"{LIB_DIR}/" if self.include_lib else "no flow code"
        return f"{flows} and {LIB_DIR}/" if self.include_lib else flows

    def commit_message(self, source_commit: str | None) -> str:
        subject = f"Promote {self.what()} from {self.source.folder} to {self.target.folder}"
        body = [f"Flows: {', '.join(self.flows) or 'none'}"]
        body.append(f"lib/: {'promoted' if self.include_lib else 'left as it was'}")
        if source_commit:
            body.append(f"Source: {self.source.folder}/ as of commit {source_commit}")
        return subject + "\n\n" + "\n".join(body) + "\n"


@dataclass(frozen=True)
class PromotionResult:
    """What a promotion did, for the summary lines and a pull request's body."""

    promotion: Promotion
    plan: planning.DeployPlan | None
    """The target's deploy plan after the promotion; None when nothing changed."""
    commit: str | None = None


def promotion_branch(source: str, target: str) -> str:
    """Name the branch of a promotion: one per source and target pair."""
    return f"promote/{source}-to-{target}"


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
    settings: Settings, promotion: Promotion, progress: ProgressCallback | None = None
) -> planning.DeployPlan:
    """Plan the target's deploy as it will be after the promotion, reading Ganymede's state."""
    with open_client(settings, promotion.target) as client:
        return plan_environment(
            client, settings, promotion.target, progress=progress, pending=promotion.pending
        )


def refusal(promotion: Promotion, plan: planning.DeployPlan) -> str | None:
    """Say why the promotion must not happen, or None: what its deploy would refuse."""
    target = promotion.target
    reasons = []
    nodes = sorted({path.rsplit("/", 1)[0] for path in plan.paths(planning.Status.NEW_NODE)})
    if nodes:
        reasons.append(
            f"Ganymede environment '{target.name}' has no node {', '.join(nodes)}, which "
            f"{promotion.source.folder}/ has, and the API cannot create nodes: create each "
            f"in Ganymede's Flow Editor of '{target.name}', run invoke pull --env "
            f"{target.folder}, then promote again"
        )
    others = planning.DeployPlan(
        tuple(e for e in plan.entries if e.status is not planning.Status.NEW_NODE),
        plan.contents,
    )
    reasons += planning.refusal_reasons(others, target.folder)
    if not reasons:
        return None
    return f"nothing was changed in {target.folder}/: " + "; ".join(reasons)


def apply_promotion(promotion: Promotion) -> None:
    """Write and delete the target's files; on any failure put back every file as it was."""
    folder = promotion.target.path
    done: list[tuple[str, bytes | None]] = []
    path = ""
    try:
        for path, (new, old) in sorted(promotion.comparison.contents.items()):
            _put(folder, path, new)
            done.append((path, old))
    except BaseException as error:
        for written, old in reversed(done):
            _put(folder, written, old)
        if isinstance(error, OSError):
            where = f"{promotion.target.folder}/{path}"
            reason = error.strerror or error
            raise FolderWriteError(
                f"could not write {where} ({reason})",
                hint=f"fix that, then promote again; nothing was changed in "
                f"{promotion.target.folder}/",
                path=where,
            ) from None
        raise


def _put(folder: Path, path: str, data: bytes | None) -> None:
    """Write ``data`` to ``folder/path`` atomically, or delete it (and emptied folders).

    All or nothing for the one file: a failure leaves it as it was.
    """
    target = folder / path
    if data is None:
        target.unlink(missing_ok=True)
        for parent in target.parents:
            if parent == folder or not parent.is_dir() or any(parent.iterdir()):
                break
            parent.rmdir()
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_name(f".{target.name}.promoting")
    try:
        scratch.write_bytes(data)
        os.replace(scratch, target)
    finally:
        scratch.unlink(missing_ok=True)


def commit_promotion(settings: Settings, promotion: Promotion) -> str | None:
    """Commit the target folder on the promotion's branch; return the commit's SHA."""
    repo = gitops.require_repository(settings.root)
    head = repo.head_commit()
    repo.start_branch(promotion.branch)
    message = promotion.commit_message(head.short_sha if head else None)
    return repo.commit_paths([promotion.target.path], message)


def run_promotion(
    settings: Settings,
    promotion: Promotion,
    show: Show,
    *,
    commit: bool = False,
    progress: ProgressCallback | None = None,
) -> PromotionResult:
    """Plan, show the plan, refuse or apply, and commit when asked."""
    if not promotion.comparison.differs:
        return PromotionResult(promotion, None)
    plan = plan_after(settings, promotion, progress)
    show(
        f"Deploy plan of {promotion.target.folder}/ after promoting {promotion.what()} "
        f"from {promotion.source.folder}/:"
    )
    show(report.plan_table(plan, promotion.target.folder))
    reason = refusal(promotion, plan)
    if reason:
        raise DeployRefused(reason)
    apply_promotion(promotion)
    sha = commit_promotion(settings, promotion) if commit else None
    return PromotionResult(promotion, plan, sha)


def describe_promotion(result: PromotionResult) -> list[str]:
    """Say what the promotion changed in the target folder and what comes next."""
    promotion = result.promotion
    source, target = promotion.source.folder, promotion.target.folder
    if result.plan is None:
        return [f"nothing to promote: {target}/ already has {source}/'s {promotion.what()}"]
    comparison = promotion.comparison
    lines = []
    verbs = {
        Difference.CHANGED: "updated",
        Difference.ONLY_SOURCE: "added  ",
        Difference.ONLY_TARGET: "removed",
    }
    for path, kind in comparison.entries:
        if kind in verbs:
            lines.append(f"{verbs[kind]} {target}/{path}")
    removed = comparison.paths(Difference.ONLY_TARGET)
    if removed:
        lines.append(
            f"note: {len(removed)} removed file(s) stay in Ganymede's '{promotion.target.name}' "
            "(the API cannot delete): remove them in Ganymede if they should go"
        )
    changed = len(comparison.contents)
    lines.append(f"promoted {promotion.what()} from {source} to {target}: {changed} file(s)")
    if result.commit:
        lines.append(f"committed {result.commit[:12]} on branch {promotion.branch}")
        lines.append(
            f"next: open a pull request from {promotion.branch}; merging it deploys {target}"
        )
    else:
        lines.append(f"next: review with git diff, commit, then invoke deploy --env {target}")
    return lines


def pull_request_body(result: PromotionResult) -> str:
    """Return the markdown a reviewer reads in the promotion's pull request."""
    promotion = result.promotion
    source, target = promotion.source.folder, promotion.target.folder
    flows = ", ".join(f"`{flow}`" for flow in promotion.flows) or "none"
    lines = [
        f"Promotes flow code from `{source}/` to `{target}/`.",
        "",
        f"- Flows: {flows}",
        f"- `lib/`: {'promoted' if promotion.include_lib else 'left as it was'}",
        f"- {summary_line(promotion.comparison)} (before this promotion)",
        "",
    ]
    if result.plan is not None:
        title = f"Deploy plan of {target}/ after this promotion"
        outcome = (
            f"Merging deploys {target}/ to Ganymede through the deploy workflow, "
            f"with the protection rules of the {target} environment."
        )
        lines.append(report.plan_markdown(result.plan, target, title=title, outcome=outcome))
    return "\n".join(lines)
