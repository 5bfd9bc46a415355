"""Which environment folders a range of commits touched: the deploy workflow's job list.

The decision is pure (paths in, folder names out); gitops supplies the paths. A folder
that the range brought back to exactly its last pull (a merged sync pull request) is
left out: its deploy could send nothing, and would only ask reviewers to approve it.
Never deploys, never talks to Ganymede, never prints.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ganymede_sync.local import gitops
from ganymede_sync.plans.planning import refusal_reasons
from ganymede_sync.plans.reading import plan_offline
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
    as_pulled: list[str] = field(default_factory=list)
    """Folders whose files the range made equal to the pull it recorded: nothing to send."""

    def reviewed(self, settings: Settings) -> list[str]:
        """The protected folders among them: their deploys wait for reviewers."""
        return [folder for folder in self.folders if settings.environments[folder].protected]

    def notes(self, settings: Settings) -> list[str]:
        """One line per folder left out, saying why (and how to bring it in)."""
        return [
            f"{folder}/ was never pulled (no {_manifest(settings, folder)}): skipped; "
            f"run invoke pull --env {folder} and commit it to deploy it from here"
            for folder in self.never_pulled
        ] + [
            f"{folder}/ is exactly as its last pull recorded ({_manifest(settings, folder)} "
            "changed with it): no deploy, nothing to send or approve"
            for folder in self.as_pulled
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
    as_pulled = _as_pulled(settings, repo, paths, after, pulled)
    return Changes(
        [folder for folder in pulled if folder not in as_pulled],
        [folder for folder in touched if folder not in pulled],
        as_pulled,
    )


def _as_pulled(
    settings: Settings,
    repo: gitops.GitRepository,
    paths: list[str] | None,
    after: str,
    folders: list[str],
) -> list[str]:
    """Return the folders whose manifest the range changed and whose files equal it.

    Only then can a deploy send nothing for certain: the deploy counts as its own only
    versions committed since the manifest changed, and those are the pulled ones. A
    folder merely reverted to what it once pulled, its manifest untouched, still
    deploys (Ganymede may hold a later deploy of it). Decided from the working tree,
    so only when it is ``after``, clean, as a workflow checks it out.
    """
    head = repo.head_commit()
    if paths is None or head is None or head.sha != repo.commit_sha(after):
        return []
    changed = set(paths)
    found = []
    for folder in folders:
        environment = settings.environments[folder]
        if _manifest(settings, folder) not in changed or repo.dirty_paths(environment.path):
            continue
        plan = plan_offline(settings, environment)
        if not plan.to_send and not refusal_reasons(plan, folder):
            found.append(folder)
    return found


def _manifest(settings: Settings, folder: str) -> str:
    """The manifest's path relative to the repository root, as git lists it."""
    return settings.environments[folder].manifest_path.relative_to(settings.root).as_posix()
