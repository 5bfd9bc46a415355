"""Who signs a Ganymede commit, and what its message says.

The author is the option, else the configured email, else the author of
``HEAD``; the message is the option, else the commits that changed the files being
sent since the version Ganymede holds. Git is asked through ``gitops`` only.
"""

from __future__ import annotations

from collections.abc import Iterable

from ganymede_sync.errors import ConfigError
from ganymede_sync.local import gitops
from ganymede_sync.plans.planning import DeployPlan, folder_paths
from ganymede_sync.rules.visible import visible
from ganymede_sync.settings.config import AUTHOR_EMAIL_VARIABLE, Environment, Settings


def resolve_author_email(option: str | None, settings: Settings) -> str:
    """Pick the commit author: the option, else ``AUTHOR_EMAIL_VARIABLE``, else HEAD's author."""
    if option:
        return option
    if settings.author_email:
        return settings.author_email
    head = _head_commit(settings)
    if head and head.author_email:
        return head.author_email
    raise ConfigError(
        "no author email for the Ganymede commit: pass --author-email or set "
        f"{AUTHOR_EMAIL_VARIABLE} to the email of your Ganymede user"
    )


LISTED_COMMITS = 3
"""A default commit message names this many commits, then counts the rest."""


def resolve_message(
    option: str | None,
    settings: Settings,
    environment: Environment,
    deploy_plan: DeployPlan,
    uncommitted: Iterable[str] = (),
) -> str:
    """Pick the Ganymede commit message: the option, else the commits being deployed.

    The default names the commits that changed the files to send since the version
    Ganymede holds (its last deploy or pull), never an unrelated ``HEAD``. Files
    sent with uncommitted changes are always named, so Ganymede's history says so.
    """
    uncommitted = list(uncommitted)
    # Ganymede shows the message to people: no control byte of a commit subject goes raw.
    text = visible(option or _deployed_commits(settings, environment, deploy_plan))
    if uncommitted:
        listing = folder_paths(environment.folder, uncommitted)
        if not text:
            return f"Uncommitted changes to {listing}"
        return f"{text} [with uncommitted changes to {listing}]"
    if text:
        return text
    head = _head_commit(settings)
    at = f" at {head.short_sha}" if head else ""
    return f"Deploy {environment.folder}/{at} from the self-managed repository"


def _deployed_commits(settings: Settings, environment: Environment, deploy_plan: DeployPlan) -> str:
    since = {path: deploy_plan.remote_blobs.get(path) for path in deploy_plan.to_send}
    repo = gitops.open_repository(settings.root)
    commits = repo.commits_since(environment.path, since) if repo is not None else []
    if not commits:
        return ""
    named = "; ".join(f"{c.subject} ({c.short_sha})" for c in commits[:LISTED_COMMITS])
    more = len(commits) - LISTED_COMMITS
    return f"{named}; and {more} earlier commit(s)" if more > 0 else named


def _head_commit(settings: Settings) -> gitops.HeadCommit | None:
    repo = gitops.open_repository(settings.root)
    return repo.head_commit() if repo is not None else None
