"""Render a deploy plan for people: a terminal table and GitHub step-summary markdown.

Never does: print, decide anything about the plan, or show unchanged files one by
one (a lab environment has hundreds; the totals count them).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ganymede_sync.deploy import DeployOutcome, DeployPlan, Status

SHORT_NAMES = {
    Status.UNCHANGED: "unchanged",
    Status.SEND: "to send",
    Status.NEW_LIB: "new lib",
    Status.OVERWRITE: "to overwrite",
    Status.REMOTE_AHEAD: "changed in Ganymede",
    Status.CONFLICT: "conflicting",
    Status.NEW_NODE: "new node",
    Status.DELETED_LOCALLY: "deleted here",
}
"""Words of the totals line, one per status."""


def totals_line(plan: DeployPlan) -> str:
    """Return ``3 unchanged, 1 to send, ...`` (or say the folder is empty)."""
    totals = plan.totals()
    if not totals:
        return "no flow code on either side"
    return ", ".join(f"{count} {SHORT_NAMES[status]}" for status, count in totals.items())


def plan_table(plan: DeployPlan, folder: str, target: str | None = None) -> str:
    """Return the plan as aligned ``path  status`` rows followed by the totals.

    With ``target`` (``acme/prod``) the first line names where the code would go.
    """
    rows = [(f"{folder}/{e.path}", e.status.value) for e in plan.entries if _shown(e.status)]
    label = f"{folder}/ -> {target}" if target else f"{folder}/"
    if not rows:
        return f"{label} matches Ganymede: nothing to deploy ({totals_line(plan)})"
    width = max(len("path"), *(len(path) for path, _ in rows))
    lines = [f"plan for {label}:"] if target else []
    lines += [f"{'path':<{width}}  status"]
    lines += [f"{path:<{width}}  {status}" for path, status in rows]
    lines.append(f"total: {totals_line(plan)}")
    return "\n".join(lines)


def plan_markdown(plan: DeployPlan, folder: str, *, title: str, outcome: str) -> str:
    """Return the plan as a markdown section for the GitHub step summary."""
    lines = [f"### {_escape(title)}", "", _escape(outcome), ""]
    rows = [entry for entry in plan.entries if _shown(entry.status)]
    if rows:
        lines += ["| path | status |", "| --- | --- |"]
        lines += [f"| `{_code(folder + '/' + e.path)}` | {_escape(e.status.value)} |" for e in rows]
        lines.append("")
    lines += [f"Total: {totals_line(plan)}", ""]
    return "\n".join(lines)


def outcome_line(
    outcome: DeployOutcome, environment: str, *, author_email: str, folder: str | None = None
) -> str:
    """Say in one line what the deploy did in Ganymede (``environment``: best the target).

    With ``folder`` the line reads ``... from prod/ to acme/prod ...``.
    """
    if folder:
        environment = f"{environment} (from {folder}/)"
    count = len(outcome.sent)
    files = f"{count} file{'s' if count != 1 else ''}"
    if outcome.dry_run:
        if not outcome.sent:
            return f"dry run: nothing to send to {environment}"
        return f"dry run: Ganymede accepted {files} for {environment}; nothing was committed"
    if outcome.replanned and not outcome.plan.to_send and outcome.sent:
        return (
            f"deployed {files} to {environment} as {author_email}: the answer was lost, "
            "and reading Ganymede again showed the commit had been made"
        )
    if not outcome.sent:
        return f"nothing to send: {environment} already has this code"
    if not made_a_commit(outcome.answer):
        return (
            f"sent {files} to {environment}, but Ganymede made no commit: it already had "
            "this content (another deploy may have sent it meanwhile)"
        )
    return f"deployed {files} to {environment} as one commit by {author_email}"


def made_a_commit(answer: str) -> bool:
    """Tell from a PUT's answer whether Ganymede committed (unless it says it did not).

    Ganymede answers a PUT that changes nothing with 200 and a text saying so; only
    that answer counts as no commit, so an unknown wording never hides one.
    """
    said = answer.casefold()
    return not ("nothing committed" in said or said.startswith("no changes"))


def append_step_summary(markdown: str, environ: Mapping[str, str]) -> bool:
    """Append ``markdown`` to the file named by ``GITHUB_STEP_SUMMARY``; tell whether it did."""
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    with Path(target).open("a", encoding="utf-8") as handle:
        handle.write(markdown + "\n")
    return True


def _shown(status: Status) -> bool:
    return status is not Status.UNCHANGED


def _escape(text: str) -> str:
    """Keep text from turning into markdown or HTML (file names come from users)."""
    for character in "\\`*_[]<>|#":
        text = text.replace(character, "\\" + character)
    return text


def _code(text: str) -> str:
    return text.replace("`", "'").replace("|", "\\|")
