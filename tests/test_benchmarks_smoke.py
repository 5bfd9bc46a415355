"""The benchmark suite still runs end to end, at a size that takes seconds.

The full run (`python3 dev.py bench`) takes many minutes and is not part of the
test run; this keeps its code from rotting as the generated repository changes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import harness

TEMPLATE = Path(__file__).resolve().parent.parent


def test_quick_benchmark_measures_every_suite_and_writes_json(tmp_path: Path) -> None:
    """--strict fails when a piece of our code is missing or gives a wrong result."""
    output = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--strict", "--json", str(output)],
        cwd=TEMPLATE,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "| suite" in done.stdout
    rows = json.loads(output.read_text())["rows"]
    assert {row["suite"] for row in rows} == {
        "pull cold",
        "pull warm",
        "flow structure",
        "deploy",
        "memory",
        "generation",
    }
    measured = [row for row in rows if "not installed" not in row["baseline_name"]]
    assert all(row["baseline"] is not None for row in measured if row["baseline_name"])
    assert not [row for row in rows if "WRONG" in row["note"]]


def test_growth_exponent_tells_linear_from_quadratic() -> None:
    sizes = [50, 200, 1000, 3000]
    assert harness.growth_exponent(sizes, [0.001 * n for n in sizes]) == pytest.approx(1.0)
    assert harness.growth_exponent(sizes, [1e-6 * n * n for n in sizes]) == pytest.approx(2.0)


def test_rows_judge_ratio_goals_and_absolute_limits() -> None:
    fast = harness.Row("pull cold", "apply", "1", 0.3, "unzip -q", 0.2, goal=2.0)
    slow = harness.Row("pull cold", "apply", "1", 0.5, "unzip -q", 0.2, goal=2.0)
    heavy = harness.Row("memory", "peak", "1", 180.0, unit="MB", limit=150.0)
    absent = harness.Row("deploy", "payload", "1", None, "read+b64+json", 0.1, goal=2.0)
    assert [row.status for row in (fast, slow, heavy, absent)] == ["ok", "MISSED", "MISSED", "n/a"]
    table = harness.format_table([fast, slow, heavy, absent])
    assert "1.50x" in table
    assert "2.50x" in table
