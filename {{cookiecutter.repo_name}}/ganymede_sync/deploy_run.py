"""One deploy or status run as the tasks do it: plan, show, send, summarise.

``deploy`` decides and sends, ``report`` renders; this module puts them in the order
a person (or a workflow) expects and records the result in GitHub's step summary,
whether the deploy went through or was refused. ``show`` receives each piece of
text for the person as soon as it exists, so a plan is visible before sending;
``progress`` follows the download of Ganymede's current code that planning needs.
Every run first checks that the folder goes where it is bound (``binding``), and
a deploy sends committed code only, unless asked to send uncommitted files.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ganymede_sync import binding, gitops, naming, report
from ganymede_sync import deploy as deploying
from ganymede_sync.client import GanymedeClient, ProgressCallback
from ganymede_sync.config import Environment, Settings
from ganymede_sync.errors import ConfigError, DeployRefused, GanymedeSyncError
from ganymede_sync.sync import describe_restored, restore_interrupted

Show = Callable[[str], None]

NOTHING_TO_SEND, ERROR, SOMETHING_TO_SEND = 0, 1, 2
"""Exit codes of ``invoke status``, as ``terraform plan -detailed-exitcode`` has them."""


@dataclass(frozen=True)
class StatusResult:
    """What ``invoke status`` found: the plan, its target, and why a deploy would refuse it."""

    folder: str
    target: binding.Target
    plan: deploying.DeployPlan
    reasons: list[str]
    offline: bool = False
    diffs: dict[str, str] = field(default_factory=dict)
    """Path -> unified diff of Ganymede's content against the local file (with ``--diff``)."""

    @property
    def exit_code(self) -> int:
        """0 nothing to send, 2 something to send, 1 a deploy would be refused."""
        if self.reasons:
            return ERROR
        return SOMETHING_TO_SEND if self.plan.to_send else NOTHING_TO_SEND

    def as_data(self) -> dict[str, object]:
        """The plan as JSON-ready data (``invoke status --json``)."""
        result = {NOTHING_TO_SEND: "nothing-to-send", SOMETHING_TO_SEND: "to-send"}
        return {
            "folder": self.folder,
            "target": str(self.target),
            "tenant": self.target.tenant,
            "environment": self.target.environment,
            "offline": self.offline,
            "result": result.get(self.exit_code, "refused"),
            "exit_code": self.exit_code,
            "files": [
                {"path": f"{self.folder}/{entry.path}", "status": entry.status.name.lower()}
                for entry in self.plan.entries
            ],
            "refusals": list(self.reasons),
        }


def open_client(settings: Settings, environment: Environment) -> GanymedeClient:
    """Return the API client of ``environment`` (the token is checked before any request)."""
    token = settings.require_token(environment)
    return GanymedeClient(settings.api_url, token, environment.name, network=settings.network)


def uncommitted_files(
    settings: Settings, environment: Environment, deploy_plan: deploying.DeployPlan
) -> list[str]:
    """Return the files to send that differ from ``HEAD`` (all of them outside git)."""
    repo = gitops.open_repository(settings.root)
    dirty = repo.dirty_paths(environment.path) if repo is not None else None
    if dirty is None:
        return list(deploy_plan.to_send)
    return sorted(set(deploy_plan.to_send) & set(dirty))


def dirty_reason(folder: str, paths: list[str]) -> str:
    """Say which files are uncommitted and the two ways forward."""
    listing = ", ".join(f"{folder}/{path}" for path in paths)
    return (
        f"uncommitted changes to files it would send: {listing} (commit them: "
        f"git add {folder} && git commit; or deploy with --allow-dirty to send them as they are)"
    )


def restore_first(environment: Environment, show: Show) -> None:
    """Undo the half-done swap of a pull killed earlier, before reading the folder."""
    restored = restore_interrupted(environment.path)
    if restored:
        show(describe_restored(environment.folder, restored))


