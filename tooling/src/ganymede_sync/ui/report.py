"""Everything a person or GitHub's step summary sees of the tasks' work.

The runners (``pull``, ``deploy`` for deploy and status, ``promote`` for diff and
promote) return results as data; this module turns them into text: terminal lines
and tables, JSON-ready data, unified diffs, markdown for the step summary and the
body of a promotion's pull request.

Never does: print, decide anything about a plan, or show unchanged files one by
one (a lab environment has hundreds; the totals count them).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ganymede_sync.local.deploy_history import DeployRecord
from ganymede_sync.plans.comparison import Comparison, Difference
from ganymede_sync.plans.planning import DeployPlan, Status
from ganymede_sync.results import (
    DeployResult,
    Notice,
    Promotion,
    PromotionResult,
    PullResult,
    RollbackResult,
    RunResult,
    SendOutcome,
    StatusResult,
)
from ganymede_sync.rules import naming
from ganymede_sync.rules.layout import LIB_DIR, flow_of, is_flow_file, is_lib_path
from ganymede_sync.rules.visible import has_hidden, visible

LISTED_PATHS = 20
"""Summaries list paths one by one up to this many, then only count them."""

SHORT_NAMES = {
    Status.UNCHANGED: "unchanged",
    Status.SEND: "to send",
    Status.NEW_LIB: "new lib",
    Status.OVERWRITE: "to overwrite",
    Status.REMOTE_AHEAD: "changed in Ganymede",
    Status.CONFLICT: "conflicting",
    Status.NEW_FLOW: "new flow",
    Status.NEW_NODE_CODE: "new node code",
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
    entries = [e for e in plan.entries if _shown(e.status)]
    rows = [(one_line(f"{folder}/{e.path}"), e.status.value) for e in entries]
    label = f"{folder}/ -> {target}" if target else f"{folder}/"
    if not rows:
        return f"{label} matches Ganymede: nothing to deploy ({totals_line(plan)})"
    width = max(len("path"), *(len(path) for path, _ in rows))
    lines = [f"plan for {label}:"] if target else []
    lines += [f"{'path':<{width}}  status"]
    for entry, (path, status) in zip(entries, rows, strict=True):
        lines.append(f"{path:<{width}}  {status}")
        lines += [f"    {line}" for line in flow_lines(plan, entry.path)]
    lines.append(f"total: {totals_line(plan)}")
    return "\n".join(lines)


def flow_lines(plan: DeployPlan, path: str) -> tuple[str, ...]:
    """Return what sending the flow file at ``path`` changes in its flow, or what Ganymede
    changed in it (none: not a flow file, or unchanged)."""
    flow = plan.flows.get(path)
    return flow.lines if flow else tuple(plan.incoming.get(path, ()))


def plan_markdown(plan: DeployPlan, folder: str, *, title: str, outcome: str) -> str:
    """Return the plan as a markdown section for the GitHub step summary."""
    lines = [f"### {_escape(title)}", "", _escape(outcome), ""]
    rows = [entry for entry in plan.entries if _shown(entry.status)]
    if rows:
        lines += ["| path | status |", "| --- | --- |"]
        lines += [f"| `{_code(folder + '/' + e.path)}` | {_escape(e.status.value)} |" for e in rows]
        lines.append("")
        changes = [(e.path, line) for e in rows for line in flow_lines(plan, e.path)]
        lines += [f"- `{_code(folder + '/' + path)}`: {_escape(line)}" for path, line in changes]
        if changes:
            lines.append("")
    lines += [f"Total: {totals_line(plan)}", ""]
    return "\n".join(lines)


def outcome_line(
    outcome: SendOutcome, environment: str, *, author_email: str, folder: str | None = None
) -> str:
    """Say in one line what the deploy did in Ganymede (``environment``: best the target).

    With ``folder`` the line reads ``... from prod/ to acme/prod ...``.
    """
    if folder:
        environment = f"{environment} (from {folder}/)"
    flows = [path for path in outcome.sent if is_flow_file(path)]
    files = _counted(len(outcome.sent) - len(flows), "file")
    also = f" and updated {_flows_updated(outcome, flows)}" if flows else ""
    if outcome.dry_run:
        return _dry_run_line(outcome, environment, files, flows)
    if outcome.replanned and not outcome.plan.to_send and outcome.sent:
        return (
            f"deployed {files} to {environment} as {author_email}: the answer was lost, "
            "and reading Ganymede again showed the commit had been made"
        )
    if not outcome.sent:
        return f"nothing to send: {environment} already has this code"
    if len(flows) == len(outcome.sent):
        return f"updated {_flows_updated(outcome, flows)} in {environment} as {author_email}"
    if not made_a_commit(outcome.answer):
        return (
            f"sent {files} to {environment}{also}, but Ganymede made no commit: it already had "
            "this content (another deploy may have sent it meanwhile)"
        )
    return f"deployed {files} to {environment} as one commit by {author_email}{also}"


def _flows_updated(outcome: SendOutcome, flows: list[str]) -> str:
    """Say how many flows a deploy updated and what of them: ``2 flows (nodes, settings)``."""
    parts: list[str] = []
    for path in flows:
        flow = outcome.plan.flows.get(path)
        if flow is None:
            continue
        for part, done in (("created", flow.creates), ("nodes", flow.pipeline_changes),
                           ("settings", bool(flow.settings_update))):  # fmt: skip
            if done and part not in parts:
                parts.append(part)
    what = f" ({', '.join(parts)})" if parts else ""
    return _counted(len(flows), "flow") + what


def _dry_run_line(outcome: SendOutcome, environment: str, files: str, flows: list[str]) -> str:
    if not outcome.sent:
        return f"dry run: nothing to send to {environment}"
    code_sent = len(flows) < len(outcome.sent)
    said = f"Ganymede accepted {files} for {environment}" if code_sent else "no code to check"
    if flows:
        their = "its" if len(flows) == 1 else "their"
        said += (
            f"; {_counted(len(flows), 'flow file')} would update {their} flow (the API has "
            "no dry run for flows)"
        )
    return f"dry run: {said}; nothing was committed"


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


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
        handle.write(visible(markdown) + "\n")
    return True


def append_output(name: str, value: str, environ: Mapping[str, str]) -> bool:
    """Set the step output ``name`` (file ``GITHUB_OUTPUT``); tell whether it did.

    Only simple one-line values: a line break would let a value set another output.
    """
    target = environ.get("GITHUB_OUTPUT")
    if not target or "\n" in value or "\r" in value:
        return False
    with Path(target).open("a", encoding="utf-8") as handle:
        handle.write(f"{name}={value}\n")
    return True


def _shown(status: Status) -> bool:
    return status is not Status.UNCHANGED


def one_line(text: str) -> str:
    """A name on one line: a line break in a file name would start a row (or a markdown
    block) of its own, so it is shown as ``\\n``."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _escape(text: str) -> str:
    """Keep text from turning into markdown or HTML (file names come from users)."""
    for character in "\\`*_[]<>|#":
        text = text.replace(character, "\\" + character)
    return one_line(text)


