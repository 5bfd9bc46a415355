"""Example content of a new emulator environment, laid out as Ganymede's pipeline repository.

Three small lab flows (plate-reader ingest, qPCR analysis, LIMS sample sync) whose nodes
import a shared ``lib/`` package (the qPCR nodes are written as in Ganymede: pandas,
``ganymede_sdk`` table retrieval, ``NodeReturn``; the example flow test exercises them),
SQL next to the Python of nodes that read tables, and the files Ganymede manages itself
(``dags/callbacks.py``, a connector configuration, a flow README), which the commits API
never exposes. This module only returns data.
"""

from __future__ import annotations

from typing import Any

from ganymede_sync.emulator import flows

SEEDS = ("example", "none")

_CALLBACKS = '''"""Managed by Ganymede: task callbacks of every flow. Do not edit."""


def on_failure_callback(context):
    return None
'''

_LAB_INIT = '''"""Shared helpers of this environment's flows."""
'''

_PLATES_INIT = '''"""Plate layouts and well naming."""

from lib.labtools.plates.layout import well_ids

__all__ = ["well_ids"]
'''

_LAYOUT = '''"""Well identifiers of standard microplates."""

ROWS = {96: "ABCDEFGH", 384: "ABCDEFGHIJKLMNOP"}
COLUMNS = {96: 12, 384: 24}


def well_ids(size: int = 96) -> list[str]:
    """Return A1, A2, ... for a plate of ``size`` wells, row by row."""
    return [f"{row}{col}" for row in ROWS[size] for col in range(1, COLUMNS[size] + 1)]
'''

_UNITS = '''"""Unit conversions used across flows."""


def ng_per_ul_to_nm(concentration: float, length_bp: int) -> float:
    """Convert a dsDNA concentration to nanomolar (660 g/mol per base pair)."""
    return concentration * 1e6 / (660 * length_bp)
'''

_SAMPLE_COLUMNS = """-- Columns every sample table exposes to the LIMS sync.
SELECT sample_id, barcode, project, collected_at
FROM samples
"""

_READ_PLATE = '''import csv
import io


def execute(file_data: dict[str, bytes], ganymede_context=None) -> list[dict]:
    """Parse the plate reader's CSV export into one row per well."""
    name, content = next(iter(file_data.items()))
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    return [{"file": name, "well": r["Well"], "od600": float(r["OD600"])} for r in rows]
'''

_MAP_WELLS = '''from lib.labtools.plates.layout import well_ids


def execute(readings: list[dict], ganymede_context=None) -> list[dict]:
    """Keep readings of known wells, in plate order."""
    order = {well: index for index, well in enumerate(well_ids(96))}
    known = [r for r in readings if r["well"] in order]
    return sorted(known, key=lambda r: order[r["well"]])
'''

_BLANK_QUERY = """-- Blank wells of the plates read today, used to subtract background.
SELECT plate_barcode, well, od600
FROM plate_reads
WHERE well_role = 'blank'
  AND read_date = CURRENT_DATE
"""

_SUBTRACT_BLANK = '''def execute(df_sql_result, readings: list[dict], ganymede_context=None):
    """Subtract the mean blank OD600 from every reading."""
    blanks = [row["od600"] for row in df_sql_result.to_dict("records")]
    background = sum(blanks) / len(blanks) if blanks else 0.0
    return [{**r, "od600": round(r["od600"] - background, 4)} for r in readings]
'''

_PLATE_README = """# Plate_Reader_Ingest

Picks up CSV exports of the absorbance reader from the lab share and stores blank-corrected
OD600 values per well. Owner: assay development.
"""

_LOAD_RUN = '''import json

import pandas as pd
from ganymede_sdk import GanymedeContext
from ganymede_sdk.io import NodeReturn


def execute(file_data: dict[str, bytes], ganymede_context: GanymedeContext = None) -> NodeReturn:
    """Read Cq values from the cycler's JSON export into the table qpcr_wells."""
    rows = []
    for name, content in file_data.items():
        run = json.loads(content)
        rows += [{**well, "run_file": name} for well in run["wells"]]
    wells = pd.DataFrame(rows, columns=["well", "sample", "target", "cq", "run_file"])
    return NodeReturn(tables_to_upload={"qpcr_wells": wells})
'''

_REFERENCE_QUERY = """-- Reference genes configured per assay.
SELECT assay, target AS reference_target
FROM qpcr_reference_genes
WHERE active
"""

