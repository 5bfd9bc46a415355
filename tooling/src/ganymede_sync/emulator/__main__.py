"""Command line of the emulator: serve in the foreground until SIGINT or SIGTERM.

Prints ``Ganymede emulator listening on http://HOST:PORT`` on its first line (scripts parse
it; ``--port 0`` picks a free port), then the environments and users. Never prints the key.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from ganymede_sync.emulator.emulator import Emulator, serve_until_signalled
from ganymede_sync.emulator.seed import SEEDS
from ganymede_sync.emulator.store import StoreError


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the emulator's command line."""
    parser = argparse.ArgumentParser(
        prog="python -m ganymede_sync.emulator",
        description="Serve a local Ganymede API backed by one git repository per environment.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    parser.add_argument("--data-dir", required=True, help="where the state is kept")
    parser.add_argument("--api-key", required=True, help="the api-key header clients send")
    parser.add_argument(
        "--environment", action="append", required=True, help="environment name (repeatable)"
    )
    parser.add_argument(
        "--user", action="append", default=[], help="registered user email (repeatable)"
    )
    parser.add_argument(
        "--seed", choices=SEEDS, default="example", help="content of new environments"
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        help='fault to inject at start-up, as JSON: \'{"kind": "rate_limit", "count": 2}\'',
    )
    parser.add_argument(
        "--quote-signed-url",
        action="store_true",
        help="answer the signed URL as a JSON string instead of the bare URL",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until interrupted; return the exit code."""
    options = build_parser().parse_args(argv)
    if options.verbose:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        emulator = Emulator(
            options.data_dir,
            api_key=options.api_key,
            environments=tuple(options.environment),
            users=tuple(options.user),
            seed=options.seed,
            host=options.host,
            port=options.port,
            quote_signed_url=options.quote_signed_url,
        )
    except (OSError, ValueError, StoreError) as error:
        print(f"error: the emulator could not prepare {options.data_dir}: {error}", file=sys.stderr)
        return 1
    for fault in options.fault:
        try:
            emulator.add_fault(**json.loads(fault))
        except (ValueError, TypeError) as error:
            print(f"error: --fault {fault}: {error}", file=sys.stderr)
            return 2
    try:
        serve_until_signalled(emulator)
    except OSError as error:
        print(f"error: cannot listen on {options.host}:{options.port}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
