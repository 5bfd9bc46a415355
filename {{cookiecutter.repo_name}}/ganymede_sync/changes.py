"""Which environment folders a range of commits touched: the deploy workflow's job list.

The decision is pure (paths in, folder names out); gitops supplies the paths.
Never deploys, never talks to Ganymede, never prints.
"""

from __future__ import annotations

from collections.abc import Iterable

from ganymede_sync import gitops
from ganymede_sync.config import Settings


def folders_touched(paths: Iterable[str], folders: Iterable[str]) -> list[str]:
    """Return the folders, in the order given, that hold at least one of ``paths``.

    ``paths`` are POSIX paths relative to the repository root, as git prints them;
    ``dev2/x.py`` does not touch ``dev``.
    """
    top_levels = {path.split("/", 1)[0] for path in paths if "/" in path}
    return [folder for folder in folders if folder in top_levels]


def changed_environments(settings: Settings, before: str | None, after: str) -> list[str]:
    """Return the environment folders changed from ``before`` to ``after``.

    When ``before`` is unusable (all zeros for a new branch, or a commit this
    clone does not have), every folder that holds files at ``after`` counts as
    changed: deploys decide from content, so an extra deploy sends nothing, while
    a missed one would leave Ganymede behind.
    """
    paths = gitops.changed_paths(settings.root, before or "", after)
    if paths is None:
        paths = gitops.tracked_paths(settings.root, after)
    return folders_touched(paths, settings.environments)
