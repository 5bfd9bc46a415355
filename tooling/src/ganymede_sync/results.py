"""What each task did, as data: the runners return these and ``ui`` renders them.

They live below both, so the runners never need the renderers' module and the
renderers never need a runner's: presentation and work meet only in ``tasks``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ganymede_sync.local.deploy_history import DeployRecord
from ganymede_sync.plans.comparison import Comparison
from ganymede_sync.plans.planning import DeployPlan
from ganymede_sync.rules.layout import LIB_DIR, Scope
from ganymede_sync.settings.config import Environment
from ganymede_sync.state.binding import Target

NOTHING_TO_SEND, ERROR, SOMETHING_TO_SEND = 0, 1, 2
"""Exit codes of ``invoke status``, as ``terraform plan -detailed-exitcode`` has them."""


@dataclass(frozen=True)
class SendOutcome:
    """What a deploy did: the final plan, the paths Ganymede received, its answer."""

    plan: DeployPlan
    sent: tuple[str, ...]
    dry_run: bool
    answer: str = ""
    replanned: bool = False
    """True when an answer never came and the remote was read again to decide."""


@dataclass(frozen=True)
class PullResult:
    """What a pull did, for people (``report.describe_pull``) and for tests."""

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
    commit_message: str = ""
    commit_requested: bool = False
    downloaded_bytes: int = 0
    seconds: float = 0.0

    @property
    def has_changes(self) -> bool:
        """Tell whether any file of the folder was added, changed or removed."""
        return bool(self.added or self.changed or self.removed)


@dataclass(frozen=True)
class DeployResult:
    """What a deploy did, for people (``report.deploy_line``) and for tests."""

    folder: str
    target: Target
    outcome: SendOutcome
    author_email: str
    record: DeployRecord | None = None
    """The deploy's record in git (a tag), when it sent anything from a repository."""


@dataclass(frozen=True)
class StatusResult:
    """What ``invoke status`` found: the plan, its target, and why a deploy would refuse it."""

    folder: str
    target: Target
    plan: DeployPlan
    reasons: list[str]
    offline: bool = False
    diffs: dict[str, str] = field(default_factory=dict)
    """Path -> unified diff of Ganymede's content against the local file (with ``diff``)."""
    misnamed_in_ganymede: dict[str, str] = field(default_factory=dict)
    """Paths Ganymede holds that a pull would refuse -> why."""

    @property
    def exit_code(self) -> int:
        """0 nothing to send, 2 something to send, 1 a deploy would be refused."""
        if self.reasons:
            return ERROR
        return SOMETHING_TO_SEND if self.plan.to_send else NOTHING_TO_SEND


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
    plan: DeployPlan | None
    """The target's deploy plan after the promotion; None when nothing changed."""
    commit: str | None = None
    smoke: tuple[tuple[str, str, str], ...] = ()
    """(flow, state, run id) of the source's latest smoke runs, as read before promoting."""
    smoke_note: str = ""
    """Why the source's smoke runs were not read, when they were not."""


def promotion_branch(source: str, target: str) -> str:
    """Name the branch of a promotion: one per source and target pair."""
    return f"promote/{source}-to-{target}"


@dataclass(frozen=True)
class RunResult:
    """What ``invoke run`` did: the run's id and its last known record."""

    folder: str
    target: str
    flow: str
    run_id: str | None
    record: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def state(self) -> str:
        return str(self.record.get("state", "Queued" if self.run_id else ""))


@dataclass(frozen=True)
class Rollback:
    """A planned rollback: the folder, what it goes back to, and the files that change."""

    environment: Environment
    commit: str
    """The full SHA whose folder content is restored."""
    label: str
    """What the user named: a deploy's tag or a commit."""
    files: dict[str, bytes | None]
    """Path in the folder -> the bytes it gets back, or None to delete it."""
    branch: str

    @property
    def short_commit(self) -> str:
        return self.commit[:10]

    def commit_message(self) -> str:
        return (
            f"Roll {self.environment.folder}/ back to {self.label}\n\n"
            f"Makes the managed files of {self.environment.folder}/ equal to commit "
            f"{self.commit}.\nMade by invoke rollback; merge it to deploy it."
        )


@dataclass(frozen=True)
class RollbackResult:
    """What a rollback did: its plan, the commit on its branch, and a deploy if asked."""

    rollback: Rollback
    plan: DeployPlan | None
    commit: str | None = None
    deployed: DeployResult | None = None
    """The deploy of ``rollback --deploy``."""


@dataclass(frozen=True)
class Notice:
    """One event to tell of, as the workflow knows it."""

    event: str
    outcome: str | None = None
    """How the deploy job went (``deploy`` events): success, failure or cancelled."""
    record: str | None = None
    """The deploy's record tag (``deploy`` events), when the deploy made one."""
    link: str | None = None
    """The pull request a ``drift`` or ``promotion`` event is about."""
    run_url: str | None = None
    source: str | None = None
    """The folder a ``promotion`` comes from."""