def _code(text: str) -> str:
    return one_line(text.replace("`", "'").replace("|", "\\|"))


# --- pull -------------------------------------------------------------------------
def restored_line(folder: str, count: int) -> str:
    """Say that ``count`` killed pulls of ``folder`` were undone, for any task to show."""
    return (
        f"restored {folder}/ first: {count} earlier pull(s) had been killed while "
        "updating it; their changes were undone"
    )


def describe_pull(result: PullResult) -> list[str]:
    """Return the lines that tell a person what the pull did."""
    target = result.target or result.environment
    where = f"{result.folder}/ -> {target} ({result.scope.describe()})"
    lines = []
    if result.restored:
        lines.append(restored_line(result.folder, result.restored))
    if result.has_changes:
        counts = (
            f"{len(result.added)} added, {len(result.changed)} changed, "
            f"{len(result.removed)} removed"
        )
        lines.append(f"pulled {where}: {counts}")
        lines.extend(_listed(result))
    elif result.manifest_written:
        # Typically after a deploy: Ganymede now holds what this folder already had.
        lines.append(
            f"pulled {where}: no file changes; recorded Ganymede's current state "
            f"in .ganymede/{result.folder}.json"
        )
    else:
        lines.append(f"pulled {where}: no changes")
    lines.extend(_kept_lines(result))
    if result.skipped:
        shown = ", ".join(naming.show(f"{result.folder}/{p}") for p in result.skipped[:20])
        lines.append(
            f"skipped {len(result.skipped)} file(s) whose names a checkout cannot keep "
            f"(rename or remove them in Ganymede): {shown}"
        )
    if result.ignored:
        lines.append(f"ignored {result.ignored} archive file(s) that a pull does not manage")
    if result.commit:
        lines.append(f"committed {result.commit[:12]}: {result.commit_message}")
    elif result.commit_requested:
        lines.append("nothing to commit")
    lines.append(f"done in {result.seconds:.1f}s ({_size(result.downloaded_bytes)} downloaded)")
    return lines


