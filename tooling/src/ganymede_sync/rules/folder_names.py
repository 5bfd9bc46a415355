"""The naming rule of environment folders: what ``ganymede.toml`` may list as a folder.

A folder name becomes a directory at the top of the repository, a GitHub environment
and a branch name part, so it must be one plain, lowercase segment that the
repository does not use for itself (``lib``, ``tests``, ``ganymede_sync`` ...), and
can never be a path (``../outside``, ``/tmp/x``). The generation hook
(``hooks/pre_gen_project.py`` of the template) applies the same rule to the answer
``environments`` before any file exists; the template's tests check both on one
table of cases.

Pure: no I/O.
"""

from __future__ import annotations

import re

RESERVED_NAMES = frozenset(
    {
        "lib",
        "tests",
        "test",
        "ganymede_sync",
        "github",
        "ganymede",
        "docs",
        "benchmarks",
        "scripts",
        "venv",
        "node_modules",
        "build",
        "dist",
        "tasks",
    }
)
"""Names at the top of the repository that an environment folder must not take."""
ENVIRONMENT_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")


def folder_name_problem(name: str) -> str | None:
    """Say why ``name`` cannot be an environment folder, or return None when it can."""
    if not ENVIRONMENT_NAME.fullmatch(name):
        return (
            "must start with a lowercase letter and hold only lowercase letters, digits, "
            "'-' or '_' (at most 40 characters), e.g. 'dev'"
        )
    if name in RESERVED_NAMES:
        return "is used by the generated repository itself; pick another name"
    return None
