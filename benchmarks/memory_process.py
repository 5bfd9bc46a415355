"""Child process that does one memory-measured job and prints its peak RSS as JSON.

Arguments: mode (`pull`, `plan`, `extractall` or `idle`), repository root, API URL,
API key, environment. A process of its own, so the peak belongs to this job
alone: not to the emulator, the benchmark driver or earlier runs.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path


def peak_megabytes() -> float:
    """Peak resident set size of this process (VmHWM; ru_maxrss where /proc is absent)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    maximum = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maximum / (1024 * 1024) if sys.platform == "darwin" else maximum / 1024


def main(argv: list[str]) -> int:
    mode, root, api_url, token, environment = argv
    sys.path.insert(0, root)
    sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
    from benchmarks import baselines
    from benchmarks.ours import Library

    library = Library(Path(root), api_url)
    start = time.perf_counter()
    if mode == "pull":
        library.pull(environment)
    elif mode == "plan":
        library.plan(environment)
    elif mode == "extractall":
        with tempfile.TemporaryDirectory() as scratch:
            archive = Path(scratch) / "snapshot.zip"
            baselines.download(baselines.snapshot_url(api_url, token, environment), archive)
            baselines.extractall(archive, Path(scratch) / "out")
    else:
        library.settings()
        for piece in ("download", "apply", "pull"):
            library.missing(piece)
    elapsed = time.perf_counter() - start
    print(json.dumps({"peak_mb": peak_megabytes(), "seconds": elapsed}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
