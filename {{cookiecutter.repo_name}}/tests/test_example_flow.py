"""A worked example of a flow test: copy this file, point it at one of your nodes.

It tests the node Delta_Ct of the example flow qPCR_Analysis, which the local
emulator's example data contains (`invoke emulator`, then `invoke pull --env dev`).
Your own repository does not have that flow, so there this test is skipped.
Run it with `invoke test` (or `invoke test -- -k delta`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ganymede_sync.testing import node_path

EXAMPLE = ("dev", "qPCR_Analysis", "Delta_Ct")  # environment folder, flow, node

pytestmark = pytest.mark.skipif(
    not node_path(*EXAMPLE, root=Path(__file__).parent).is_file(),
    reason="example flow dev/qPCR_Analysis (from the emulator's example data) is not here",
)


def test_delta_ct_against_the_mean_of_the_reference_genes(node, ganymede_context):
    import pandas as pd

    delta_ct = node(*EXAMPLE)
    # What the node reads: the table qpcr_wells (via Ganymede(...).retrieve_tables) ...
    wells = pd.DataFrame(
        {
            "well": ["A2", "A1", "B1", "B2", "A3"],
            "sample": ["S1", "S1", "S2", "S2", "S1"],
            "target": ["IL6", "GAPDH", "GAPDH", "IL6", "ACTB"],
            "cq": [25.5, 18.0, 19.0, 24.0, 20.0],
        }
    )
    # ... and the result of its query.sql, passed as df_sql_result.
    references = pd.DataFrame({"assay": ["cytokines"] * 2, "reference_target": ["GAPDH", "ACTB"]})

    context = ganymede_context(tables={"qpcr_wells": wells})
    result = delta_ct.execute(references, ganymede_context=context)

    table = result.tables_to_upload["qpcr_delta_cq"]
    assert table.to_dict("records") == [
        {"well": "A2", "sample": "S1", "target": "IL6", "delta_cq": 6.5},
        {"well": "B2", "sample": "S2", "target": "IL6", "delta_cq": 5.0},
    ]
    assert result.files_to_upload["delta_cq.csv"].decode().splitlines()[0] == (
        "well,sample,target,delta_cq"
    )


def test_the_whole_qpcr_flow_from_the_cycler_export_to_the_flagged_table(flow):
    """All three nodes as one run: each node's uploaded tables are the next one's input."""
    import json

    import pandas as pd

    export = {
        "wells": [
            {"well": "A1", "sample": "S1", "target": "GAPDH", "cq": 18.0},
            {"well": "A2", "sample": "S1", "target": "IL6", "cq": 25.5},
            {"well": "B1", "sample": "S2", "target": "GAPDH", "cq": 19.0},
            {"well": "B2", "sample": "S2", "target": "IL6", "cq": 40.0},
        ]
    }
    # What exists in Ganymede before the run: the table that Delta_Ct's query.sql reads.
    reference_genes = pd.DataFrame({"assay": ["cytokines"], "target": ["GAPDH"], "active": [1]})

    run = flow(
        *EXAMPLE[:2],
        ["Load_Run", "Delta_Ct", "Flag_Outliers"],
        inputs={"Load_Run": {"file_data": {"run.json": json.dumps(export).encode()}}},
        tables={"qpcr_reference_genes": reference_genes},
    )

    flagged = run.tables["qpcr_flagged"]
    assert flagged[["well", "delta_cq", "outlier"]].to_dict("records") == [
        {"well": "A2", "delta_cq": 7.5, "outlier": False},
        {"well": "B2", "delta_cq": 21.0, "outlier": True},
    ]
    assert "delta_cq.csv" in run.files
