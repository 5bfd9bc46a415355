"""Which environment folders a range of commits touched: the deploy workflow's job list.

The decision is pure (paths in, folder names out); gitops supplies the paths.
Never deploys, never talks to Ganymede, never prints.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ganymede_sync.local import gitops
from ganymede_sync.settings.config import Settings


def folders_touched(paths: Iterable[str], folders: Iterable[str]) -> list[str]:
    """Return the folders, in the order given, that hold at least one of ``paths``.

    ``paths`` are POSIX paths relative to the repository root, as git prints them;
    ``dev2/x.py`` does not touch ``dev``.
    """
    top_levels = {path.split("/", 1)[0] for path in paths if "/" in path}
    return [folder for folder in folders if folder in top_levels]


@dataclass(frozen=True)
class Changes:
    """The folders to deploy, and those left out because they were never pulled."""

    folders: list[str]
    never_pulled: list[str] = field(default_factory=list)

    def notes(self, settings: Settings) -> list[str]:
        """One line per folder left out, saying how to bring it in."""
        return [
            f"{folder}/ was never pulled (no {_manifest(settings, folder)}): skipped; "
            f"run invoke pull --env {folder} and commit it to deploy it from here"
            for folder in self.never_pulled
        ]


def changed_environments(settings: Settings, before: str | None, after: str) -> Changes:
    """Return the environment folders changed from ``before`` to ``after``.

    A two-dot diff, as GitHub's own ``paths`` filter for pushes: the trees of
    ``before`` and ``after`` are compared directly, so a force push that rolls
    ``main`` back still counts as a change (a merge base would see none). For a
    pull request, pass the merge commit's first parent as ``before``: always the
    exact base, unlike ``pull_request.base.sha``, which can lag behind.

    When ``before`` is unusable (all zeros for a first push, or a commit this clone
    does not have), every folder that holds files at ``after`` counts as changed:
    deploys decide from content, so an extra deploy sends nothing, while a missed
    one would leave Ganymede behind. Folders without a pull manifest at ``after``
    are left out (``never_pulled``): a deploy of them could only fail.
    """
    repo = gitops.require_repository(settings.root)
    paths = repo.changed_paths(before or "", after)
    tracked = repo.tracked_paths(after)
    touched = folders_touched(tracked if paths is None else paths, settings.environments)
    present = set(tracked)
    pulled = [folder for folder in touched if _manifest(settings, folder) in present]
    return Changes(pulled, [folder for folder in touched if folder not in pulled])


def _manifest(settings: Settings, folder: str) -> str:
    """The manifest's path relative to the repository root, as git lists it."""
    return settings.environments[folder].manifest_path.relative_to(settings.root).as_posix()
