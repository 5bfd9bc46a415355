"""Keep Ganymede flow code in this git repository: pull, plan, deploy.

The package is the library behind the Invoke tasks of a generated repository. Only
``ganymede_sync.tasks`` imports Invoke; the library never prints (progress goes
through callbacks, messages through exceptions).
"""

from ganymede_sync.errors import GanymedeSyncError

__version__ = "0.1.0"
"""The release of the tooling; ``invoke doctor`` reports it and checks
``minimum_tooling_version`` of ganymede.toml against it."""

__all__ = ["GanymedeSyncError", "__version__"]