def _kept_lines(result: PullResult) -> list[str]:
    """Say which local files were left in place, and why, one per line up to a limit."""
    if not result.kept:
        return []
    ignored = set(result.ignored_by_git)
    why = {
        path: "git-ignored local file" if path in ignored else "local change not yet deployed"
        for path in result.kept
    }
    if len(result.kept) > LISTED_PATHS:
        return [f"kept {len(result.kept)} local file(s) that Ganymede did not change"]
    return [f"  = {result.folder}/{path} (kept: {why[path]})" for path in result.kept]


def _listed(result: PullResult) -> list[str]:
    marked = [("+", result.added), ("~", result.changed), ("-", result.removed)]
    total = sum(len(paths) for _, paths in marked)
    if total > LISTED_PATHS:
        return []
    return [f"  {mark} {result.folder}/{path}" for mark, paths in marked for path in paths]


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1 << 20:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1 << 20):.1f} MiB"


# --- deploy and status ------------------------------------------------------------
def deploy_title(arrow: str, *, dry_run: bool) -> str:
    """Title of a deploy's step-summary section (``arrow``: ``prod/ -> acme/prod``)."""
    return f"{'Dry run of the deploy' if dry_run else 'Deploy'} of {arrow}"


def deploy_line(result: DeployResult) -> str:
    """Say what the deploy did in Ganymede, and where git records it."""
    line = outcome_line(
        result.outcome, str(result.target), author_email=result.author_email, folder=result.folder
    )
    record = result.record
    if record is None:
        return line
    return (
        f"{line}\nrecorded in git as tag {record.tag} (share it: git push origin "
        f"refs/tags/{record.tag}; invoke history --env {result.folder} lists deploys)"
    )


def status_title(arrow: str, *, offline: bool) -> str:
    """Title of a status's step-summary section."""
    return f"{'Offline plan' if offline else 'Plan'} for {arrow}"


def status_lines(result: StatusResult) -> list[str]:
    """Return what ``invoke status`` shows: the table, notes, refusals and diffs."""
    folder = result.folder
    lines = [plan_table(result.plan, folder, str(result.target))]
    if result.offline:
        lines.append(
            f"offline plan: compared with the last pull in .ganymede/{folder}.json; "
            "edits made in Ganymede since are not seen"
        )
    lines += [f"a deploy would be refused: {reason}" for reason in result.reasons]
    if result.misnamed_in_ganymede:
        listed = naming.listing(folder, result.misnamed_in_ganymede)
        lines.append(
            f"a pull would refuse names Ganymede holds: {listed} (rename or remove them "
            "in Ganymede, or pull with --skip-invalid)"
        )
    lines += [text.rstrip("\n") for text in result.diffs.values()]
    return lines


def status_outcome(result: StatusResult) -> str:
    """Say in one sentence what a deploy would do now."""
    if result.reasons:
        return "A deploy would be refused: " + "; ".join(result.reasons)
    if result.plan.to_send:
        return f"A deploy would send {len(result.plan.to_send)} file(s) to {result.target}."
    return "Nothing to send."


