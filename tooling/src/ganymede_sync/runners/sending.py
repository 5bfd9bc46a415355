"""Send a deploy plan to Ganymede, never applying anything twice.

One order, so that nothing is sent before what it needs exists: for each flow file
to send, create the flow (when Ganymede has none), replace its pipeline, update its
settings; then all code in one PUT, the code of the nodes just created included.
When the PUT's answer is lost (timeout, dropped connection), Ganymede may have
committed it: ``send_plan()`` reads the remote again and sends only what is still
missing, at most ``MAX_REPLANS`` times. Flow updates replace or set whole values, so
a deploy run again after a failure sends them again harmlessly.

Never does: retry a PUT that may have reached Ganymede without reading the remote
state again first, write to the working tree, or print.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ganymede_sync.errors import DeployRefused, UncertainDeliveryError
from ganymede_sync.local.deploy_record import record_deploy
from ganymede_sync.plans.planning import DeployPlan, Status, narrowed_like, refusal_reasons
from ganymede_sync.plans.reading import plan_environment
from ganymede_sync.results import SendOutcome
from ganymede_sync.rules.visible import visible

if TYPE_CHECKING:
    from ganymede_sync.remote.client import GanymedeClient
    from ganymede_sync.settings.config import Environment, Settings

logger = logging.getLogger(__name__)

MAX_REPLANS = 3
"""How often a deploy re-reads the remote after an answer that never came."""


def build_file_map(contents: Mapping[str, bytes]) -> dict[str, str]:
    """Encode every file once, in one pass: the PUT's ``fileMap``."""
    return {path: base64.b64encode(data).decode("ascii") for path, data in contents.items()}


def send(
    client: GanymedeClient,
    deploy_plan: DeployPlan,
    *,
    author_email: str,
    message: str,
    dry_run: bool = False,
) -> str:
    """Send the code of ``deploy_plan`` in one PUT; a dry run is the same request, without
    the code of nodes that do not exist yet (Ganymede would refuse it until they do)."""
    code = deploy_plan.code
    if dry_run:
        new = set(deploy_plan.paths(Status.NEW_NODE_CODE))
        code = {path: data for path, data in code.items() if path not in new}
    if not code:
        return ""
    return client.put_commits(
        build_file_map(code),
        author_email=author_email,
        message=message,
        dry_run=dry_run,
    )


def send_flows(
    client: GanymedeClient,
    settings: Settings,
    environment: Environment,
    deploy_plan: DeployPlan,
    *,
    author_email: str,
) -> None:
    """Create, re-wire and configure each flow of the plan, before any code is sent.

    A flow changes in up to three requests, so a deploy killed between them leaves it
    half updated: each state it passes through is recorded as sent before its request,
    so the next deploy takes that state for its own work and finishes (not a conflict),
    and each flow file is recorded as arrived once all its requests are answered.
    """
    folder = environment.folder
    sent = set(deploy_plan.to_send)
    for path, flow in sorted(deploy_plan.flows.items()):
        if flow.local is None or path not in sent:
            continue
        record_deploy(settings, environment, [(path, state) for state in flow.passing_states()])
        if flow.creates:
            created = client.create_flow(flow.name, author_email=author_email)
            identifier = created.get("id") if isinstance(created, dict) else None
            if identifier != flow.flow:
                raise DeployRefused(
                    f"Ganymede created the flow of {folder}/{visible(path)} as "
                    f"'{visible(str(identifier))}', not '{visible(flow.flow)}': nothing else "
                    f"was sent; rename the folder to {folder}/{visible(str(identifier))}/ and "
                    "pull, or remove that flow in Ganymede"
                )
        if flow.pipeline_changes:
            client.update_pipeline(flow.flow, dict(flow.local.tasks), author_email=author_email)
        if flow.settings_update:
            client.update_settings(flow.flow, flow.settings_update)
        record_deploy(settings, environment, {path: flow.local.encode()}, arrived=True)


def send_plan(
    client: GanymedeClient,
    settings: Settings,
    environment: Environment,
    deploy_plan: DeployPlan,
    *,
    author_email: str,
    message: str,
    dry_run: bool = False,
    force: bool = False,
) -> SendOutcome:
    """Validate ``deploy_plan`` and send it, never applying anything twice.

    When the PUT's answer is lost (timeout, dropped connection), Ganymede may have
    committed it: read the remote again and send only what is still missing.
    """
    current = deploy_plan
    delivered: tuple[str, ...] = ()
    for attempt in range(MAX_REPLANS + 1):
        reasons = refusal_reasons(current, environment.folder)
        if reasons:
            where = settings.target(environment)
            raise DeployRefused(f"nothing was sent to {where}: " + "; ".join(reasons))
        if not current.to_send:
            return SendOutcome(current, delivered, dry_run, replanned=attempt > 0)
        if not dry_run:
            # Recorded before sending: a run killed while waiting for the answer must not
            # make the next one take its own arrived versions for edits made in Ganymede.
            record_deploy(settings, environment, current.contents)
        if not dry_run and attempt == 0:
            send_flows(client, settings, environment, current, author_email=author_email)
        try:
            answer = send(
                client, current, author_email=author_email, message=message, dry_run=dry_run
            )
        except UncertainDeliveryError:
            if dry_run or attempt == MAX_REPLANS:
                raise
            logger.warning("no answer to the deploy of %s: reading Ganymede again", environment)
            previous = current
            current = plan_environment(
                client, settings, environment, force=force, prune_nodes=previous.prune_nodes
            )
            current = narrowed_like(current, previous)
            arrived = set(previous.to_send) & set(current.paths(Status.UNCHANGED))
            confirmed = {p: previous.contents[p] for p in arrived}
            record_deploy(settings, environment, confirmed, arrived=True)
            delivered = tuple(sorted({*delivered, *arrived}))
            continue
        if not dry_run:
            record_deploy(settings, environment, current.code, arrived=True)
        sent = tuple(sorted({*delivered, *current.to_send}))
        return SendOutcome(current, sent, dry_run, answer, replanned=attempt > 0)
    raise AssertionError("unreachable")  # pragma: no cover
