"""The flow test kit: node loader, ganymede_sdk stand-in, integrity test, invoke test.

Loader and stand-in tests run in this process on small repositories written under
``tmp_path``. The integrity test and ``invoke test`` run as a user runs them: in a
subprocess, on a copy of this repository's tooling and flow tests with flow code of
the test's own (or the emulator's example environment, pulled for real).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path

import pytest

from ganymede_sync.testing import (
    MissingTestDataError,
    NodeImportError,
    NodeNotFoundError,
    NotEmulatedError,
    load_node,
    make_context,
)
from ganymede_sync.testing.runner import pinned_packages
from tests.tooling.pull_helpers import CONFIG, copy_tooling, fast_client, pull_with, settings_for

pd = pytest.importorskip("pandas", reason="the kit's tests need requirements-flows.txt")

REPOSITORY = Path(__file__).resolve().parents[2]


def write(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path -> source) under ``root``, dedented."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def flow_repository(root: Path, files: dict[str, str] | None = None) -> Path:
    """A repository with ganymede.toml (dev, prod) and the given flow code."""
    return write(root, {"ganymede.toml": CONFIG, **(files or {})})


# --- loader ----------------------------------------------------------------------------
def two_environments(root: Path) -> Path:
    """dev and prod each with their own lib.where, imported at load and at run time."""
    node = """\
        from lib.where import NAME, counter


        def execute():
            from lib import where  # imported again while execute runs
            counter.append(1)
            return NAME, where.NAME, len(counter)
        """
    files = {}
    for folder in ("dev", "prod"):
        files[f"{folder}/lib/where.py"] = f"NAME = {folder!r}\ncounter = []\n"
        files[f"{folder}/qpcr-analysis/Parse_Raw_Data/function.py"] = node
    return flow_repository(root, files)


def test_each_node_sees_its_own_environments_lib(tmp_path):
    root = two_environments(tmp_path)
    dev = load_node("dev", "qpcr-analysis", "Parse_Raw_Data", root=root)
    prod = load_node("prod", "qpcr-analysis", "Parse_Raw_Data", root=root)
    assert dev.execute() == ("dev", "dev", 1)
    assert prod.execute() == ("prod", "prod", 1)
    assert dev.execute() == ("dev", "dev", 2)
    assert dev.__name__ != prod.__name__


def test_a_fresh_load_gets_fresh_lib_modules_and_leaves_sys_modules_clean(tmp_path):
    root = two_environments(tmp_path)
    first = load_node("dev", "qpcr-analysis", "Parse_Raw_Data", root=root)
    first.execute()
    again = load_node("dev", "qpcr-analysis", "Parse_Raw_Data", root=root)
    assert again is not first
    assert again.execute() == ("dev", "dev", 1)
    assert not [name for name in sys.modules if name == "lib" or name.startswith("lib.")]


def test_lib_with_an_init_file_and_subpackages(tmp_path):
    root = flow_repository(
        tmp_path,
        {
            "dev/lib/__init__.py": "from lib.tools.units import FACTOR\n",
            "dev/lib/tools/__init__.py": "",
            "dev/lib/tools/units.py": "FACTOR = 1000\n",
            "dev/Flow/Node/function.py": "import lib\n\ndef execute(x):\n    return x*lib.FACTOR\n",
        },
    )
    assert load_node("dev", "Flow", "Node", root=root).execute(2) == 2000


def test_odd_flow_and_node_names_load(tmp_path):
    root = flow_repository(
        tmp_path,
        {
            "dev/qpcr-analysis/1st Pass/function.py": "def execute():\n    return 'first'\n",
            "dev/2024 plate-reads/Node-2/function.py": "def execute():\n    return 'second'\n",
        },
    )
    first = load_node("dev", "qpcr-analysis", "1st Pass", root=root)
    second = load_node("dev", "2024 plate-reads", "Node-2", root=root)
    assert (first.execute(), second.execute()) == ("first", "second")
    assert first.__name__.isidentifier() and second.__name__.isidentifier()


def test_folder_is_found_from_the_current_directory_or_given_as_a_path(tmp_path, monkeypatch):
    root = two_environments(tmp_path)
    monkeypatch.chdir(root / "prod" / "lib")
    assert load_node("dev", "qpcr-analysis", "Parse_Raw_Data").execute()[0] == "dev"
    absolute = load_node(root / "prod", "qpcr-analysis", "Parse_Raw_Data", root=Path("/"))
    assert absolute.execute()[0] == "prod"


def test_a_missing_node_names_the_path(tmp_path):
    root = two_environments(tmp_path)
    expected = root / "dev" / "qpcr-analysis" / "Typo_Node" / "function.py"
    with pytest.raises(NodeNotFoundError) as raised:
        load_node("dev", "qpcr-analysis", "Typo_Node", root=root)
    assert str(expected) in str(raised.value)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "import json\nfrom lib.missing import x\n",
            "dev/Flow/Node/function.py:2: imports lib.missing, but there is no dev/lib/missing.py",
        ),
        (
            "import not_a_flow_package_xyz\n",
            "dev/Flow/Node/function.py:1: needs the package that provides "
            "'not_a_flow_package_xyz', which is not installed: add it to requirements-flows.in",
        ),
        (
            "X = 1\nY = X / 0\n",
            "dev/Flow/Node/function.py:2: error at import time: ZeroDivisionError: division",
        ),
        ("def execute(:\n", "dev/Flow/Node/function.py:1: error at import time: SyntaxError"),
        (
            "from lib.helper import f\n",
            "dev/lib/helper.py:2 (imported by dev/Flow/Node/function.py:1): needs the package "
            "that provides 'scipy'",
        ),
        (
            "import ganymede_sdk.agent\n",
            "dev/Flow/Node/function.py:1: module ganymede_sdk.agent is not emulated",
        ),
    ],
    ids=["missing-lib", "missing-package", "import-time", "syntax", "via-lib", "not-emulated"],
)
def test_import_failures_name_file_line_and_cause(tmp_path, source, expected):
    root = flow_repository(
        tmp_path,
        {"dev/Flow/Node/function.py": source, "dev/lib/helper.py": "import os\nimport scipy\n"},
    )
    before = set(sys.modules)
    with pytest.raises(NodeImportError) as raised:
        load_node("dev", "Flow", "Node", root=root)
    assert expected in str(raised.value)
    assert not [name for name in set(sys.modules) - before if name.startswith("ganymede_node_")]


# --- stand-in ----------------------------------------------------------------------------
@pytest.fixture
def context():
    wells = pd.DataFrame({"well": ["A1", "A2"], "cq": [18.5, 30.0]})
    files = {"run.json": b'{"wells": []}', "plate.csv": b"Well,OD600\nA1,0.5\n"}
    return make_context(
        {"qpcr_wells": wells, "assays": pd.DataFrame({"assay": ["il6"]})},
        files,
        secrets={"lims_token": "s3cret"},
        flow_name="qpcr-analysis",
        node_name="Delta_Ct",
        flow_run_id="1700000000000",
        params={"Input_Param.threshold": "35"},
    )


def test_context_carries_the_documented_run_metadata(context):
    from ganymede_sdk import GanymedeContext
    from ganymede_sdk.editor import GanymedeContext as EditorContext

    assert isinstance(context, GanymedeContext) and EditorContext is GanymedeContext
    assert (context.dag.dag_id, context.task.task_id) == ("qpcr-analysis", "Delta_Ct")
    assert context.flow_run_id == context.run_id == "1700000000000"
    assert context.params["initiator"] == {"initiatorId": "local-test"}
    assert context.get_param("Input_Param", "threshold") == "35"
    context.set_param("threshold", "40", node_name="Input_Param")
    context.set_param("note", "checked")
    assert context.get_param("Input_Param", "threshold") == "40"
    assert context.params["Delta_Ct.note"] == "checked"
    assert context.created


def test_tables_come_from_the_test_and_are_copies(context):
    from ganymede_sdk import Ganymede

    g = Ganymede(context)
    one = g.retrieve_tables("qpcr_wells")
    both = g.retrieve_tables(["qpcr_wells", "assays"])
    assert list(one) == ["qpcr_wells"] and list(both) == ["qpcr_wells", "assays"]
    one["qpcr_wells"].loc[0, "cq"] = 0.0
    assert g.retrieve_tables("qpcr_wells")["qpcr_wells"].loc[0, "cq"] == 18.5
    for listing in (g.list_tables, g.list_tables_current_run, g.list_tables_all):
        assert listing()["table_name"].tolist() == ["assays", "qpcr_wells"]


def test_retrieve_sql_runs_over_the_test_tables(context):
    import ganymede_sdk
    import ganymede_sdk.io
    from ganymede_sdk import Ganymede

    g = Ganymede(context)
    late = g.retrieve_sql("SELECT well FROM qpcr_wells WHERE cq > {{ limit }};", {"limit": "20"})
    assert late["well"].tolist() == ["A2"]
    run, count = g.retrieve_sql(
        "SELECT '{{flow_run_id}}' AS run; SELECT count(*) AS n FROM qpcr_wells"
    )
    assert (run["run"][0], int(count["n"][0])) == ("1700000000000", 2)
    # The module-level form of the 2023 API answers from the latest run.
    for module in (ganymede_sdk, ganymede_sdk.io):
        assert module.retrieve_sql("SELECT count(*) AS n FROM assays")["n"][0] == 1
    with pytest.raises(MissingTestDataError, match="no value for"):
        g.retrieve_sql("SELECT {{missing}}")


def test_files_secrets_and_parameters(context):
    import ganymede_sdk
    from ganymede_sdk import Ganymede

    g = Ganymede(context)
    assert g.retrieve_files("run.json") == {"run.json": b'{"wells": []}'}
    assert g.retrieve_files(["plate.csv"], flow_input_or_output="output") == {
        "plate.csv": b"Well,OD600\nA1,0.5\n"
    }
    assert g.retrieve_files_current_run(["run.json"]) == {"run.json": b'{"wells": []}'}
    assert set(g.get_last_run_input_files()) == {"run.json", "plate.csv"}
    assert g.list_files()["file_name"].tolist() == ["plate.csv", "run.json"]
    assert g.list_files_current_flow().columns.tolist() == ["file_name", "file_path"]
    assert g.get_secret("lims_token") == ganymede_sdk.get_secret("lims_token") == "s3cret"
    assert g["Input_Param.threshold"] == "35"
    assert (g.flow_run_id, g.initiator, g.initiator_type) == ("1700000000000", "local-test", "USER")
    assert g.ganymede_context is context
    assert Ganymede().ganymede_context is context  # no argument: the latest run


def test_mock_context_is_the_latest_run(context):
    from ganymede_sdk.editor import MockGanymedeContext

    mock = MockGanymedeContext()
    assert (mock.flow_run_id, mock.dag.dag_id) == (context.flow_run_id, "qpcr-analysis")
    from ganymede_sdk import Ganymede

    assert Ganymede(mock).retrieve_tables("assays")["assays"]["assay"].tolist() == ["il6"]


def test_return_and_input_types():
    from ganymede_sdk import NodeReturn as TopLevel
    from ganymede_sdk.flow_runtime import GanymedeException
    from ganymede_sdk.io import FlowInputFile, FlowInputParam, FlowInputs, NodeReturn

    assert TopLevel is NodeReturn
    empty = NodeReturn()
    assert (empty.tables_to_upload, empty.files_to_upload, empty.if_exists) == ({}, {}, "replace")
    table = pd.DataFrame({"a": [1]})
    full = NodeReturn(
        tables_to_upload={"t": table},
        files_to_upload={"f.csv": b"a\n1\n"},
        if_exists="append",
        file_location="input",
        wait_for_job=True,
        tags={"f.csv": {"tag_type_id": "Plate"}},
    )
    assert full.tables_to_upload["t"] is table and full.file_location == "input"
    assert "tables_to_upload=['t']" in repr(full)
    with pytest.raises(ValueError, match="if_exists"):
        NodeReturn(if_exists="merge")
    inputs = FlowInputs(
        files=[FlowInputFile("Input_File", "file_data", {"a.csv": b"x"})],
        params=[FlowInputParam("Input_Param", "threshold", "35")],
    )
    assert inputs.files[0].files == {"a.csv": b"x"} and inputs.params[0].param_value == "35"
    error = GanymedeException("bad plate", exception_type="Function")
    assert (str(error), error.exception_type) == ("bad plate", "Function")


def test_environment_checks_say_not_in_ganymede():
    import ganymede_sdk.lib

    assert not ganymede_sdk.lib._is_prod_env()
    assert not ganymede_sdk.lib._is_notebook()


@pytest.mark.parametrize(
    ("use", "named"),
    [
        (lambda sdk, g: sdk.SchemaValidation(None), "ganymede_sdk.SchemaValidation"),
        (lambda sdk, g: sdk.storage.get_file_url("f", "b"), "ganymede_sdk.storage.get_file_url"),
        (
            lambda sdk, g: sdk.editor.compare_df_to_table(g.ganymede_context, None, "t"),
            "ganymede_sdk.editor.compare_df_to_table",
        ),
        (lambda sdk, g: sdk.flow_runtime.GanymedeFlowRun("key"), "GanymedeFlowRun"),
        (lambda sdk, g: g.get_table_schema("t"), "Ganymede.get_table_schema"),
        (lambda sdk, g: g.clear_cache(), "Ganymede.clear_cache"),
        (lambda sdk, g: g.ganymede_context.user, "GanymedeContext.user"),
        (lambda sdk, g: g.retrieve_tables("t", run_id_filter_field="x"), "run_id_filter_field"),
        (lambda sdk, g: g.retrieve_files("f", run_id="123"), "retrieve_files(run_id=...)"),
        (lambda sdk, g: sdk.Ganymede(flow_run_id="123"), "Ganymede(flow_run_id=...)"),
    ],
)
def test_anything_not_emulated_fails_naming_itself(context, use, named):
    import ganymede_sdk

    with pytest.raises(NotEmulatedError) as raised:
        use(ganymede_sdk, ganymede_sdk.Ganymede(context))
    assert named in str(raised.value)
    assert "is not the SDK" in str(raised.value)


def test_unemulated_imports_fail_naming_the_name():
    with pytest.raises(NotEmulatedError, match=r"module ganymede_sdk\.agent is not emulated"):
        import ganymede_sdk.agent  # noqa: F401
    with pytest.raises(NotEmulatedError, match=r"ganymede_sdk\.io\.BranchableNodeReturn"):
        from ganymede_sdk.io import BranchableNodeReturn  # noqa: F401


@pytest.mark.parametrize(
    ("use", "message"),
    [
        (lambda g: g.retrieve_tables("nope"), "no table 'nope' in this test's data"),
        (lambda g: g.retrieve_files("nope.csv"), "no file 'nope.csv'"),
        (lambda g: g.get_secret("nope"), "no secret 'nope'"),
        (lambda g: g["Input_Param.nope"], "no parameter 'Input_Param.nope'"),
    ],
)
def test_data_the_test_did_not_provide_is_named(context, use, message):
    from ganymede_sdk import Ganymede

    with pytest.raises(MissingTestDataError, match=message):
        use(Ganymede(context))


def test_make_context_refuses_unknown_metadata_and_text_files():
    with pytest.raises(TypeError, match="flow_nmae"):
        make_context(flow_nmae="typo")
    with pytest.raises(TypeError, match=r"'a\.csv' must be bytes"):
        make_context(files={"a.csv": "text"})


def test_the_real_sdk_wins_when_it_is_importable(tmp_path):
    """A ganymede_sdk on sys.path (as inside Ganymede) is used, and no stand-in appears."""
    write(tmp_path / "site", {"ganymede_sdk/__init__.py": "REAL = True\n"})
    root = flow_repository(
        tmp_path / "repo",
        {"dev/Flow/Node/function.py": "import ganymede_sdk\n\ndef execute():\n    return 1\n"},
    )
    script = textwrap.dedent(
        f"""
        import sys
        from ganymede_sync.testing import install_sdk_standin, load_node, real_sdk_importable
        assert real_sdk_importable()
        assert install_sdk_standin() is False
        node = load_node("dev", "Flow", "Node", root={str(root)!r})
        assert node.ganymede_sdk.REAL is True, node.ganymede_sdk
        assert not hasattr(sys.modules["ganymede_sdk"], "__ganymede_standin__")
        print("real sdk used")
        """
    )
    paths = os.pathsep.join([str(tmp_path / "site"), str(REPOSITORY)])
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": paths},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "real sdk used"


def test_the_kit_imports_without_pandas():
    script = (
        "import sys; sys.modules['pandas'] = None\n"
        "import ganymede_sync.testing.plugin\n"
        "from ganymede_sync.testing import install_sdk_standin, make_context\n"
        "install_sdk_standin()\n"
        "from ganymede_sdk import Ganymede\n"
        "print(Ganymede(make_context(files={'a': b'1'})).retrieve_files('a'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPOSITORY, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{'a': b'1'}"


# --- integrity test and invoke test, run as a user runs them ------------------------------
GOOD_NODE = """\
    import pandas as pd
    from ganymede_sdk import Ganymede
    from ganymede_sdk.io import NodeReturn
    from lib.units import SCALE


    def execute(df_sql_result=None, ganymede_context=None):
        table = Ganymede(ganymede_context).retrieve_tables("raw")["raw"]
        return NodeReturn(tables_to_upload={"scaled": table * SCALE})
    """
BROKEN_NODES = {
    "dev/Flow/Missing_Lib/function.py": "import json\nfrom lib.missing import x\n",
    "dev/Flow/No_Execute/function.py": "def run():\n    return 1\n",
    "dev/Flow/Missing_Package/function.py": "import os\nimport not_a_flow_package_xyz\n",
}


def user_repository(root: Path, flow_files: dict[str, str]) -> Path:
    """Copy this repository's tooling and flow tests, then add ``flow_files``."""
    copy_tooling(root, "pyproject.toml", "requirements-flows.txt")
    shutil.copytree(  # the user's tests, without the tooling's own (copied in for a run)
        REPOSITORY / "tests",
        root / "tests",
        ignore=shutil.ignore_patterns("__pycache__", "tooling"),
    )
    return flow_repository(root, flow_files)