def status_data(result: StatusResult, *, with_diffs: bool = False) -> dict[str, object]:
    """The plan as JSON-ready data (``invoke status --json``)."""
    refused = bool(result.reasons)
    sending = "to-send" if result.plan.to_send else "nothing-to-send"
    data: dict[str, object] = {
        "folder": result.folder,
        "target": str(result.target),
        "tenant": result.target.tenant,
        "environment": result.target.environment,
        "offline": result.offline,
        "result": "refused" if refused else sending,
        "exit_code": result.exit_code,
        "files": [
            {"path": f"{result.folder}/{entry.path}", "status": entry.status.name.lower()}
            for entry in result.plan.entries
        ],
        "refusals": list(result.reasons),
        "flows": {
            f"{result.folder}/{path}": list(flow_lines(result.plan, path))
            for path in sorted({*result.plan.flows, *result.plan.incoming})
        },
    }
    if with_diffs:
        data["diffs"] = {f"{result.folder}/{path}": text for path, text in result.diffs.items()}
    return data


def unified_diff(name: str, old: bytes | None, new: bytes) -> str:
    """Return ``diff -u`` style text from Ganymede's ``old`` (None: absent) to ``new``."""
    before = "/dev/null" if old is None else f"ganymede/{name}"
    try:
        old_lines = (old or b"").decode("utf-8").splitlines(keepends=True)
        new_lines = new.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return f"Binary files {before} and local/{name} differ\n"
    lines = difflib.unified_diff(old_lines, new_lines, before, f"local/{name}")
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return visible(hidden_note(name) + "\n" + text) if has_hidden(text) else text


def hidden_note(name: str) -> str:
    """The line that tells a reviewer a file's diff shows escaped characters."""
    return f"note: {name} holds control or invisible characters, shown escaped"


# --- diff and promote -------------------------------------------------------------
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
        lines = list(difflib.unified_diff(_lines(old), _lines(new), before, after, lineterm=""))
        if any(has_hidden(line) for line in lines):
            yield hidden_note(path)
        yield from lines


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


def promotion_plan_heading(promotion: Promotion, target: str) -> str:
    """The line above the target's deploy plan that a promotion shows first; ``target``
    is where that folder deploys (``prod/ -> acme/prod``)."""
    source = promotion.source.folder
    return f"Deploy plan of {target} after promoting {promotion.what()} from {source}/:"


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
        *_smoke_lines(result),
        "",
    ]
    if result.plan is not None:
        title = f"Deploy plan of {target}/ after this promotion"
        outcome = (
            f"Merging deploys {target}/ to Ganymede through the deploy workflow, "
            f"with the protection rules of the {target} environment."
        )
        lines.append(plan_markdown(result.plan, target, title=title, outcome=outcome))
    return "\n".join(lines)


def describe_run(result: RunResult) -> list[str]:
    """Say what ``invoke run`` did: the inputs checked, the run started, or how it ended."""
    if result.dry_run:
        return [f"dry run: Ganymede accepted the inputs of {result.flow} in {result.target}; "
                "no run was started"]  # fmt: skip
    if result.state not in ("Success", "Failed"):
        follow = f"invoke runs --env {result.folder} --flow {result.flow}"
        started = f"run {result.run_id} of {result.flow} started in {result.target}"
        return [f"{started} (not waited for: {follow} shows it)"]
    record = result.record
    lines = [f"run {result.run_id} of {result.flow} in {result.target}: {result.state}"]
    for key, label in (("outputTables", "tables"), ("outputFiles", "files")):
        names = [str(name) for name in record.get(key) or []]
        if names:
            lines.append(f"  {label}: {', '.join(names)}")
    return lines


def _smoke_lines(result: PromotionResult) -> list[str]:
    """The pull request's line about the source's latest smoke runs, when it has any."""
    source = result.promotion.source.folder
    if result.smoke_note:
        return [f"- Smoke runs: {_escape(result.smoke_note)}"]
    if not result.smoke:
        return []
    runs = ", ".join(
        f"`{_code(flow)}` {_escape(state)}" + (f" (run `{_code(run)}`)" if run else "")
        for flow, state, run in result.smoke
    )
    return [f"- Latest smoke runs in `{source}/`: {runs}"]