_DELTA_CT = '''import pandas as pd
from ganymede_sdk import Ganymede, GanymedeContext
from ganymede_sdk.io import NodeReturn
from lib.labtools.plates.layout import well_ids


def execute(df_sql_result: pd.DataFrame, ganymede_context: GanymedeContext = None) -> NodeReturn:
    """Delta Cq of every target against the mean Cq of the sample's reference genes.

    df_sql_result lists the reference genes (query.sql); the wells come from the table
    that Load_Run wrote. Results are in plate order, as a table and as a CSV file.
    """
    wells = Ganymede(ganymede_context).retrieve_tables(["qpcr_wells"])["qpcr_wells"]
    is_reference = wells["target"].isin(set(df_sql_result["reference_target"]))
    reference_cq = wells[is_reference].groupby("sample")["cq"].mean().rename("reference_cq")
    targets = wells[~is_reference].join(reference_cq, on="sample")
    targets["delta_cq"] = (targets["cq"] - targets["reference_cq"]).round(3)
    plate_order = {well: index for index, well in enumerate(well_ids(96))}
    targets = targets.sort_values("well", key=lambda column: column.map(plate_order))
    result = targets[["well", "sample", "target", "delta_cq"]].reset_index(drop=True)
    csv = result.to_csv(index=False).encode()
    return NodeReturn(
        tables_to_upload={"qpcr_delta_cq": result}, files_to_upload={"delta_cq.csv": csv}
    )
'''

_FLAG_OUTLIERS = '''from ganymede_sdk import Ganymede, GanymedeContext
from ganymede_sdk.io import NodeReturn

ACCEPTED_DELTA_CQ = (-15.0, 15.0)


def execute(df_sql_result=None, ganymede_context: GanymedeContext = None) -> NodeReturn:
    """Flag delta Cq values outside the assay's accepted window."""
    results = Ganymede(ganymede_context).retrieve_tables("qpcr_delta_cq")["qpcr_delta_cq"]
    low, high = ACCEPTED_DELTA_CQ
    results["outlier"] = ~results["delta_cq"].between(low, high)
    return NodeReturn(tables_to_upload={"qpcr_flagged": results})
'''

_NEW_SAMPLES_QUERY = """-- Samples registered since the last successful sync.
SELECT s.sample_id, s.barcode, s.project, s.collected_at
FROM samples AS s
LEFT JOIN lims_sync_log AS l ON l.sample_id = s.sample_id
WHERE l.sample_id IS NULL
"""

_FETCH_SAMPLES = '''def execute(df_sql_result, ganymede_context=None) -> list[dict]:
    """Return new samples as plain records."""
    return df_sql_result.to_dict("records")
'''

_MAP_FIELDS = '''from lib.labtools.units import ng_per_ul_to_nm

FIELD_NAMES = {"sample_id": "externalId", "barcode": "barcode", "project": "projectCode"}


def execute(samples: list[dict], ganymede_context=None) -> list[dict]:
    """Rename columns to the LIMS field names and add molarity where known."""
    mapped = []
    for sample in samples:
        record = {FIELD_NAMES[k]: v for k, v in sample.items() if k in FIELD_NAMES}
        if sample.get("ng_per_ul") and sample.get("length_bp"):
            record["nM"] = ng_per_ul_to_nm(sample["ng_per_ul"], sample["length_bp"])
        mapped.append(record)
    return mapped
'''

_PUSH = '''import json


def execute(records: list[dict], ganymede_context=None) -> dict:
    """Build the LIMS batch request; the LIMS connector sends it."""
    return {"endpoint": "/api/v2/samples:batchUpsert", "body": json.dumps({"samples": records})}
'''

_CONNECTOR = """# Managed by Ganymede: connection to the lab file share.
name: lab_share
type: smb
host: files.lab.example.com
path: /instruments/exports
"""


