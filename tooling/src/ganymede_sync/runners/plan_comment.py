"""The deploy plan of a pull request as one comment: read the plan jobs' files, post.

The plan jobs write ``invoke status --json-file`` documents; the comment job, the only
one allowed to write pull request comments, reads them here as untrusted input (each
bounded in size and checked for shape) and posts one comment through ``gh``.

Never prints and never imports Invoke.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ganymede_sync.errors import ConfigError
from ganymede_sync.local import github
from ganymede_sync.local.pr_comment import upsert_comment
from ganymede_sync.rules.visible import visible

MAX_PLAN_BYTES = 8 * 1024 * 1024
MAX_PLANS = 200


def read_plans(folder: str | None, *, nothing_changed: bool = False) -> list[dict[str, Any]]:
    """Read every ``*.json`` plan of ``folder``; with ``nothing_changed``, none is expected.

    A missing or empty folder is an error otherwise: a plan job that failed, or plans
    that never arrived, must not read as "merging deploys nothing".
    """
    if nothing_changed:
        return []
    if not folder or not Path(folder).is_dir():
        shown = visible(folder) if folder else "no folder"
        raise ConfigError(
            f"--plans: {shown} is not a folder of plans (invoke status --json-file writes "
            "them); when the pull request changes no environment folder, pass --nothing-changed"
        )
    plans = []
    for path in sorted(Path(folder).glob("*.json"))[:MAX_PLANS]:
        if path.stat().st_size > MAX_PLAN_BYTES:
            raise ConfigError(f"plan file {visible(path.name)} is over {MAX_PLAN_BYTES} bytes")
        try:
            plan = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise ConfigError(
                f"plan file {visible(path.name)} is not JSON: write it with invoke status "
                "--json-file"
            ) from None
        if not isinstance(plan, dict) or not isinstance(plan.get("folder"), str):
            raise ConfigError(f"plan file {visible(path.name)} is not a plan of invoke status")
        plans.append(plan)
    if not plans:
        raise ConfigError(
            f"--plans: {visible(folder)} holds no plan (*.json from invoke status --json-file)"
        )
    return plans


def post_plan_comment(body: str, pr: object, repository: str | None, *, create: bool) -> str:
    """Create or update the pull request's plan comment; return "created", "updated" or
    "none" (nothing to say and no comment to correct)."""
    try:
        number = int(str(pr))
    except ValueError:
        raise ConfigError("give the pull request's number with --pr") from None
    cli = github.connect()
    repo = github.resolve_repository(cli, repository)
    return upsert_comment(cli, repo, number, body, create=create)
