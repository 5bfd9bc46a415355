"""The Invoke tasks of this repository: `invoke --list`, `invoke --help TASK`.

They come from the pinned tooling (the package `ganymede_sync`, installed
from .ganymede-sync/), so they are the same code on a laptop and in the
workflows. Add a task of your own here: `namespace.add_task(your_task)`.
"""

from ganymede_sync.tasks import namespace

__all__ = ["namespace"]
