"""The runners' default way to reach Ganymede, without paying for httpx until it does.

``open_client`` here imports the client (and httpx, about 70 ms) on its first call, so a
task that never goes online (``status --offline``, ``history``, ``--list``) starts
without them. Types for annotations come from ``remote.client`` under TYPE_CHECKING.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ganymede_sync.remote.client import GanymedeClient
    from ganymede_sync.settings.config import Environment, Settings


def open_client(settings: Settings, environment: Environment, **options: Any) -> GanymedeClient:
    """``remote.client.open_client``, imported when first needed."""
    from ganymede_sync.remote.client import open_client as open_now

    return open_now(settings, environment, **options)
