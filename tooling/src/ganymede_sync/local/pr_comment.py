"""The deploy plan as one pull request comment, updated in place through ``gh``.

One comment per pull request, found again by a marker line GitHub does not show, so
every push edits it instead of adding another. The body goes to ``gh`` in a file
(never as an argument) and the token is ``gh``'s own (``GH_TOKEN``).
"""

from __future__ import annotations

import json
import tempfile

from ganymede_sync.errors import GitHubError
from ganymede_sync.local.github import GitHubCli

MARKER = "<!-- ganymede-sync: deploy plan -->"
PAGE_SIZE = 100
MAX_PAGES = 50
"""A pull request with more than 5,000 comments is not searched further."""


def find_comment(cli: GitHubCli, repository: str, number: int) -> int | None:
    """Return the id of the pull request's plan comment, or None when it has none yet."""
    for page in range(1, MAX_PAGES + 1):
        path = f"repos/{repository}/issues/{number}/comments?per_page={PAGE_SIZE}&page={page}"
        listed = cli.json(["api", path])
        if not isinstance(listed, list):
            raise GitHubError(f"gh api {path} answered something other than a list")
        for comment in listed:
            body = comment.get("body") if isinstance(comment, dict) else None
            if isinstance(body, str) and body.startswith(MARKER):
                return int(comment["id"])
        if len(listed) < PAGE_SIZE:
            return None
    return None


def upsert_comment(
    cli: GitHubCli, repository: str, number: int, body: str, *, create: bool = True
) -> str:
    """Update the plan comment in place, or create it; return what was done.

    Without ``create`` an absent comment stays absent (a pull request that no longer
    touches an environment folder gets no new comment saying so).
    """
    existing = find_comment(cli, repository, number)
    if existing is None and not create:
        return "none"
    text = body if body.startswith(MARKER) else f"{MARKER}\n{body}"
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".json") as payload:
        json.dump({"body": text}, payload)
        payload.flush()
        if existing is None:
            path = f"repos/{repository}/issues/{number}/comments"
            cli.run(["api", "--method", "POST", path, "--input", payload.name])
            return "created"
        path = f"repos/{repository}/issues/comments/{existing}"
        cli.run(["api", "--method", "PATCH", path, "--input", payload.name])
        return "updated"
