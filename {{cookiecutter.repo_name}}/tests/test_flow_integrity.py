"""Every node of every environment folder imports and defines a callable ``execute``.

Needs no code of yours: each node listed under the folders of ganymede.toml is
imported as Ganymede would run it (its folder's ``lib/`` as ``lib``, the local
``ganymede_sdk`` stand-in), and a failure names the file, the line and the cause.
A folder that has not been pulled yet simply has no nodes to check.
"""

from __future__ import annotations

import pytest
from ganymede_sync.testing.integrity import check_node


def test_node_imports_and_defines_execute(flow_node, flow_root):
    problem = check_node(flow_node, flow_root)
    if problem:
        pytest.fail(problem, pytrace=False)
