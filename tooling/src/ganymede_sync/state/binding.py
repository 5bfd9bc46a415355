"""Which Ganymede tenant and environment each folder is bound to, and refusing any other.

A folder holds one environment's code. The manifest of its last pull records where
that code came from; before any pull, ``ganymede.toml`` says where it belongs. A run
whose resolved target differs (a ``GANYMEDE_ENVIRONMENT`` or ``GANYMEDE_SUBDOMAIN``
left in a shell or ``.env``, an edited ``ganymede.toml``) is refused in one line
unless the task is asked to retarget with ``--retarget``: a variable must never
silently send prod's hotfix to dev.

Pure apart from reading the manifest; never prints, never talks to Ganymede.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ganymede_sync.errors import TargetMismatchError
from ganymede_sync.rules.naming import show
from ganymede_sync.settings.config import (
    CONFIG_FILE,
    ENVIRONMENT_VARIABLE,
    SUBDOMAIN_VARIABLE,
    Environment,
    Settings,
)
from ganymede_sync.state.manifest import load_manifest

MOVING_VARIABLES = (ENVIRONMENT_VARIABLE, SUBDOMAIN_VARIABLE)
"""Variables that change a folder's target (``GANYMEDE_API_URL`` changes the host only)."""
_PLAIN = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Target:
    """A Ganymede tenant (subdomain) and environment name: ``acme/prod``."""

    tenant: str
    environment: str

    def __str__(self) -> str:
        """``acme/prod``; a part with any other character is quoted (``acme/'prod '``)."""
        return "/".join(_shown(part) for part in (self.tenant, self.environment))


def _shown(part: str) -> str:
    """A name as typed when plain, else quoted: a trailing space must be seen."""
    return part if _PLAIN.fullmatch(part) else show(part)


def resolved_target(settings: Settings, environment: Environment) -> Target:
    """Where this run would read and send the folder's code."""
    return Target(settings.subdomain, environment.name)


def bound_target(settings: Settings, environment: Environment) -> tuple[Target, str]:
    """Where the folder belongs, and what says so (its manifest, else ``ganymede.toml``).

    A manifest written before tenants were recorded binds the environment only; the
    tenant then comes from ``ganymede.toml``.
    """
    manifest = load_manifest(environment.manifest_path)
    if manifest is not None:
        tenant = manifest.tenant or settings.configured_subdomain
        where = f".ganymede/{environment.manifest_path.name}"
        return Target(tenant, manifest.environment), where
    configured = environment.configured_name or environment.name
    return Target(settings.configured_subdomain, configured), CONFIG_FILE


def check_target(
    settings: Settings, environment: Environment, *, retarget: bool, can_retarget: bool = True
) -> Target:
    """Return the resolved target, or refuse it when it is not the folder's own.

    With ``retarget`` a different target is allowed: a pull then binds the folder to
    it, a deploy or status uses it for this run only. A task without ``--retarget``
    (promote plans against the target it writes) passes ``can_retarget=False``, and
    the refusal offers only the fix it has.
    """
    target = resolved_target(settings, environment)
    bound, source = bound_target(settings, environment)
    if target == bound or retarget:
        return target
    fix = "unset that override"
    if can_retarget:
        fix += f", or pass --retarget to use {target} for {environment.folder}/ on purpose"
    raise TargetMismatchError(
        f"{environment.folder}/ is bound to {bound} ({source}) but this run targets {target}"
        f"{_cause(settings)}: {fix}"
    )


def _cause(settings: Settings) -> str:
    """Name the variables that moved the target, when any did."""
    moved = [name for name in MOVING_VARIABLES if name in settings.overrides]
    return f" (set by {' and '.join(moved)})" if moved else ""


def arrow(settings: Settings, environment: Environment) -> str:
    """Return ``prod/ -> acme/prod``: the folder and where its code goes, for every line."""
    return f"{environment.folder}/ -> {resolved_target(settings, environment)}"
