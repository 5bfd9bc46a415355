"""Commands that tests run in the background: started with text pipes, always reaped."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

CTRL_C_AS_AT_A_TERMINAL = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv = sys.argv[1:]; runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)"
)


def python_module(module: str, *arguments: str) -> list[str]:
    """``python -m module arguments``, where Ctrl-C raises KeyboardInterrupt as at a terminal.

    A process started with SIGINT ignored (a shell's background job, some CI runners)
    hands that on to its children, and Python then leaves Ctrl-C ignored; a test that
    sends one must not depend on how its own runner was started.
    """
    return [sys.executable, "-c", CTRL_C_AS_AT_A_TERMINAL, module, *arguments]


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
