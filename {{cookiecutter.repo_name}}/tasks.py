"""Invoke tasks of this repository: `invoke --list` shows them, `invoke --help TASK` explains one.

This file is wiring only: each task parses its options, calls `ganymede_sync`, prints
the result and turns an expected failure into a one-line message and exit code 1.
The same tasks run on a laptop and in the GitHub workflows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from invoke import Exit, task

from ganymede_sync.errors import GanymedeSyncError


@contextlib.contextmanager
def expected_failures() -> Iterator[None]:
    """Show an expected failure as `error: ...` and exit 1, without a traceback."""
    try:
        yield
    except GanymedeSyncError as error:
        raise Exit(f"error: {error}", code=1) from None
    except KeyboardInterrupt:
        raise Exit("error: interrupted; nothing was changed", code=130) from None


@task
def init(c):
    """Create the git repository with a first commit (safe to run again)."""
    from ganymede_sync import gitops
    from ganymede_sync.config import load_settings

    with expected_failures():
        settings = load_settings()
        print(gitops.init_repository(settings.root, branch=settings.default_branch))
