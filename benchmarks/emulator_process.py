"""Child process that serves the tooling's emulator for the benchmarks.

Arguments: the package's source folder, data folder, API key, user email, environment names.
Prints one JSON line (URL and pipeline repository of each environment), then
serves until its standard input closes. Runs alone so that serving neither
competes for the measured process's interpreter lock nor adds to its memory.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    source, data_dir, api_key, user, *environments = argv
    sys.path.insert(0, source)
    from ganymede_sync.emulator import Emulator

    emulator = Emulator(
        data_dir,
        api_key=api_key,
        environments=tuple(environments),
        users=(user,),
        seed="none",
        host="127.0.0.1",
        port=0,
    )
    with emulator:
        pipelines = {env: str(emulator.pipeline_path(env)) for env in environments}
        print(json.dumps({"url": emulator.url, "pipelines": pipelines}), flush=True)
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
