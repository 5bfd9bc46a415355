"""Offline checks of an environment folder: syntax, stray files, new node files."""

from __future__ import annotations

from pathlib import Path

from ganymede_sync.plans.checks import check_folder, compile_problems, stray_problems
from ganymede_sync.rules.layout import scan_managed


def write(folder: Path, files: dict[str, str | bytes]) -> None:
    for path, content in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        target.write_bytes(data)


def test_every_syntax_error_is_reported_with_file_and_line(tmp_path):
    folder = tmp_path / "dev"
    write(
        folder,
        {
            "a/n/function.py": "x = 1\ndef broken(:\n",
            "b/n/function.py": "ok = True\n",
            "lib/util.py": "\n\n  indented = 1\n",
            "c/n/query.sql": "select (",
        },
    )
    problems = compile_problems("dev", scan_managed(folder))
    assert [(p.path, p.line) for p in problems] == [
        ("dev/a/n/function.py", 2),
        ("dev/lib/util.py", 3),
    ]
    assert str(problems[0]).startswith("dev/a/n/function.py line 2: ")


def test_null_bytes_are_reported_not_raised(tmp_path):
    problems = compile_problems("dev", {"lib/x.py": b"a = 1\0\n"})
    assert [p.path for p in problems] == ["dev/lib/x.py"]


def test_compiling_never_runs_the_code(tmp_path):
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').close()\n"
    assert compile_problems("dev", {"lib/x.py": source.encode()}) == []
    assert not marker.exists()


def test_stray_files_in_node_and_lib_folders_are_reported(tmp_path):
    folder = tmp_path / "dev"
    write(
        folder,
        {
            "flow/node/function.py": "",
            "flow/node/data.csv": "a,b",
            "lib/notes.txt": "",
            "README.md": "mine",
            "flow/README.md": "mine too",
            "flow/node/__pycache__/function.cpython-312.pyc": b"\0",
            "flow/node/.DS_Store": b"\0",
        },
    )
    assert [p.path for p in stray_problems(folder)] == [
        "dev/flow/node/data.csv",
        "dev/lib/notes.txt",
    ]


def test_new_node_files_are_reported_against_the_manifest(tmp_path):
    folder = tmp_path / "dev"
    write(folder, {"flow/node/function.py": "", "flow/new/function.py": "", "lib/new.py": ""})
    problems = check_folder(folder, known_paths={"flow/node/function.py"})
    assert [p.path for p in problems] == ["dev/flow/new/function.py"]
    assert "flow.json" in problems[0].message


def test_without_a_manifest_no_file_counts_as_new(tmp_path):
    folder = tmp_path / "dev"
    write(folder, {"flow/node/function.py": "x = (\n"})
    problems = check_folder(folder, known_paths=None)
    assert [(p.path, p.line) for p in problems] == [("dev/flow/node/function.py", 1)]


def test_a_clean_folder_has_no_problems(tmp_path):
    folder = tmp_path / "dev"
    write(folder, {"flow/node/function.py": "x = 1\n", "flow/node/query.sql": "select 1"})
    assert check_folder(folder, known_paths=set(scan_managed(folder))) == []


def test_a_missing_folder_has_no_problems(tmp_path):
    assert check_folder(tmp_path / "absent", known_paths=set()) == []


def test_a_name_used_but_never_imported_is_reported_with_file_and_line(tmp_path):
    """Compiling accepts it; the node would fail with NameError in Ganymede."""
    folder = tmp_path / "dev"
    node = (
        "from ganymede_sdk.io import NodeReturn\n"
        "import pandas as pd\n\n\n"
        "def execute(df_sql_result, ganymede_context: GanymedeContext):\n"
        "    frame = pd.DataFrame(df_sql_result)\n"
        "    return NodeReturn(tables_to_upload={'out': frme})\n"
    )
    clean = "import json\n\n\ndef execute(x):\n    unused = 1\n    return json.dumps(x)\n"
    write(folder, {"Flow/Node/function.py": node, "Flow/Clean/function.py": clean})
    before = {path: file.read_bytes() for path, file in scan_managed(folder).items()}
    problems = check_folder(folder, known_paths=None)
    assert [str(problem) for problem in problems] == [
        "dev/Flow/Node/function.py line 5: undefined name 'GanymedeContext'",
        "dev/Flow/Node/function.py line 7: undefined name 'frme'",
    ]
    assert {path: file.read_bytes() for path, file in scan_managed(folder).items()} == before


def test_a_node_its_flow_file_declares_is_not_new_and_a_broken_flow_file_is_reported(tmp_path):
    folder = tmp_path / "dev"
    tasks = (
        '{"pipeline": {"tasks": {"node": {"operator": "Python"}, "new": {"operator": "Python"}}}}'
    )
    write(folder, {
        "flow/node/function.py": "", "flow/new/function.py": "", "flow/flow.json": tasks,
        "other/step/function.py": "", "other/flow.json": '{"pipeline": {}}',
    })  # fmt: skip
    known = {"flow/node/function.py", "flow/flow.json", "other/step/function.py"}
    problems = check_folder(folder, known_paths=known)
    assert [(p.path, p.message.split(":")[0]) for p in problems] == [
        ("dev/other/flow.json", "not a flow file")
    ]
