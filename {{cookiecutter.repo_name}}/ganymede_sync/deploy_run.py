"""One deploy or status run as the tasks do it: plan, show, send, summarise.

``deploy`` decides and sends, ``report`` renders; this module puts them in the order
a person (or a workflow) expects and records the result in GitHub's step summary,
whether the deploy went through or was refused. ``show`` receives each piece of
text for the person as soon as it exists, so a plan is visible before sending;
``progress`` follows the download of Ganymede's current code that planning needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ganymede_sync import deploy as deploying
from ganymede_sync import naming, report
from ganymede_sync.client import GanymedeClient, ProgressCallback
from ganymede_sync.config import Environment, Settings
from ganymede_sync.errors import GanymedeSyncError
from ganymede_sync.sync import describe_restored, restore_interrupted

Show = Callable[[str], None]


def open_client(settings: Settings, environment: Environment) -> GanymedeClient:
    """Return the API client of ``environment`` (the token is checked before any request)."""
    return GanymedeClient(settings.api_url, settings.require_token(environment), environment.name)


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
) -> None:
    """Show what a deploy of ``folder`` would send and why it would be refused, if it would."""
    environment = settings.environment(folder)
    restore_first(environment, show)
    with open_client(settings, environment) as client:
        plan = deploying.plan_environment(client, settings, environment, progress=progress)
    show(report.plan_table(plan, environment.folder))
    for reason in deploying.refusal_reasons(plan, environment.folder):
        show(f"a deploy would be refused: {reason}")
    theirs = deploying.misnamed_in_ganymede(plan)
    if theirs:
        listed = naming.listing(environment.folder, theirs)
        show(
            f"a pull would refuse names Ganymede holds: {listed} (rename or remove them "
            "in Ganymede, or pull with --skip-invalid)"
        )


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
    progress: ProgressCallback | None = None,
) -> str:
    """Plan, show the plan, send it; return the line that says what happened.

    A refused or failed deploy still leaves its plan and reason in the step summary
    (when ``GITHUB_STEP_SUMMARY`` is set), then raises as before.
    """
    environment = settings.environment(folder)
    restore_first(environment, show)
    settings.require_token(environment)  # the first thing to fix when several are missing
    author = deploying.resolve_author_email(author_email, settings)
    text = deploying.resolve_message(message, settings)
    title = f"{'Dry run of the deploy' if dry_run else 'Deploy'} of {environment.folder}/"
    with open_client(settings, environment) as client:
        plan = deploying.plan_environment(
            client, settings, environment, force=force, progress=progress
        )
        show(report.plan_table(plan, environment.folder))
        try:
            outcome = deploying.deploy_environment(
                client, settings, environment, plan,
                author_email=author, message=text, dry_run=dry_run, force=force,
            )  # fmt: skip
        except GanymedeSyncError as error:
            _summarise(plan, environment, title, f"Not deployed: {error}", environ)
            raise
    line = report.outcome_line(outcome, environment.name, author_email=author)
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