def run_in(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GANYMEDE_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, *args],
        cwd=root,
        env={**environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_integrity_test_reports_each_broken_node_with_its_file(tmp_path):
    good = {"dev/lib/units.py": "SCALE = 2\n", "dev/Flow/Good/function.py": GOOD_NODE}
    repo = user_repository(tmp_path / "repo", {**good, **BROKEN_NODES})
    done = run_in(repo, "-m", "pytest", "-p", "no:cacheprovider", "tests")
    assert done.returncode == 1, done.stdout
    report = done.stdout
    assert "FAILED tests/test_flow_integrity.py::test_node_imports_and_defines_execute" in report
    assert "dev/Flow/Missing_Lib/function.py:2: imports lib.missing" in report
    assert "dev/Flow/No_Execute/function.py: defines no function 'execute'" in report
    assert "dev/Flow/Missing_Package/function.py:2: needs the package that provides" in report
    assert "requirements-flows.in" in report
    assert "3 failed, 1 passed, 2 skipped" in report  # the example flow is not here


TAGGING_NODE = """\
    from ganymede_sdk.file_tag import add_file_tag
    from ganymede_sdk.storage import get_file_url


    def execute(ganymede_context=None):
        add_file_tag("input/plate.csv", "Plate", "P-001")
        return get_file_url("plate.csv", "input")
    """


def test_a_node_listed_as_not_emulated_is_skipped_and_named_at_the_end(tmp_path):
    """A node the kit cannot run never blocks ``invoke test``, and never passes unseen."""
    nodes = {
        "dev/Tags/Add_File_Tag/function.py": TAGGING_NODE,
        "dev/Flow/Missing_Package/function.py": BROKEN_NODES[
            "dev/Flow/Missing_Package/function.py"
        ],
    }
    repo = user_repository(tmp_path / "repo", nodes)
    config = repo / "ganymede.toml"
    config.write_text(
        config.read_text("utf-8")
        + '\n[testing]\nnot_emulated = ["dev/Tags/Add_File_Tag", "dev/Flow"]\n',
        encoding="utf-8",
    )
    done = run_in(repo, "-m", "invoke", "test", "--", "-rs")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dev/Tags/Add_File_Tag: not emulated, by ganymede.toml" in done.stdout
    last = [line for line in done.stdout.splitlines() if line.startswith("not emulated")]
    assert last == [
        "not emulated, skipped by ganymede.toml [testing]: dev/Flow/Missing_Package, "
        "dev/Tags/Add_File_Tag"
    ]

    config.write_text(config.read_text("utf-8").replace('"dev/Flow"]', '"staging/Flow"]'))
    refused = run_in(repo, "-m", "invoke", "test")
    assert refused.returncode == 1
    assert "[testing] not_emulated" in refused.stdout + refused.stderr


def test_a_node_using_documented_sdk_calls_imports_and_runs_until_a_refused_call(tmp_path):
    from ganymede_sync.testing import load_node

    repo = user_repository(tmp_path / "repo", {"dev/Tags/Add_File_Tag/function.py": TAGGING_NODE})
    node = load_node("dev", "Tags", "Add_File_Tag", root=repo)
    context = make_context()
    with pytest.raises(NotEmulatedError, match=r"get_file_url is not emulated .*not_emulated"):
        node.execute(ganymede_context=context)
    assert [tag.display_value for tag in context.recorded.file_tags] == ["P-001"]


EXCEL_NODE = """\
    import io

    import pandas as pd
    from ganymede_sdk.io import NodeReturn


    def execute(excel_file: dict[str, bytes], ganymede_context=None):
        frames = {
            name.rsplit(".", 1)[0]: pd.read_excel(io.BytesIO(data), sheet_name=0)
            for name, data in excel_file.items()
        }
        out = io.BytesIO()
        with pd.ExcelWriter(out, engine="xlsxwriter") as writer:
            for name, frame in frames.items():
                frame.to_excel(writer, sheet_name=name, index=False)
        return NodeReturn(tables_to_upload=frames, files_to_upload={"out.xlsx": out.getvalue()})
    """


def test_an_excel_node_runs_with_the_shipped_flow_packages(tmp_path):
    """Ganymede's Excel_Read/Excel_Write style: the locked flow packages hold both engines."""
    import pandas as pd

    from ganymede_sync.testing import load_node

    repo = user_repository(tmp_path / "repo", {"dev/Excel/Read_Write/function.py": EXCEL_NODE})
    workbook = io.BytesIO()
    pd.DataFrame({"well": ["A1", "A2"], "od": [0.5, 0.7]}).to_excel(workbook, index=False)
    node = load_node("dev", "Excel", "Read_Write", root=repo)
    result = node.execute({"plate.xlsx": workbook.getvalue()}, ganymede_context=make_context())
    assert result.tables_to_upload["plate"].to_dict("list") == {
        "well": ["A1", "A2"],
        "od": [0.5, 0.7],
    }
    assert pd.read_excel(io.BytesIO(result.files_to_upload["out.xlsx"])).shape == (2, 2)
    pinned = (repo / "requirements-flows.txt").read_text("utf-8")
    assert "openpyxl==" in pinned and "xlsxwriter==" in pinned


def test_the_integrity_test_names_a_missing_pandas_engine(tmp_path):
    parquet = "import pandas as pd\n\n\ndef execute(path):\n    return pd.read_parquet(path)\n"
    repo = user_repository(tmp_path / "repo", {"dev/Lake/Load/function.py": parquet})
    done = run_in(repo, "-m", "pytest", "-p", "no:cacheprovider", "tests")
    assert done.returncode == 1
    assert (
        "dev/Lake/Load/function.py:5: read_parquet needs pyarrow or fastparquet, which is not "
        "installed: add pyarrow to requirements-flows.in"
    ) in done.stdout


def test_invoke_test_exit_codes_env_and_pytest_arguments(tmp_path):
    good = {"dev/lib/units.py": "SCALE = 2\n", "dev/Flow/Good/function.py": GOOD_NODE}
    prod = {"prod/lib/units.py": "SCALE = 3\n", "prod/Flow/Good/function.py": GOOD_NODE}
    repo = user_repository(tmp_path / "repo", {**good, **prod, **BROKEN_NODES})

    failing = run_in(repo, "-m", "invoke", "test")
    assert failing.returncode == 1
    assert "error: flow tests failed" in failing.stderr
    assert "3 failed" in failing.stdout

    only_prod = run_in(repo, "-m", "invoke", "test", "--env", "prod", "--", "-v")
    assert only_prod.returncode == 0, only_prod.stdout
    assert "test_node_imports_and_defines_execute[prod/Flow/Good] PASSED" in only_prod.stdout
    assert "dev/Flow" not in only_prod.stdout

    selected = run_in(repo, "-m", "invoke", "test", "--", "-k", "Good and not prod", "-v")
    assert selected.returncode == 0, selected.stdout
    assert "test_node_imports_and_defines_execute[dev/Flow/Good] PASSED" in selected.stdout
    assert "prod/Flow/Good" not in selected.stdout

    unknown = run_in(repo, "-m", "invoke", "test", "--env", "staging")
    assert unknown.returncode == 1
    assert "unknown environment 'staging'" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_invoke_test_names_the_file_to_install_when_packages_are_missing(tmp_path):
    repo = user_repository(tmp_path / "repo", {})
    lock = repo / "requirements-flows.txt"
    lock.write_text(lock.read_text() + "not-a-flow-package-xyz==1.0 \\\n    --hash=sha256:00\n")
    done = run_in(repo, "-m", "invoke", "test")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: the flows' packages are not installed (not-a-flow-package-xyz): "
        "run pip install -r requirements-flows.txt"
    )


