"""pytest plugin of the flow test kit: fixtures, the ``--ganymede-env`` option, the stand-in.

``tests/conftest.py`` registers it (``pytest_plugins = ["ganymede_sync.testing.plugin"]``),
which gives every test under ``tests/`` these fixtures:

- ``node(folder, flow, node)``: the node's ``function.py`` as a fresh module
  (see ``ganymede_sync.testing.load_node``);
- ``ganymede_context(tables=..., files=..., **run_metadata)``: a context for ``execute``
  (see ``ganymede_sync.testing.make_context``);
- ``flow_node``: one node per test, for tests that check every node (the integrity test);
- ``flow_root``: the repository root that folder names are relative to.

``--ganymede-env ENV`` (what ``invoke test --env ENV`` passes) limits a run to one
environment folder: the integrity test checks only its nodes, and a test that loads a
node of another folder is skipped with a reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ganymede_sync.settings.config import find_root
from ganymede_sync.testing.integrity import find_nodes
from ganymede_sync.testing.loader import load_node
from ganymede_sync.testing.runner import ENV_OPTION
from ganymede_sync.testing.sdk import install_sdk_standin
from ganymede_sync.testing.standin import GanymedeContext, forget_current_context, make_context


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        ENV_OPTION,
        default=None,
        metavar="FOLDER",
        help="test only this environment folder's nodes (invoke test --env FOLDER)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Before test modules import: `from ganymede_sdk.io import NodeReturn` must work there.
    install_sdk_standin()


def _root(config: pytest.Config) -> Path:
    return find_root(Path(config.rootpath))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "flow_node" not in metafunc.fixturenames:
        return
    only = metafunc.config.getoption(ENV_OPTION)
    nodes = find_nodes(_root(metafunc.config), [only] if only else None)
    if not nodes:
        where = f"{only}/" if only else "the environment folders"
        reason = f"no nodes in {where} yet (invoke pull brings them)"
        metafunc.parametrize(
            "flow_node", [pytest.param(None, marks=pytest.mark.skip(reason=reason))]
        )
        return
    metafunc.parametrize("flow_node", nodes, ids=[ref.label for ref in nodes])


@pytest.fixture
def flow_root(request: pytest.FixtureRequest) -> Path:
    """The repository root (the folder of ganymede.toml) that node folders are relative to."""
    return _root(request.config)


@pytest.fixture
def node(request: pytest.FixtureRequest, flow_root: Path) -> Callable[[str, str, str], ModuleType]:
    """Load a node: ``node("dev", "qpcr-analysis", "Parse_Raw_Data").execute(...)``."""
    only = request.config.getoption(ENV_OPTION)

    def load(folder: str, flow: str, name: str) -> ModuleType:
        if only and Path(folder).name != only:
            pytest.skip(f"loads a node of {folder}/ and this run tests {only}/ only")
        return load_node(folder, flow, name, root=flow_root)

    return load


@pytest.fixture
def ganymede_context() -> Iterator[Callable[..., GanymedeContext]]:
    """Build a run context: ``ganymede_context(tables={"name": df}, files={"x.csv": b"..."})``."""

    def build(
        tables: dict[str, Any] | None = None,
        files: dict[str, bytes] | None = None,
        **run_metadata: Any,
    ) -> GanymedeContext:
        return make_context(tables, files, **run_metadata)

    yield build
    forget_current_context()
