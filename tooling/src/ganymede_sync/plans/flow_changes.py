"""What a deploy changes in a flow's structure and settings, and what it would refuse.

``FlowPlan`` compares a folder's flow file with Ganymede's flow document (both as
``flow_file.FlowFile``): tasks added, removed or changed (operator, params,
dependencies), settings fields changed, and whether the flow must first be created.
Its lines are what the plan table shows under the flow file; ``problems`` are why it
cannot be sent as it is.

Pure: flow files in, descriptions out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ganymede_sync.rules.flow_file import FlowFile, derived_id
from ganymede_sync.rules.visible import visible


@dataclass(frozen=True)
class FlowPlan:
    """One flow file to send: Ganymede's version (None: no such flow yet) and ours."""

    flow: str
    local: FlowFile | None
    remote: FlowFile | None
    problem: str | None = None
    """Why the local flow file cannot be read (then ``local`` is None)."""
    exists: bool = False
    """Whether Ganymede has the flow (offline, ``remote`` may be unknown while it does)."""
    lines: tuple[str, ...] = field(default=(), compare=False)

    @property
    def creates(self) -> bool:
        return not self.exists

    @property
    def pipeline_changes(self) -> bool:
        return self.local is not None and (
            self.remote is None or _plain(self.local.tasks) != _plain(self.remote.tasks)
        )

    @property
    def settings_update(self) -> dict[str, Any]:
        """The settings fields to send (a partial update: changed or new fields only)."""
        if self.local is None:
            return {}
        before = dict(self.remote.settings) if self.remote else {}
        return {k: v for k, v in self.local.settings.items() if before.get(k, None) != v}

    @property
    def removed_tasks(self) -> list[str]:
        if self.local is None or self.remote is None:
            return []
        return sorted(set(self.remote.tasks) - set(self.local.tasks))

    @property
    def dropped_settings(self) -> list[str]:
        """Settings Ganymede has that the flow file left out: a partial update keeps them."""
        if self.local is None or self.remote is None:
            return []
        theirs, ours = self.remote.settings, self.local.settings
        dropped = set(theirs) - set(ours)
        if theirs.get("displayName") == self.name:
            dropped.discard("displayName")  # none in the file means the folder's name
        # default_args is merged by a partial update too: a key left out stays.
        inner_theirs, inner_ours = theirs.get("default_args"), ours.get("default_args")
        if isinstance(inner_theirs, dict) and isinstance(inner_ours, dict):
            dropped |= {f"default_args.{key}" for key in set(inner_theirs) - set(inner_ours)}
        return sorted(dropped)

    def passing_states(self) -> list[bytes]:
        """The flow file as Ganymede will hold it after each request of its deploy: once
        created (no task, its name), once re-wired (our tasks, its settings), once done."""
        if self.local is None:
            return []
        before = self.remote or FlowFile({}, {"displayName": self.name})
        states = [before, FlowFile(self.local.tasks, before.settings), self.local]
        return [state.encode() for state in states]

    @property
    def name(self) -> str:
        """The name a new flow is created with: its display name, else the folder name."""
        display = self.local.settings.get("displayName") if self.local else None
        return display if isinstance(display, str) and display else self.flow


def plan_flow(
    flow: str,
    local: FlowFile | None,
    remote: FlowFile | None,
    problem: str | None,
    *,
    exists: bool,
) -> FlowPlan:
    """Return the plan of one flow file, with the lines that describe it."""
    draft = FlowPlan(flow, local, remote, problem, exists)
    return FlowPlan(flow, local, remote, problem, exists, tuple(describe(draft)))


def describe(plan: FlowPlan) -> list[str]:
    """Say in lines what sending the flow file changes ("node X added after Y", ...)."""
    if plan.local is None:
        return []
    if plan.exists and plan.remote is None:
        return ["structure or settings changed (invoke status without --offline lists them)"]
    lines = [f"create flow '{visible(plan.name)}'"] if plan.creates else []
    before = plan.remote.tasks if plan.remote else {}
    for name, step in plan.local.tasks.items():
        if name not in before:
            after = ", ".join(step.get("dependencies", []))
            where = f" after {after}" if after else ""
            lines.append(f"node {visible(name)} added ({visible(step['operator'])}){where}")
        elif _plain(step) != _plain(before[name]):
            lines.append(f"node {visible(name)}: {_step_change(before[name], step)}")
    lines += [f"node {visible(name)} removed" for name in plan.removed_tasks]
    old = plan.remote.settings if plan.remote else {}
    for key, value in sorted(plan.settings_update.items()):
        if key in old:
            lines.append(f"{visible(key)}: {_show(old[key])} -> {_show(value)}")
        elif not plan.creates:
            lines.append(f"{visible(key)}: set to {_show(value)}")
    return lines


def problems(plans: Mapping[str, FlowPlan], folder: str, *, prune_nodes: bool) -> list[str]:
    """Return why these flow files cannot be sent (empty: they can)."""
    reasons = []
    for path, plan in sorted(plans.items()):
        shown = f"{folder}/{visible(path)}"
        if plan.problem:
            reasons.append(
                f"{shown} is not a flow file: {visible(plan.problem)} (fix it; git checkout "
                "-- <file> brings back the committed version)"
            )
        elif plan.creates and derived_id(plan.name) != plan.flow:
            # A folder name that no name derives (a space in it) can only be renamed.
            renamable = derived_id(plan.flow) == plan.flow
            other = ", or set settings.displayName to a name that derives the folder's name"
            reasons.append(
                f"{shown} would create the flow with id '{visible(derived_id(plan.name))}' (the "
                f"id Ganymede derives from its name '{visible(plan.name)}'), not "
                f"'{visible(plan.flow)}': rename the folder to "
                f"{folder}/{visible(derived_id(plan.name))}/{other if renamable else ''}"
            )
        elif plan.removed_tasks and not prune_nodes:
            reasons.append(
                f"{shown} removes nodes from the flow in Ganymede: "
                f"{', '.join(visible(n) for n in plan.removed_tasks)} (deploy with "
                "--prune-nodes to remove them, or put them back in the flow file)"
            )
        if plan.dropped_settings:
            reasons.append(
                f"{shown} leaves out settings that Ganymede's API cannot remove: "
                f"{', '.join(visible(k) for k in plan.dropped_settings)} (put them back, with "
                "the value you want)"
            )
    return reasons


def _step_change(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    parts = []
    if before.get("operator") != after.get("operator"):
        parts.append(f"operator {_show(before.get('operator'))} -> {_show(after.get('operator'))}")
    if sorted(before.get("dependencies", [])) != sorted(after.get("dependencies", [])):
        parts.append(
            f"runs after {_show(after.get('dependencies', []))} "
            f"(was {_show(before.get('dependencies', []))})"
        )
    if (before.get("params") or {}) != (after.get("params") or {}):
        parts.append(
            f"params {_show(before.get('params', {}))} -> {_show(after.get('params', {}))}"
        )
    return "; ".join(parts) or "changed"


def _show(value: object) -> str:
    return visible(json.dumps(value, ensure_ascii=False, sort_keys=True))


def _plain(value: object) -> str:
    return json.dumps(value, sort_keys=True)