def run_status(
    settings: Settings,
    folder: str | None,
    show: Show,
    progress: ProgressCallback | None = None,
    *,
    retarget: bool = False,
    allow_dirty: bool = False,
    offline: bool = False,
    diff: bool = False,
    environ: Mapping[str, str] | None = None,
) -> StatusResult:
    """Plan a deploy of ``folder`` and show it; return the plan and the refusals as data.

    ``offline`` plans against the last pull instead of reading Ganymede (no token
    needed). ``show`` gets the table, the refusals and the diffs; nothing is sent.
    """
    environment = settings.environment(folder)
    restore_first(environment, show)
    target = binding.check_target(settings, environment, retarget=retarget)
    if offline and diff:
        raise ConfigError("--diff compares with Ganymede's content: run it without --offline")
    diffs: dict[str, str] = {}
    if offline:
        plan = deploying.plan_offline(settings, environment)
    else:
        with open_client(settings, environment) as client:
            plan = deploying.plan_environment(client, settings, environment, progress=progress)
            if diff and plan.to_send:
                diffs = _diffs(client, settings, environment, plan)
    reasons = deploying.refusal_reasons(plan, environment.folder)
    uncommitted = uncommitted_files(settings, environment, plan)
    if uncommitted and not allow_dirty:
        reasons.append(dirty_reason(environment.folder, uncommitted))
    result = StatusResult(environment.folder, target, plan, reasons, offline, diffs)
    show(report.plan_table(plan, environment.folder, str(target)))
    if offline:
        show(
            f"offline plan: compared with the last pull in .ganymede/{environment.folder}.json; "
            "edits made in Ganymede since are not seen"
        )
    for reason in reasons:
        show(f"a deploy would be refused: {reason}")
    theirs = deploying.misnamed_in_ganymede(plan)
    if theirs:
        listed = naming.listing(environment.folder, theirs)
        show(
            f"a pull would refuse names Ganymede holds: {listed} (rename or remove them "
            "in Ganymede, or pull with --skip-invalid)"
        )
    for text in diffs.values():
        show(text.rstrip("\n"))
    title = f"{'Offline plan' if offline else 'Plan'} for {binding.arrow(settings, environment)}"
    outcome = {
        NOTHING_TO_SEND: "Nothing to send.",
        SOMETHING_TO_SEND: f"A deploy would send {len(plan.to_send)} file(s) to {target}.",
    }.get(result.exit_code, "A deploy would be refused: " + "; ".join(reasons))
    _summarise(plan, environment, title, outcome, environ or {})
    return result


def _diffs(
    client: GanymedeClient,
    settings: Settings,
    environment: Environment,
    plan: deploying.DeployPlan,
) -> dict[str, str]:
    """Return a unified diff per file to send: Ganymede's content -> the local file."""
    theirs = deploying.read_remote_contents(client, plan.to_send, settings.archive_limits)
    return {
        path: unified_diff(f"{environment.folder}/{path}", theirs.get(path), plan.contents[path])
        for path in plan.to_send
    }


def unified_diff(name: str, old: bytes | None, new: bytes) -> str:
    """Return ``diff -u`` style text from Ganymede's ``old`` (None: absent) to ``new``."""
    before = "/dev/null" if old is None else f"ganymede/{name}"
    try:
        old_lines = (old or b"").decode("utf-8").splitlines(keepends=True)
        new_lines = new.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return f"Binary files {before} and local/{name} differ\n"
    lines = difflib.unified_diff(old_lines, new_lines, before, f"local/{name}")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def run_deploy(
    settings: Settings,
    folder: str | None,
    show: Show,
    environ: Mapping[str, str],
    *,
    dry_run: bool = False,
    author_email: str | None = None,
    message: str | None = None,
    force: bool = False,
    retarget: bool = False,
    allow_dirty: bool = False,
    progress: ProgressCallback | None = None,
) -> str:
    """Plan, show the plan, send it; return the line that says what happened.

    A refused or failed deploy still leaves its plan and reason in the step summary
    (when ``GITHUB_STEP_SUMMARY`` is set), then raises as before. Files with
    uncommitted changes are refused unless ``allow_dirty`` (a dry run sends nothing
    to keep, so it shows them without refusing).
    """
    environment = settings.environment(folder)
    restore_first(environment, show)
    target = binding.check_target(settings, environment, retarget=retarget)
    settings.require_token(environment)  # the first thing to fix when several are missing
    author = deploying.resolve_author_email(author_email, settings)
    kind = "Dry run of the deploy" if dry_run else "Deploy"
    title = f"{kind} of {binding.arrow(settings, environment)}"
    with open_client(settings, environment) as client:
        plan = deploying.plan_environment(
            client, settings, environment, force=force, progress=progress
        )
        show(report.plan_table(plan, environment.folder, str(target)))
        uncommitted = uncommitted_files(settings, environment, plan)
        try:
            if uncommitted and not (allow_dirty or dry_run):
                raise DeployRefused(
                    f"nothing was sent to {target}: "
                    + dirty_reason(environment.folder, uncommitted)
                )
            text = deploying.resolve_message(message, settings, environment, plan, uncommitted)
            outcome = deploying.deploy_environment(
                client, settings, environment, plan,
                author_email=author, message=text, dry_run=dry_run, force=force,
            )  # fmt: skip
        except GanymedeSyncError as error:
            _summarise(plan, environment, title, f"Not deployed: {error}", environ)
            raise
    line = report.outcome_line(outcome, str(target), author_email=author, folder=environment.folder)
    _summarise(outcome.plan, environment, title, line, environ)
    return line


def _summarise(
    plan: deploying.DeployPlan,
    environment: Environment,
    title: str,
    outcome: str,
    environ: Mapping[str, str],
) -> None:
    markdown = report.plan_markdown(plan, environment.folder, title=title, outcome=outcome)
    report.append_step_summary(markdown, environ)
