"""Commands that tests run in the background: started with text pipes, always reaped."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def background(command: list[str], **options: Any) -> Iterator[subprocess.Popen[str]]:
    """Start ``command`` with piped, text output; kill it on the way out if it still runs."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def read_until(process: subprocess.Popen[str], done: Callable[[str], bool]) -> list[str]:
    """Read output lines up to the first one that is ``done``; fail with stderr if none is."""
    assert process.stdout is not None
    lines: list[str] = []
    while not (lines and done(lines[-1])):
        line = process.stdout.readline()
        if not line:
            process.wait(timeout=10)
            stderr = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"the command ended after {lines}: {stderr}")
        lines.append(line.rstrip("\n"))
    return lines
