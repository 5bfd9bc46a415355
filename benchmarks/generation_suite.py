"""Generation benchmark: `cookiecutter --no-input` as a user runs it, 1 and 10 environments.

Timed as a whole command (interpreter start, hooks, rendering), next to the
interpreter start plus `import cookiecutter.main` that every run pays anyway.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks import harness, workspace
from benchmarks.context import Context
from benchmarks.harness import Case, Row


def run(ctx: Context, sizes: list[int]) -> None:
    ctx.log(f"generation: {sizes} environments")
    output = ctx.scratch / "generated"
    cases = [Case("import", _import_only)]
    for count in sizes:
        names = ",".join(f"env{index:02d}" for index in range(1, count + 1))

        def generate(names: str = names) -> None:
            _cookiecutter(ctx.template, output, names)

        def clean() -> None:
            workspace.fresh_dir(output)

        cases.append(Case(f"generate {count}", generate, clean))
    timings = harness.measure(cases, repeat=ctx.repeat)
    workspace.fresh_dir(output)
    for count in sizes:
        timing = timings[f"generate {count}"]
        row = Row.timed("generation", "cookiecutter --no-input", f"{count} environment(s)",
                        timing, "python + import cookiecutter", timings["import"])  # fmt: skip
        ctx.rows.append(row)


def _cookiecutter(template: Path, output: Path, environments: str) -> None:
    done = workspace.run_cookiecutter(template, output, f"environments={environments}")
    done.check_returncode()


def _import_only() -> None:
    subprocess.run([sys.executable, "-c", "import cookiecutter.main"], check=True)
