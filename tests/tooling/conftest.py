"""Fixtures shared by this repository's tests: a clean environment and a running emulator.

Every test gets a git identity of its own and no ``GANYMEDE_*`` variables from the shell
that runs it, so results never depend on the machine. ``emulator`` serves two seeded
environments on a free port of 127.0.0.1 (fewer if a module sets ``EMULATOR_ENVIRONMENTS``);
``empty_emulator`` serves the same with no flows; ``api`` is an HTTP client of ``emulator``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ganymede_sync.emulator import Emulator

API_KEY = "test-token"
ENVIRONMENTS = ("dev", "prod")
USERS = ("dev@example.com", "ops@example.com")


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give git an identity, ignore the user's git config, hide Ganymede and CI settings.

    Runners set ``CI`` and ``GITHUB_*``, which change who commits a pull and how
    progress is shown; tests that need CI behaviour pass those variables explicitly.
    """
    for name in list(os.environ):
        if name.startswith(("GANYMEDE_", "GITHUB_", "RUNNER_")) or name == "CI":
            monkeypatch.delenv(name)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "dev@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Committer")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "dev@example.com")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    # The developer's ~/.gitconfig (signing, hooks, default branch) must not change results.
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)


def _served(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """The environments the emulator fixtures serve to the requesting test module.

    dev and prod, unless the module sets ``EMULATOR_ENVIRONMENTS``: the pull tests serve
    dev only, since a pull needs no other and each environment costs the emulator a
    repository. One fixture then serves every module instead of a copy in each.
    """
    return getattr(request.module, "EMULATOR_ENVIRONMENTS", ENVIRONMENTS)


def _serve(request: pytest.FixtureRequest, data_dir: Path, seed: str) -> Iterator[Emulator]:
    emulator = Emulator(
        data_dir, api_key=API_KEY, environments=_served(request), users=USERS, seed=seed
    )
    with emulator:
        yield emulator


@pytest.fixture
def emulator(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Emulator]:
    """A running emulator with the example flows in environments dev and prod."""
    yield from _serve(request, tmp_path / "emulator", "example")


@pytest.fixture
def empty_emulator(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Emulator]:
    """A running emulator whose environments dev and prod hold no flows."""
    yield from _serve(request, tmp_path / "emulator", "none")


@pytest.fixture
def api(emulator: Emulator) -> Iterator[httpx.Client]:
    """An HTTP client of the emulator that sends the api-key header.

    Shared because the emulator's own tests (its API, faults and hardening) all speak
    to it over HTTP the same way.
    """
    with httpx.Client(base_url=emulator.url, headers={"api-key": API_KEY}) as client:
        yield client
