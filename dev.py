#!/usr/bin/env python3
"""Developer entry point of the template: `python3 dev.py demo|test|bench|build|lock`.

Needs only Python 3.10+ and git. The first run creates `.venv/` and installs the
pinned, hash-checked tools of `requirements-dev.txt` and the tooling package
(`tooling/`, editable); later runs reuse it until either changes. Standard library
only, so it works before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
REQUIREMENTS = ROOT / "requirements-dev.txt"
STAMP = VENV / ".requirements.sha256"
TEMPLATE_DIR = "{{cookiecutter.repo_name}}"
TOOLING = ROOT / "tooling"
PINNED = ROOT / TEMPLATE_DIR / ".ganymede-sync"
"""Where a generated repository keeps its pinned tooling: the wheel and its lock."""
PINNED_REQUIREMENTS = PINNED / "requirements.txt"
PINNED_DEPENDENCIES = PINNED / "dependencies.txt"
LOCK_OPTIONS = ["--universal", "--generate-hashes", "--python-version", "3.10", "--quiet"]


def venv_python() -> Path:
    folder = "Scripts" if os.name == "nt" else "bin"
    return VENV / folder / ("python.exe" if os.name == "nt" else "python")


def ensure_venv() -> Path:
    """Create or refresh `.venv` so it matches `requirements-dev.txt` and `tooling/`.

    The tooling's dependencies are among the pinned tools, and its source is put on
    the path as an editable install would, so tests, demo and benchmarks import the
    package from `tooling/src` as it is now.
    """
    digest = hashlib.sha256(REQUIREMENTS.read_bytes())
    digest.update((TOOLING / "pyproject.toml").read_bytes())
    wanted = digest.hexdigest()
    if STAMP.is_file() and STAMP.read_text() == wanted and venv_python().exists():
        return venv_python()
    print("dev: installing the pinned tools into .venv (first run only)...", flush=True)
    venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)
    pip = [str(venv_python()), "-m", "pip", "--disable-pip-version-check"]
    run([*pip, "install", "--quiet", "--upgrade", "pip"])
    run([*pip, "install", "--quiet", "--require-hashes", "-r", str(REQUIREMENTS)])
    link_tooling_source(venv_python())
    STAMP.write_text(wanted)
    return venv_python()


def link_tooling_source(python: Path) -> None:
    """Make `tooling/src` importable in the venv of ``python`` with a `.pth` file.

    This is what `pip install --editable` does, without needing the `editables`
    package that hatchling asks for in that mode.
    """
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "ganymede_sync_source.pth").write_text(f"{TOOLING / 'src'}\n")


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


def build_wheel(python: Path, output: Path, tooling: Path = TOOLING) -> Path:
    """Build the wheel of the package in ``tooling`` into ``output``; return its path.

    Reproducible: hatchling fixes every timestamp and file mode, so the same source
    gives the same bytes on any machine (the template's tests check it).
    """
    output.mkdir(parents=True, exist_ok=True)
    command = [str(python), "-m", "pip", "--disable-pip-version-check", "wheel", "--quiet"]
    command += ["--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", str(output)]
    run([*command, str(tooling)], env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    (wheel,) = output.glob("ganymede_sync-*.whl")
    return wheel


def pin_lines(wheel: Path) -> str:
    """The text of `.ganymede-sync/requirements.txt` that pins ``wheel`` by its sha256."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return (
        "# The tooling of this repository, pinned by sha256 (written by the template's\n"
        "# `python3 dev.py build`; `cruft update` replaces it). From the repository's root:\n"
        "#   pip install --require-hashes -r .ganymede-sync/requirements.txt\n"
        f"./.ganymede-sync/{wheel.name} \\\n"
        f"    --hash=sha256:{digest}\n"
        "# The tooling's own dependencies, locked with their hashes.\n"
        f"-r {PINNED_DEPENDENCIES.name}\n"
    )


def release_wheel(python: Path, tooling: Path = TOOLING, pinned: Path = PINNED) -> Path:
    """Build ``tooling`` and make it the wheel that ``pinned`` holds and pins; return it."""
    with tempfile.TemporaryDirectory() as scratch:
        built = build_wheel(python, Path(scratch), tooling)
        for old in pinned.glob("ganymede_sync-*.whl"):
            old.unlink()
        wheel = Path(shutil.copy2(built, pinned / built.name))
    (pinned / PINNED_REQUIREMENTS.name).write_text(pin_lines(wheel), encoding="utf-8")
    return wheel


def command_build(python: Path, extra: list[str]) -> int:
    """Rebuild the pinned wheel of the generated repository from `tooling/`."""
    wheel = release_wheel(python)
    size = wheel.stat().st_size // 1024
    where = PINNED_REQUIREMENTS.relative_to(ROOT)
    print(f"dev: built {wheel.relative_to(ROOT)} ({size} KiB) and pinned it in {where}")
    return 0


def command_bench(python: Path, extra: list[str]) -> int:
    return subprocess.call([str(python), "-m", "benchmarks", *extra], cwd=ROOT)


def command_lock(python: Path, extra: list[str]) -> int:
    """Re-lock the template's and the generated repository's requirements with uv."""
    run([str(python), "-m", "pip", "install", "--quiet", "uv"])
    uv = [str(python), "-m", "uv", "pip", "compile", *LOCK_OPTIONS]
    generated = ROOT / TEMPLATE_DIR
    dependencies = PINNED_DEPENDENCIES.relative_to(generated).as_posix()
    source = os.path.relpath(TOOLING / "pyproject.toml", generated)
    origin = ["--custom-compile-command", "python3 dev.py lock  # in the template's repository"]
    run([*uv, source, *origin, "-o", dependencies], cwd=generated)
    print(f"dev: locked {TEMPLATE_DIR}/{dependencies}")
    # The user's locks start within the tooling's pins: CI installs them all at once.
    for source, constraints in (
        ("requirements-dev.in", ["-c", dependencies]),
        ("requirements-flows.in", ["-c", "requirements-dev.txt", "-c", dependencies]),
    ):
        target = source.replace(".in", ".txt")
        run([*uv, source, *constraints, "-o", target], cwd=generated)
        print(f"dev: locked {TEMPLATE_DIR}/{target}")
    tooling = os.path.relpath(TOOLING / "pyproject.toml", ROOT)
    run([*uv, "requirements-dev.in", tooling, "-o", "requirements-dev.txt"], cwd=ROOT)
    print("dev: locked requirements-dev.txt")
    return 0


COMMANDS = {
    "demo": (command_demo, "generate a repository; pull, test, edit, deploy, promote (emulator)"),
    "test": (command_test, "run the whole test suite (extra arguments go to pytest)"),
    "bench": (command_bench, "run the pull/deploy benchmarks and print their table"),
    "build": (command_build, "rebuild the tooling wheel that generated repositories pin"),
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