def test_lock_file_pins_are_read_with_their_markers():
    pins = pinned_packages(REPOSITORY / "requirements-flows.txt")
    assert {"pytest", "pandas", "numpy"} <= set(pins)
    assert ("colorama" in pins) == (sys.platform == "win32")


def test_example_test_passes_on_the_pulled_example_and_fails_when_the_node_breaks(
    tmp_path, emulator
):
    """As a new user: pull the example environment, run invoke test, then break the node."""
    repo = user_repository(tmp_path / "repo", {})
    pull_with(settings_for(repo, emulator.url), "dev", connect=fast_client())
    passing = run_in(repo, "-m", "invoke", "test", "--", "-v")
    assert passing.returncode == 0, passing.stdout
    example = "test_example_flow.py::test_delta_ct_against_the_mean_of_the_reference_genes"
    assert f"{example} PASSED" in passing.stdout
    assert "test_node_imports_and_defines_execute[dev/qPCR_Analysis/Delta_Ct] PASSED" in (
        passing.stdout
    )

    node = repo / "dev" / "qPCR_Analysis" / "Delta_Ct" / "function.py"
    node.write_text(node.read_text().replace('targets["cq"] - targets', 'targets["cq"] + targets'))
    failing = run_in(repo, "-m", "invoke", "test")
    assert failing.returncode == 1
    assert f"FAILED tests/{example}" in failing.stdout


