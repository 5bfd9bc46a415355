"""The emulator commands (`python -m ganymede_sync.emulator`, `invoke emulator`) serve in the
foreground and stop cleanly on signals."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from ganymede_sync.settings.config import load_settings
from tests.tooling.processes import background, read_until

ROOT = Path(__file__).resolve().parents[2]
FIRST_ENVIRONMENT = next(iter(load_settings(ROOT, environ={}).environments.values())).name
LISTENING = re.compile(r"^Ganymede emulator listening on (http://127\.0\.0\.1:\d+)$")


def emulator_command(data_dir: Path, *options: str) -> list[str]:
    """The emulator's command line, keeping its state in ``data_dir``."""
    return [sys.executable, "-m", "ganymede_sync.emulator", "--data-dir", str(data_dir), *options]


def run_to_the_end(data_dir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """Run the emulator command when it is expected to stop by itself (a refusal)."""
    command = emulator_command(data_dir, *options)
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=30)


@contextmanager
def running(data_dir: Path, *extra: str) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """Start the emulator command on a free port; yield the process, its URL and banner."""
    command = emulator_command(
        data_dir, "--port", "0", "--api-key", "cli-token",
        "--environment", "dev", "--environment", "prod", "--user", "dev@example.com", *extra,
    )  # fmt: skip
    with background(command, cwd=ROOT) as process:
        banner = read_until(process, lambda line: line.startswith("users: "))
        match = LISTENING.match(banner[0])
        assert match, f"unexpected first line {banner[0]!r}"
        yield process, match.group(1), "\n".join(banner)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_command_serves_then_exits_cleanly_on_a_signal(tmp_path, stop_signal):
    with running(tmp_path / "data") as (process, url, banner):
        response = httpx.get(f"{url}/v0/environment/prod/commits", headers={"api-key": "cli-token"})
        assert response.status_code == 200
        assert httpx.get(response.text).status_code == 200
        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "environments: dev, prod" in banner
    assert "users: dev@example.com" in banner
    assert "cli-token" not in banner + out + err
    assert (tmp_path / "data" / "dev" / ".git").is_dir()


def test_command_injects_faults_given_at_start_up(tmp_path):
    fault = json.dumps({"kind": "rate_limit", "count": 1, "retry_after": 7})
    with running(tmp_path / "data", "--fault", fault, "--seed", "none") as (process, url, _):
        headers = {"api-key": "cli-token"}
        limited = httpx.get(f"{url}/v2/environment/dev/flows", headers=headers)
        assert (limited.status_code, limited.headers["retry-after"]) == (429, "7")
        assert httpx.get(f"{url}/v2/environment/dev/flows", headers=headers).json() == []
        process.terminate()
        process.communicate(timeout=10)
    assert process.returncode == 0


def test_command_refuses_a_bad_fault(tmp_path):
    result = run_to_the_end(
        tmp_path, "--port", "0", "--api-key", "k", "--environment", "dev",
        "--fault", '{"kind": "explode"}',
    )  # fmt: skip
    assert result.returncode == 2
    assert "unknown fault kind" in result.stderr


def test_command_explains_a_bad_environment_name_and_a_busy_port(tmp_path):
    bad_name = run_to_the_end(tmp_path, "--api-key", "k", "--environment", "a/b")
    assert bad_name.returncode == 1
    assert bad_name.stderr.startswith("error: ") and "a/b" in bad_name.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        taken = run_to_the_end(tmp_path, "--api-key", "k", "--environment", "dev", "--port", port)
    assert taken.returncode == 1
    assert taken.stderr.startswith("error: cannot listen")


def test_invoke_emulator_prints_a_ready_to_paste_line_and_stops_on_a_signal(tmp_path):
    state = tmp_path / "state"
    command = [sys.executable, "-m", "invoke", "emulator", "--port", "0", "--data-dir", str(state)]
    with background(command, cwd=ROOT) as process:
        lines = read_until(process, lambda line: line.startswith("export "))
        exported = dict(pair.split("=", 1) for pair in lines[-1].split()[1:])
        listening = LISTENING.match(lines[0])
        assert listening and exported["GANYMEDE_API_URL"] == listening.group(1)
        # Each folder keeps its own environment: the line never overrides it.
        assert "GANYMEDE_ENVIRONMENT" not in exported
        flows = httpx.get(
            f"{listening.group(1)}/v2/environment/{FIRST_ENVIRONMENT}/flows",
            headers={"api-key": exported["GANYMEDE_API_TOKEN"]},
        )
        assert flows.status_code == 200 and flows.json()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert out.strip().endswith("emulator stopped")
    assert (state / FIRST_ENVIRONMENT / ".git").is_dir()