def _deployed(run: Mapping[str, object]) -> str:
    deploy = run.get("deploy")
    if not isinstance(deploy, Mapping):
        return "-"
    return f"{str(deploy.get('commit'))[:10]} ({deploy.get('tag')})"


def runs_table(found: Sequence[Mapping[str, object]], flow: str, target: str) -> str:
    """Return a flow's runs as aligned rows: id, state, start, end, initiator, version, and
    the commit whose deploy produced that version (``-`` where the repository does not know)."""
    if not found:
        return f"no runs of {flow} in {target}"
    columns = ("id", "state", "startTime", "endTime", "initiator", "version")
    rows = [[str(run.get(column) or "-") for column in columns] + [_deployed(run)] for run in found]
    header = ["run", "state", "started", "ended", "initiator", "version", "deployed from"]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [f"runs of {flow} in {target}, newest first:"]
    for row in [header, *rows]:
        lines.append(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return "\n".join(lines)


def history_table(records: Sequence[DeployRecord], folder: str, flow: str | None = None) -> str:
    """Return recorded deploys as aligned rows, newest first: when, commit, author, what."""
    what = f" that sent {flow}" if flow else ""
    if not records:
        return (
            f"no recorded deploys of {folder}/{what} (a deploy records itself as a tag "
            f"deploy/{folder}/<time>; git fetch --tags brings others' records)"
        )
    header = ["deploy", "commit", "target", "author", "sent", "message"]
    rows = [
        [record.tag, record.short_commit, record.target, record.author, _sent(record),
         record.message.splitlines()[0] if record.message else ""]
        for record in records
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = [f"deploys of {folder}/{what}, newest first:"]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _sent(record: DeployRecord) -> str:
    """What a deploy sent, counted as its own line counted it: code files, then flows."""
    code = sum(1 for path in record.files if not is_flow_file(path))
    counts = [_counted(code, "file")] if code or not record.flows else []
    if record.flows:
        counts.append(_counted(len(record.flows), "flow"))
    lib = "" if record.with_lib else ", without lib/"
    only = f" (only {', '.join(record.only)}{lib})" if record.only else ""
    return " and ".join(counts) + only


def rollback_body(result: RollbackResult) -> str:
    """The pull request body of a rollback: what it goes back to, and its deploy's plan."""
    rollback = result.rollback
    folder = rollback.environment.folder
    title = f"Rollback of {folder}/ to {rollback.label} ({rollback.short_commit})"
    outcome = "Merging this pull request deploys it through the usual workflow."
    if result.plan is None:
        return f"### {_escape(title)}\n\n{folder}/ already holds these files.\n"
    return plan_markdown(result.plan, folder, title=title, outcome=outcome)


def describe_rollback(result: RollbackResult, *, dry_run: bool = False) -> list[str]:
    """Say what a rollback did and what comes next."""
    rollback = result.rollback
    folder = rollback.environment.folder
    if not rollback.files:
        return [f"{folder}/ already holds the files of {rollback.label}: nothing to roll back"]
    if dry_run:
        return [f"dry run: nothing was changed; {len(rollback.files)} file(s) would change"]
    if result.commit is None:
        return [f"nothing to commit in {folder}/"]
    lines = [
        f"rolled {folder}/ back to {rollback.label}: {len(rollback.files)} file(s), committed "
        f"as {result.commit[:10]} on branch {rollback.branch}, now checked out"
    ]
    if result.deployed is not None:
        lines.append(deploy_line(result.deployed))
        lines.append(
            f"merge the branch so {folder}/ on the default branch matches Ganymede again: "
            f"git push -u origin {rollback.branch}, then open a pull request"
        )
    else:
        lines.append(
            f"next: git push -u origin {rollback.branch} and open a pull request; merging "
            "it deploys the rollback through the usual workflow"
        )
    return lines


_PLAN_ORDER = {"refused": 0, "to-send": 1, "nothing-to-send": 2}
COMMENT_ROWS = 50
"""Files listed per environment in a pull request comment; the rest are counted."""


def plan_comment(plans: Sequence[Mapping[str, Any]], run_url: str | None = None) -> str:
    """The deploy plan of a pull request as one markdown comment, from ``status --json``.

    Refused plans come first, then those that send, then the rest; within each, the
    refusals before the files. Every name is escaped: no markdown, HTML or control
    byte from a file name reaches the page.
    """
    lines = ["## Deploy plan", ""]
    if not plans:
        lines.append("This pull request changes no environment folder: merging it deploys nothing.")
    ordered = sorted(
        plans, key=lambda p: (_PLAN_ORDER.get(str(p.get("result")), 3), str(p.get("folder")))
    )
    for plan in ordered:
        lines += _comment_section(plan)
    if any(plan.get("offline") for plan in plans):
        lines.append(
            "_Planned against each folder's last pull (`.ganymede/<folder>.json`): edits "
            "made in Ganymede since show in the deploy's own plan._"
        )
    if run_url:
        lines.append(f"[The plan jobs of this run]({_code(run_url)})")
    return visible("\n".join(lines).rstrip() + "\n")


def _comment_order(plan: Mapping[str, Any]) -> tuple[int, str]:
    return _PLAN_ORDER.get(str(plan.get("result")), 3), str(plan.get("folder"))


def _comment_section(plan: Mapping[str, Any]) -> list[str]:
    folder, target = _escape(str(plan.get("folder"))), _escape(str(plan.get("target")))
    files = [f for f in plan.get("files") or [] if isinstance(f, Mapping)]
    shown = [f for f in files if f.get("status") != "unchanged"]
    result = str(plan.get("result"))
    summary = {
        "refused": "**a deploy would be refused**",
        "to-send": f"{len(shown)} file(s) to send",
    }.get(result, "nothing to send")
    lines = [f"### `{folder}/` -> {target}: {summary}"]
    refusals = [f"- :x: {_escape(str(reason))}" for reason in plan.get("refusals") or []]
    if refusals:
        lines += ["", *refusals]
    if shown:
        lines += ["", "| path | status |", "| --- | --- |"]
        lines += [
            f"| `{_code(str(f.get('path')))}` | {_escape(str(f.get('status')).replace('_', ' '))} |"
            for f in shown[:COMMENT_ROWS]
        ]
        if len(shown) > COMMENT_ROWS:
            lines.append(f"| and {len(shown) - COMMENT_ROWS} more | |")
    for path, changes in sorted((plan.get("flows") or {}).items()):
        if changes:
            lines += ["", f"`{_code(str(path))}`:"]
            lines += [f"- {_escape(str(change))}" for change in changes]
    return [*lines, ""]


def notification_text(notice: Notice, folder: str, target: str, record: DeployRecord | None) -> str:
    """One chat message: what happened, where, and the link to look at. Plain text:
    Slack and Teams render a few marks of their own, so names are kept as they are,
    made visible."""
    where = f"{folder}/ to {target}"  # no ">": Slack's text would show it escaped
    run = f" Run: {notice.run_url}" if notice.run_url else ""
    link = f": {notice.link}" if notice.link else ""
    if notice.event == "drift":
        return visible(f"Ganymede {target} changed outside git: the sync pull request of "
                       f"{folder}/ was opened or updated{link}.{run}")  # fmt: skip
    if notice.event == "promotion":
        source = f" of {notice.source}/" if notice.source else ""
        return visible(f"Promotion{source} to {folder}/ ({target}) waits for review{link}.{run}")
    if notice.outcome == "success" and record is not None:
        flows = f" and {len(record.flows)} flow file(s)" if record.flows else ""
        return visible(
            f"Deployed {where}: {len(record.files)} file(s){flows} from {record.short_commit} "
            f"by {record.author} ({record.tag}).{run}"
        )
    if notice.outcome == "success":
        return visible(f"Deploy of {where} ended: nothing needed sending.{run}")
    if record is not None:
        return visible(
            f"{where} was deployed ({record.tag}, {record.short_commit}), but the job then "
            f"failed: its smoke run did not succeed.{run}"
        )
    ended = "was cancelled" if notice.outcome == "cancelled" else "failed"
    return visible(f"Deploy of {where} {ended}; Ganymede may be behind git.{run}")