def test_example_test_skips_with_its_reason_when_the_example_is_absent(tmp_path):
    repo = user_repository(tmp_path / "repo", {})
    done = run_in(repo, "-m", "invoke", "test", "--", "-rs")
    assert done.returncode == 0, done.stdout
    assert "example flow dev/qPCR_Analysis (from the emulator's example data) is not here" in (
        done.stdout
    )
    assert "no nodes in the environment folders yet" in done.stdout


def test_invoke_help_explains_where_tests_go():
    done = run_in(REPOSITORY, "-m", "invoke", "--help", "test")
    assert done.returncode == 0
    assert "tests/" in done.stdout
    assert 'node("dev", "my-flow", "My_Node")' in done.stdout
    assert "invoke test --env dev -- -k delta -x" in done.stdout


DOCUMENTED_IMPORTS = """\
from ganymede_sdk import Ganymede, GanymedeContext, NodeReturn, SchemaValidation, get_secret
from ganymede_sdk.api.benchling import Benchling
from ganymede_sdk.editor import MockGanymedeContext, compare_df_to_table
from ganymede_sdk.file_tag import (
    add_file_tag, delete_file_tag, delete_specific_file_tag, get_file_tags, upsert_file_tag,
)
from ganymede_sdk.flow_runtime import GanymedeException, GanymedeFlowRun
from ganymede_sdk.io import FlowInputFile, FlowInputParam, FlowInputs, retrieve_sql
from ganymede_sdk.lib import _is_editor_notebook, _is_prod_env, is_cron_flow
from ganymede_sdk.notebook import save
from ganymede_sdk.storage import get_file_url, get_gcs_uri
from ganymede_sdk.util.email import GanymedeEmailAlert
import ganymede_sdk.validation.allotrope
"""
"""Every name of Ganymede's documented SDK surface, as node code imports it."""


