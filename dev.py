#!/usr/bin/env python3
"""Developer entry point of the template: `python3 dev.py demo|test|bench|lock`.

Needs only Python 3.10+ and git. The first run creates `.venv/` and installs the
pinned, hash-checked tools of `requirements-dev.txt`; later runs reuse it until
that file changes. Standard library only, so it works before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
REQUIREMENTS = ROOT / "requirements-dev.txt"
STAMP = VENV / ".requirements.sha256"
TEMPLATE_DIR = "{{cookiecutter.repo_name}}"
LOCK_OPTIONS = ["--universal", "--generate-hashes", "--python-version", "3.10", "--quiet"]


def venv_python() -> Path:
    folder = "Scripts" if os.name == "nt" else "bin"
    return VENV / folder / ("python.exe" if os.name == "nt" else "python")


def ensure_venv() -> Path:
    """Create or refresh `.venv` so it matches `requirements-dev.txt` exactly."""
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if STAMP.is_file() and STAMP.read_text() == wanted and venv_python().exists():
        return venv_python()
    print("dev: installing the pinned tools into .venv (first run only)...", flush=True)
    venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)
    pip = [str(venv_python()), "-m", "pip", "--disable-pip-version-check"]
    run([*pip, "install", "--quiet", "--upgrade", "pip"])
    run([*pip, "install", "--quiet", "--require-hashes", "-r", str(REQUIREMENTS)])
    STAMP.write_text(wanted)
    return venv_python()


def run(command: list[str], **kwargs: object) -> None:
    """Run a command quietly; on failure show its output and stop with its exit code."""
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        sys.exit(result.returncode)


def remove_tool_caches() -> None:
    """Delete caches that tools leave in the template folder.

    cookiecutter copies that folder as it is, so a stray `.ruff_cache` or
    `__pycache__` would end up in (or break) every generated repository.
    """
    template = ROOT / TEMPLATE_DIR
    for name in ("__pycache__", ".ruff_cache", ".pytest_cache", ".hypothesis", ".emulator"):
        for path in template.rglob(name):
            shutil.rmtree(path, ignore_errors=True)


def command_test(python: Path, extra: list[str]) -> int:
    """Run the whole test suite; "no tests collected" (pytest exit 5) is a failure."""
    code = subprocess.call([str(python), "-m", "pytest", *extra], cwd=ROOT)
    if code == 5:
        print("dev: pytest collected no tests; treating that as a failure", file=sys.stderr)
        return 1
    return code


def command_demo(python: Path, extra: list[str]) -> int:
    return subprocess.call([str(python), str(ROOT / "scripts" / "demo.py"), *extra])


def command_bench(python: Path, extra: list[str]) -> int:
    return subprocess.call([str(python), "-m", "benchmarks", *extra], cwd=ROOT)


def command_lock(python: Path, extra: list[str]) -> int:
    """Re-lock the template's and the generated repository's requirements with uv."""
    run([str(python), "-m", "pip", "install", "--quiet", "uv"])
    uv = [str(python), "-m", "uv", "pip", "compile", *LOCK_OPTIONS]
    generated = ROOT / TEMPLATE_DIR
    # The flows' packages are locked within the tooling's pins: CI installs both at once.
    for source, constraints in (
        ("requirements.in", []),
        ("requirements-dev.in", []),
        ("requirements-flows.in", ["-c", "requirements-dev.txt"]),
    ):
        target = source.replace(".in", ".txt")
        run([*uv, source, *constraints, "-o", target], cwd=generated)
        print(f"dev: locked {TEMPLATE_DIR}/{target}")
    run([*uv, "requirements-dev.in", "-o", "requirements-dev.txt"], cwd=ROOT)
    print("dev: locked requirements-dev.txt")
    return 0


COMMANDS = {
    "demo": (command_demo, "generate a repository; pull, test, edit, deploy, promote (emulator)"),
    "test": (command_test, "run the whole test suite (extra arguments go to pytest)"),
    "bench": (command_bench, "run the pull/deploy benchmarks and print their table"),
    "lock": (command_lock, "re-pin requirements*.txt with hashes (needs network)"),
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(f"  {name:6} {help_}" for name, (_, help_) in COMMANDS.items()),
    )
    parser.add_argument("command", choices=COMMANDS, help="what to run (see below)")
    # Everything after the command is the command's own: `bench --help` is bench's help.
    known = sys.argv[1:2] if sys.argv[1:2] and sys.argv[1] in COMMANDS else sys.argv[1:]
    args = parser.parse_args(known)
    extra = sys.argv[len(known) + 1 :]
    python = ensure_venv()
    remove_tool_caches()
    function, _ = COMMANDS[args.command]
    return function(python, extra)


if __name__ == "__main__":
    sys.exit(main())
