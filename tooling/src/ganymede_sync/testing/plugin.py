"""pytest plugin of the flow test kit: fixtures, the ``--ganymede-env`` option, the stand-in.

``tests/conftest.py`` registers it (``pytest_plugins = ["ganymede_sync.testing.plugin"]``),
which gives every test under ``tests/`` these fixtures:

- ``node(folder, flow, node)``: the node's ``function.py`` as a fresh module
  (see ``ganymede_sync.testing.load_node``);
- ``ganymede_context(tables=..., files=..., **run_metadata)``: a context for ``execute``
  (see ``ganymede_sync.testing.make_context``);
- ``flow(folder, flow, nodes, inputs=..., tables=..., files=...)``: a whole flow run
  offline (see ``ganymede_sync.testing.run_flow``);
- ``flow_node``: one node per test, for tests that check every node (the integrity test);
- ``flow_root``: the repository root that folder names are relative to.

``--ganymede-env ENV`` (what ``invoke test --env ENV`` passes) limits a run to one
environment folder: the integrity test checks only its nodes, and a test that loads a
node of another folder is skipped with a reason.

A node listed in ``[testing] not_emulated`` of ganymede.toml (it calls what only
Ganymede does) is skipped the same way, by the integrity test and by ``node``, and the
end of every run names each such node: a node the kit cannot run never blocks a
deploy, and never passes unseen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ganymede_sync.settings.config import find_root, load_settings
from ganymede_sync.testing.flows import FlowRun, run_flow
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


NOT_EMULATED = pytest.StashKey[set[str]]()
"""The nodes this run skipped for ``[testing] not_emulated``, for the closing summary."""


def _root(config: pytest.Config) -> Path:
    return find_root(Path(config.rootpath))


def not_emulated_reason(root: Path, folder: str, flow: str, node: str) -> str | None:
    """Why the kit does not run this node (``[testing] not_emulated``), or None."""
    if load_settings(root, environ={}).is_emulated(Path(folder).name, flow, node):
        return None
    return f"{Path(folder).name}/{flow}/{node}: not emulated, by ganymede.toml"


def _skip_not_emulated(config: pytest.Config, reason: str) -> None:
    config.stash.setdefault(NOT_EMULATED, set()).add(reason.split(":", 1)[0])
    pytest.skip(reason)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if NOT_EMULATED not in config.stash:
        return
    skipped: set[str] = config.stash[NOT_EMULATED]
    shown = ", ".join(sorted(skipped))
    terminalreporter.write_line(f"not emulated, skipped by ganymede.toml [testing]: {shown}")


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


@pytest.fixture(autouse=True)
def _skip_nodes_not_emulated(request: pytest.FixtureRequest) -> None:
    """Skip the integrity test of a node listed in ``[testing] not_emulated``."""
    ref = getattr(request.node, "callspec", None) and request.node.callspec.params.get("flow_node")
    if ref is None:
        return
    reason = not_emulated_reason(_root(request.config), ref.folder, ref.flow, ref.node)
    if reason:
        _skip_not_emulated(request.config, reason)


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
        reason = not_emulated_reason(flow_root, folder, flow, name)
        if reason:
            _skip_not_emulated(request.config, reason)
        return load_node(folder, flow, name, root=flow_root)

    return load


@pytest.fixture
def flow(request: pytest.FixtureRequest, flow_root: Path) -> Iterator[Callable[..., FlowRun]]:
    """Run a whole flow: ``flow("dev", "qPCR_Analysis", ["Load_Run", "Delta_Ct"], ...)``."""
    only = request.config.getoption(ENV_OPTION)

    def run(folder: str, flow: str, nodes: list[str], **data: Any) -> FlowRun:
        if only and Path(folder).name != only:
            pytest.skip(f"runs a flow of {folder}/ and this run tests {only}/ only")
        for name in nodes:
            reason = not_emulated_reason(flow_root, folder, flow, name)
            if reason:
                _skip_not_emulated(request.config, reason)
        return run_flow(folder, flow, nodes, root=flow_root, **data)

    yield run
    forget_current_context()


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