def test_every_documented_name_imports_so_no_valid_node_is_blocked():
    namespace: dict = {}
    exec(compile(DOCUMENTED_IMPORTS, "imports.py", "exec"), namespace)  # noqa: S102
    assert namespace["add_file_tag"].__module__.endswith("recorded")


def test_a_refused_name_fails_only_when_called_and_can_be_subclassed():
    from ganymede_sdk.api.benchling import Benchling

    class LabBenchling(Benchling):  # what a node may do at import time
        pass

    with pytest.raises(NotEmulatedError, match=r"ganymede_sdk\.api\.benchling\.Benchling"):
        LabBenchling(None)


def test_file_tags_a_node_adds_are_recorded_on_the_run(context):
    from ganymede_sdk.file_tag import add_file_tag, get_file_tags, upsert_file_tag

    add_file_tag("input/plate.csv", "Plate", "P-001")
    add_file_tag("input/plate.csv", "Instrument", "qPCR-2")
    upsert_file_tag("input/plate.csv", "Plate", "P-002")
    tags = [(tag.tag_type_id, tag.display_value) for tag in context.recorded.file_tags]
    assert tags == [("Instrument", "qPCR-2"), ("Plate", "P-002")]
    assert [tag.display_value for tag in get_file_tags("input/plate.csv")] == ["qPCR-2", "P-002"]
    assert get_file_tags("other.csv") == []