def example_files() -> dict[str, bytes]:
    """Return the example environment: pipeline repository path -> content."""
    files = {
        "dags/callbacks.py": _CALLBACKS,
        "connectors/lab_share.yaml": _CONNECTOR,
        "lib/labtools/__init__.py": _LAB_INIT,
        "lib/labtools/units.py": _UNITS,
        "lib/labtools/plates/__init__.py": _PLATES_INIT,
        "lib/labtools/plates/layout.py": _LAYOUT,
        "lib/labtools/sql/sample_columns.sql": _SAMPLE_COLUMNS,
        "dags/Plate_Reader_Ingest/README.md": _PLATE_README,
        "dags/Plate_Reader_Ingest/Read_Plate/function.py": _READ_PLATE,
        "dags/Plate_Reader_Ingest/Map_Wells/function.py": _MAP_WELLS,
        "dags/Plate_Reader_Ingest/Subtract_Blank/query.sql": _BLANK_QUERY,
        "dags/Plate_Reader_Ingest/Subtract_Blank/function.py": _SUBTRACT_BLANK,
        "dags/qPCR_Analysis/Load_Run/function.py": _LOAD_RUN,
        "dags/qPCR_Analysis/Delta_Ct/query.sql": _REFERENCE_QUERY,
        "dags/qPCR_Analysis/Delta_Ct/function.py": _DELTA_CT,
        "dags/qPCR_Analysis/Flag_Outliers/function.py": _FLAG_OUTLIERS,
        "dags/LIMS_Sample_Sync/Fetch_Samples/query.sql": _NEW_SAMPLES_QUERY,
        "dags/LIMS_Sample_Sync/Fetch_Samples/function.py": _FETCH_SAMPLES,
        "dags/LIMS_Sample_Sync/Map_Fields/function.py": _MAP_FIELDS,
        "dags/LIMS_Sample_Sync/Push_To_LIMS/function.py": _PUSH,
    }
    encoded = {path: text.encode() for path, text in files.items()}
    for flow, document in _documents().items():
        encoded[flows.document_path(flow)] = flows.encode(document)
    return encoded


def _documents() -> dict[str, dict[str, Any]]:
    """Return the example flows' structure and settings, as the Flow Editor would save them."""
    plates = _chain(
        ("Read_Plate", "Input_File", {"file_pattern": "*.csv"}),
        ("Map_Wells", "Python", {}),
        ("Subtract_Blank", "Python", {}),
    )
    qpcr = _chain(
        ("Load_Run", "Input_File", {"file_pattern": "*.xlsx"}),
        ("Delta_Ct", "Python", {}),
        ("Flag_Outliers", "Python", {}),
    )
    lims = _chain(("Fetch_Samples", "Python", {}), ("Map_Fields", "Python", {}),
                  ("Push_To_LIMS", "Python", {}))  # fmt: skip
    owner = {"owner": "lab-data", "retries": 1, "email": ["lab-data@example.com"],
             "email_on_failure": True, "email_on_retry": False}  # fmt: skip
    return {
        "Plate_Reader_Ingest": _document(plates, "Plate Reader Ingest", "None", owner),
        "qPCR_Analysis": _document(qpcr, "qPCR Analysis", "None", owner),
        "LIMS_Sample_Sync": _document(lims, "LIMS Sample Sync", "0 2 * * *", owner),
    }


def _chain(*steps: tuple[str, str, dict[str, str]]) -> dict[str, Any]:
    """Return tasks that run one after the other, in the order given."""
    tasks: dict[str, Any] = {}
    previous: list[str] = []
    for name, operator, params in steps:
        tasks[name] = {"operator": operator, "params": params, "dependencies": previous}
        previous = [name]
    return tasks


def _document(
    tasks: dict[str, Any], name: str, schedule: str, default_args: dict[str, Any]
) -> dict[str, Any]:
    settings = {"displayName": name, "schedule_interval": schedule, "tags": ["example"],
                "max_active_runs": 1, "default_args": default_args}  # fmt: skip
    return {"version": "1", "pipeline": {"tasks": tasks}, "settings": settings}


def initial_tables(seed: str) -> dict[str, bytes]:
    """Return the tables (name -> CSV) an environment of ``seed`` holds for its flow runs:
    the example's qPCR flow reads its reference genes, the LIMS sync its samples."""
    if seed == "example":
        return {
            "qpcr_reference_genes": b"assay,target,active\ncytokines,GAPDH,1\n",
            "samples": (
                b"sample_id,barcode,project,collected_at\n"
                b"S-001,BC0001,P-17,2026-11-30\nS-002,BC0002,P-17,2026-12-01\n"
            ),
            "lims_sync_log": b"sample_id,synced_at\nS-001,2026-12-01\n",
        }
    return {}


def initial_files(seed: str) -> dict[str, bytes]:
    """Return the first commit of a new environment for ``seed`` ("example" or "none").

    Even an empty environment has Ganymede's managed ``dags/callbacks.py``, as a new
    Ganymede environment does.
    """
    if seed == "example":
        return example_files()
    if seed == "none":
        return {"dags/callbacks.py": _CALLBACKS.encode()}
    raise ValueError(f"unknown seed {seed!r}; use one of {', '.join(SEEDS)}")
