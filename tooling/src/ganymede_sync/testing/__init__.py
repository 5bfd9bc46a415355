"""Test flow code offline: load a node as Ganymede runs it, with a stand-in ``ganymede_sdk``.

- ``load_node(folder, flow, node)`` imports ``<folder>/<flow>/<node>/function.py`` as a
  fresh module; inside it ``import lib...`` is that folder's ``lib/``, and folders never
  mix. ``node_path`` says where that file is.
- ``make_context(tables=None, files=None, **run_metadata)`` builds the context a node's
  ``execute`` receives; ``Ganymede(context)`` answers from ``tables`` (name -> DataFrame)
  and ``files`` (name -> bytes).
- ``run_flow(folder, flow, nodes, inputs=..., tables=..., files=...)`` runs a whole
  flow's nodes in order as one run, each node's uploaded tables and files the next
  ones' inputs, and returns a ``FlowRun`` (every node's return, the final tables and
  files, what was recorded).
- ``ganymede_sync.testing.plugin`` gives pytest the fixtures ``node``, ``flow`` and
  ``ganymede_context`` (registered in ``tests/conftest.py``).

The ``ganymede_sdk`` stand-in follows Ganymede's public SDK documentation; it is not
the SDK. It is used only when the real ``ganymede_sdk`` cannot be imported, and
anything it does not emulate raises ``NotEmulatedError`` naming it. See docs/testing.md.
"""

from __future__ import annotations

from ganymede_sync.errors import (
    FlowNodeFailed,
    MissingTestDataError,
    NodeImportError,
    NodeNotFoundError,
    NotEmulatedError,
)
from ganymede_sync.testing.flows import FlowRun, run_flow
from ganymede_sync.testing.loader import NodeRef, load_node, node_path
from ganymede_sync.testing.sdk import install_sdk_standin, real_sdk_importable
from ganymede_sync.testing.standin import make_context

__all__ = [
    "FlowNodeFailed",
    "FlowRun",
    "MissingTestDataError",
    "NodeImportError",
    "NodeNotFoundError",
    "NodeRef",
    "NotEmulatedError",
    "install_sdk_standin",
    "load_node",
    "make_context",
    "node_path",
    "real_sdk_importable",
    "run_flow",
]
