"""Keep Ganymede flow code in this git repository: pull, plan, deploy.

The package is the library behind ``tasks.py``; it never imports Invoke and never
prints (progress goes through callbacks, messages through exceptions).
"""

from ganymede_sync.errors import GanymedeSyncError

__all__ = ["GanymedeSyncError"]