def test_an_email_is_recorded_and_never_sent(context):
    from ganymede_sdk.util.email import GanymedeEmailAlert

    html = GanymedeEmailAlert(context).send_email(["lab@example.com"], "Run done", "3 plates")
    assert "Run done" in html and "3 plates" in html
    [email] = context.recorded.emails
    assert (email.to, email.subject, email.message) == (["lab@example.com"], "Run done", "3 plates")


# --- whole flows ----------------------------------------------------------------------
CHAIN = {
    "dev/lib/units.py": "SCALE = 10\n",
    "dev/Chain/Load/function.py": """\
        import pandas as pd
        from ganymede_sdk.io import NodeReturn


        def execute(file_data: dict[str, bytes], ganymede_context=None):
            rows = [line.split(",") for line in file_data["in.csv"].decode().split()]
            frame = pd.DataFrame(rows[1:], columns=rows[0]).astype({"value": float})
            return NodeReturn(tables_to_upload={"raw": frame})
        """,
    "dev/Chain/Scale/query.sql": "SELECT id, value FROM raw WHERE value > 1",
    "dev/Chain/Scale/function.py": """\
        from ganymede_sdk.io import NodeReturn
        from lib.units import SCALE


        def execute(df_sql_result, ganymede_context=None):
            df_sql_result["scaled"] = df_sql_result["value"] * SCALE
            return NodeReturn(
                tables_to_upload={"scaled": df_sql_result},
                files_to_upload={"scaled.csv": df_sql_result.to_csv(index=False).encode()},
            )
        """,
    "dev/Chain/Report/function.py": """\
        from ganymede_sdk import Ganymede


        def execute(ganymede_context=None):
            scaled = Ganymede(ganymede_context).retrieve_tables("scaled")["scaled"]
            return {"total": float(scaled["scaled"].sum())}
        """,
    "dev/Chain/Broken/function.py": """\
        from ganymede_sdk import Ganymede


        def execute(ganymede_context=None):
            return Ganymede(ganymede_context).retrieve_tables("raw")["raw"]["missing_column"]
        """,
}


