"""Deterministic synthetic flow code: what a large Ganymede environment looks like.

Paths are repo paths (`<flow>/<node>/function.py`, `lib/...`), the layout of the
archive and of an environment folder. Content is plausible Python and SQL of the
sizes seen in real flows, with a `variant` number so an upstream edit changes bytes.
Pure: builds bytes in memory, never touches the disk.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator

NODES_PER_FLOW = 5
LIB_FILES = 20


def flow_names(count: int) -> list[str]:
    return [f"flow_{index:05d}" for index in range(count)]


def function_source(flow: str, node: str, variant: int = 0) -> bytes:
    """About 2 KB of Python that reads like a node's transform function."""
    lines = [
        f'"""Node {node} of flow {flow} (revision {variant})."""',
        "",
        "import pandas as pd",
        "",
        "",
        "def execute(frame: pd.DataFrame, ganymede_context=None) -> pd.DataFrame:",
        '    """Normalise plate-reader measurements before loading them."""',
        "    result = frame.copy()",
    ]
    for column in range(33):
        factor = (column * 7 + variant * 3 + len(flow)) % 97 + 1
        source = f'frame["raw_{column:02d}"] * {factor} / 100'
        lines.append(f'    result["well_{column:02d}"] = {source}')
    lines += ["    result = result.dropna(how='all')", "    return result", ""]
    return "\n".join(lines).encode()


def query_source(flow: str, node: str, variant: int = 0) -> bytes:
    """About 300 bytes of SQL that reads like a node's table query."""
    return (
        f"-- {flow}.{node} revision {variant}\n"
        "SELECT sample_id, plate_id, well, measured_at, value, unit, instrument_serial\n"
        f"FROM {flow}_{node}_results\n"
        f"WHERE measured_at >= DATE '2026-01-01' AND run_number > {variant}\n"
        "  AND instrument_serial IS NOT NULL AND unit IN ('mg/L', 'ug/mL')\n"
        "ORDER BY plate_id, well\n"
    ).encode()


def lib_source(index: int, variant: int = 0) -> bytes:
    """About 4 KB of shared helper code."""
    lines = [f'"""Shared helpers, module {index} (revision {variant})."""', ""]
    for number in range(40):
        lines.append(f"def helper_{number}(value):")
        lines.append(f"    return value * {number + variant} + {index}")
    return "\n".join(lines).encode() + b"\n"


def environment_files(flows: int, *, lib_files: int = LIB_FILES) -> dict[str, bytes]:
    """Every managed file of an environment of `flows` flows, by repo path."""
    files: dict[str, bytes] = {}
    for flow in flow_names(flows):
        for number in range(NODES_PER_FLOW):
            node = f"node_{number}"
            files[f"{flow}/{node}/function.py"] = function_source(flow, node)
            files[f"{flow}/{node}/query.sql"] = query_source(flow, node)
    for index in range(lib_files):
        files[f"lib/group_{index % 4}/module_{index:02d}.py"] = lib_source(index)
    return files


def edited(path: str, variant: int) -> bytes:
    """New content for `path`, as if someone had edited it."""
    parts = path.split("/")
    if parts[0] == "lib":
        return lib_source(int(parts[-1].split("_")[-1].split(".")[0]), variant)
    if parts[-1] == "query.sql":
        return query_source(parts[0], parts[1], variant)
    return function_source(parts[0], parts[1], variant)


def upstream_edit(
    files: dict[str, bytes], *, changed: float = 0.10, deleted_flows: float = 0.05
) -> tuple[dict[str, bytes], list[str]]:
    """Pick the files an upstream edit changes and the paths it deletes.

    Deletes every n-th flow whole (`deleted_flows`), then changes every n-th of
    the remaining files (`changed`), so the result is the same on every run.
    """
    flows = sorted({path.split("/")[0] for path in files if not path.startswith("lib/")})
    step = max(1, round(1 / deleted_flows))
    gone = set(flows[step // 2 :: step])
    deleted = [path for path in files if path.split("/")[0] in gone]
    remaining = sorted(path for path in files if path.split("/")[0] not in gone)
    step = max(1, round(1 / changed))
    updates = {path: edited(path, 1) for path in remaining[::step]}
    return updates, deleted


def incompressible_text(size: int, seed: str) -> Iterator[bytes]:
    """Yield about `size` bytes of Python comment lines that barely compress.

    Base64 of seeded random bytes behind `# `: valid source text, yet only ~25%
    smaller when deflated, like data tables embedded in large lib modules.
    """
    generator = random.Random(seed)  # noqa: S311 - test data, not secrets
    produced = 0
    while produced < size:
        lines = base64.encodebytes(generator.randbytes(3 * 256 * 1024))
        block = b"# " + lines[:-1].replace(b"\n", b"\n# ") + b"\n"
        block = block[: size - produced] if produced + len(block) > size else block
        produced += len(block)
        yield block