def test_run_flow_hands_each_nodes_tables_to_the_next(tmp_path):
    from ganymede_sync.testing import run_flow

    repo = user_repository(tmp_path / "repo", CHAIN)
    run = run_flow(
        "dev",
        "Chain",
        ["Load", "Scale", "Report"],
        inputs={"Load": {"file_data": {"in.csv": b"id,value\na,1\nb,2\nc,3\n"}}},
        root=repo,
    )
    assert list(run.returns) == ["Load", "Scale", "Report"]
    assert run.returns["Report"] == {"total": 50.0}
    assert run.tables["scaled"]["id"].tolist() == ["b", "c"]
    assert run.files["scaled.csv"].decode().splitlines()[0] == "id,value,scaled"


def test_a_failing_node_in_the_middle_is_named_with_its_own_traceback(tmp_path):
    from ganymede_sync.testing import FlowNodeFailed, run_flow

    repo = user_repository(tmp_path / "repo", CHAIN)
    with pytest.raises(FlowNodeFailed, match=r"^Chain/Broken failed: KeyError: 'missing_column'"):
        run_flow(
            "dev",
            "Chain",
            ["Load", "Broken", "Report"],
            inputs={"Load": {"file_data": {"in.csv": b"id,value\na,1\n"}}},
            root=repo,
        )
    with pytest.raises(FlowNodeFailed) as failed:
        run_flow("dev", "Chain", ["Broken"], root=repo, tables={"raw": {"id": ["a"]}})
    cause = failed.value.__cause__
    assert isinstance(cause, KeyError)
    files = [frame.filename for frame in traceback.extract_tb(cause.__traceback__)]
    assert any(name.endswith("Chain/Broken/function.py") for name in files), files


def test_run_flow_names_a_missing_input_before_running_the_node(tmp_path):
    from ganymede_sync.testing import MissingTestDataError, run_flow

    repo = user_repository(tmp_path / "repo", CHAIN)
    with pytest.raises(MissingTestDataError, match=r"Chain/Load needs 'file_data': pass inputs="):
        run_flow("dev", "Chain", ["Load"], root=repo)
    with pytest.raises(MissingTestDataError, match=r"inputs for Lod, which is not among"):
        run_flow("dev", "Chain", ["Load"], root=repo, inputs={"Lod": {}})
