"""The whole job end to end, offline: generate, pull, test, edit, deploy, show the result.

Run through `python3 dev.py demo`. Everything happens under `demo-output/` (removed
and rebuilt on each run) against the local Ganymede emulator on 127.0.0.1; your own
git configuration is neither needed nor changed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import venv
from collections.abc import Iterator
from pathlib import Path

from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "demo-output"
TOKEN = "demo-token"  # noqa: S105 - the emulator's local token, not a secret
USER_EMAIL = "demo@example.com"
LISTENING = "Ganymede emulator listening on "
MARKER = ".ganymede-demo-output"
PYTHONS = ("/python", "\\python.exe")
"""Shown as `python`: the interpreter of the repository's own .venv."""


def step(title: str) -> None:
    print(f"\n==> {title}", flush=True)


def run(command: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)) -> None:
    """Show and run a command; stop the demo if it fails (exits with a code not in ``ok``)."""
    shown = shlex.join(Path(part).name if part.endswith(PYTHONS) else part for part in command)
    print(f"$ {shown}", flush=True)
    if subprocess.call(command, cwd=cwd, env=env) not in ok:
        raise SystemExit(f"demo: '{shown}' failed; see the output above")


def reset_output(output: Path) -> None:
    """Empty the demo folder, refusing any non-empty folder a demo did not create."""
    if output.exists() and any(output.iterdir()) and not (output / MARKER).exists():
        raise SystemExit(f"demo: {output} is not empty and not a demo folder; choose another")
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    (output / MARKER).write_text("created by scripts/demo.py; removed by the next demo\n")


def generate(output: Path) -> Path:
    step("Generate a repository with cookiecutter (environments dev, prod)")
    reset_output(output)
    # cookiecutter leaves each rendered hook script in the temporary folder: use one of
    # our own, removed afterwards.
    with tempfile.TemporaryDirectory(prefix="demo-hooks-") as hooks:
        system_temporary, tempfile.tempdir = tempfile.tempdir, hooks
        try:
            repo = cookiecutter(
                str(ROOT),
                no_input=True,
                output_dir=str(output),
                extra_context={"project_name": "Demo Lab Flows", "ganymede_subdomain": "demo"},
            )
        finally:
            tempfile.tempdir = system_temporary
    print("demo: those are the steps a user types; the demo runs them below", flush=True)
    return Path(repo)


def install_tooling(repo: Path, env: dict[str, str]) -> Path:
    """Install what the repository pins into its own .venv, as its README says; return its python.

    The tooling is the wheel in .ganymede-sync/, checked against its sha256 like every
    other package (pip's --require-hashes).
    """
    step("Install the pinned tooling (hash-checked) and the flows' packages into .venv")
    venv.EnvBuilder(with_pip=True).create(repo / ".venv")
    python = repo / ".venv" / ("Scripts" if os.name == "nt" else "bin") / "python"
    pins = ["-r", ".ganymede-sync/requirements.txt", "-r", "requirements-flows.txt"]
    quiet = ["--quiet", "--disable-pip-version-check"]
    run([str(python), "-m", "pip", "install", *quiet, "--require-hashes", *pins], repo, env)
    return python


def start_emulator(
    python: Path, repo: Path, data_dir: Path, env: dict[str, str]
) -> tuple[subprocess.Popen[str], str]:
    step("Start the local Ganymede emulator with example flows")
    command = [str(python), "-m", "ganymede_sync.emulator", "--host", "127.0.0.1"]
    command += ["--port", "0", "--data-dir", str(data_dir), "--api-key", TOKEN]
    command += ["--environment", "dev", "--environment", "prod", "--user", USER_EMAIL]
    command += ["--seed", "example"]
    server = subprocess.Popen(command, cwd=repo, env=env, stdout=subprocess.PIPE, text=True)
    first_line = server.stdout.readline().strip() if server.stdout else ""
    if not first_line.startswith(LISTENING):
        server.kill()
        raise SystemExit(f"demo: the emulator did not start: {first_line!r}")
    print(first_line, flush=True)
    # Keep reading its output so a chatty server never blocks on a full pipe.
    threading.Thread(target=server.stdout.read, daemon=True).start()
    return server, first_line.removeprefix(LISTENING)


def first_function(folder: Path) -> Path:
    """Pick a node to edit: the first function.py of the first flow, by name."""
    candidates = sorted(p for p in folder.rglob("function.py") if "lib" not in p.parts)
    if not candidates:
        raise SystemExit(f"demo: the pull brought no function.py into {folder}")
    return candidates[0]


NEW_NODE = "Validate_Samples"
NEW_NODE_CODE = '''def execute(records: list[dict], ganymede_context=None) -> list[dict]:
    """Keep only samples with a barcode: the LIMS rejects the others."""
    return [record for record in records if record.get("barcode")]
'''


def grow_flow(flow: Path) -> None:
    """Add a node before the flow's last one, with its code, and run the flow an hour later."""
    flow_file = flow / "flow.json"
    value = json.loads(flow_file.read_text(encoding="utf-8"))
    tasks = value["pipeline"]["tasks"]
    last = next(name for name in tasks if not _is_needed(name, tasks))
    tasks[NEW_NODE] = {
        "operator": "Python",
        "params": {},
        "dependencies": tasks[last]["dependencies"],
    }
    tasks[last]["dependencies"] = [NEW_NODE]
    value["settings"]["schedule_interval"] = "0 3 * * *"
    flow_file.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (flow / NEW_NODE).mkdir()
    (flow / NEW_NODE / "function.py").write_text(NEW_NODE_CODE, encoding="utf-8")


def _is_needed(name: str, tasks: dict) -> bool:
    """Tell whether another task runs after ``name``."""
    return any(name in task.get("dependencies", []) for task in tasks.values())


def edit_and_deploy(python: Path, repo: Path, env: dict[str, str]) -> str:
    """Pull, test, edit, plan and deploy dev; return the edited node's path."""
    invoke = [str(python), "-m", "invoke"]
    step("Pull environment dev into dev/ and commit it")
    run([*invoke, "pull", "--env", "dev", "--commit"], repo, env)
    step(
        "Test the flow code offline: every node imports, one node's test and a whole-flow "
        "run (qPCR_Analysis, from the cycler export to the flagged table) pass"
    )
    run([*invoke, "test", "--env", "dev", "--", "-v"], repo, env)
    node = first_function(repo / "dev")
    relative = node.relative_to(repo).as_posix()
    step(f"Edit a node: {relative}")
    with node.open("a", encoding="utf-8") as handle:
        handle.write("\n\n# Reviewed in git: thresholds checked against the SOP.\n")
    run(["git", "commit", "--quiet", "-am", f"Document the review of {relative}"], repo, env)
    flow = relative.split("/")[1]
    step(
        f"Grow flow {flow} in git: a new node in {flow}/flow.json with its code, and a new "
        "schedule (no step in Ganymede's UI)"
    )
    grow_flow(repo / "dev" / flow)
    run(["git", "add", "dev"], repo, env)
    run(
        ["git", "commit", "--quiet", "-m", f"Validate samples in {flow} before the LIMS"], repo, env
    )
    step("Plan the deploy (read-only; exit code 2: something to send)")
    run([*invoke, "status", "--env", "dev"], repo, env, ok=(2,))
    step("Deploy dev to Ganymede")
    run([*invoke, "deploy", "--env", "dev"], repo, env)
    step("Deploy again: nothing left to send")
    run([*invoke, "deploy", "--env", "dev"], repo, env)
    step("Pull again: no file changes, Ganymede now holds the deployed code and flow")
    run([*invoke, "pull", "--env", "dev", "--commit"], repo, env)
    run_in_ganymede(invoke, repo, env)
    return relative


CYCLER_EXPORT = {
    "wells": [
        {"well": "A1", "sample": "S1", "target": "GAPDH", "cq": 18.0},
        {"well": "A2", "sample": "S1", "target": "IL6", "cq": 25.5},
        {"well": "B1", "sample": "S2", "target": "GAPDH", "cq": 19.0},
        {"well": "B2", "sample": "S2", "target": "IL6", "cq": 40.0},
    ]
}


def run_in_ganymede(invoke: list[str], repo: Path, env: dict[str, str]) -> None:
    """Run the whole qPCR flow in (emulated) Ganymede on a cycler export, then list its runs."""
    export = repo.parent / "cycler-export.json"
    export.write_text(json.dumps(CYCLER_EXPORT), encoding="utf-8")
    step(
        "Run flow qPCR_Analysis in Ganymede on a cycler export and follow it (the emulator "
        "runs its nodes on this machine)"
    )
    flow = ["--env", "dev", "--flow", "qPCR_Analysis"]
    run([*invoke, "run", *flow, "--input", f"Load_Run.file_data=@{export}"], repo, env)
    step("The flow's runs in Ganymede")
    run([*invoke, "runs", *flow], repo, env)


def promote_to_prod(python: Path, repo: Path, env: dict[str, str], relative: str) -> None:
    """Promote the reviewed change from dev to prod, as the promote workflow's PR would."""
    invoke = [str(python), "-m", "invoke"]
    flow = relative.split("/")[1]
    home = git_text(["git", "branch", "--show-current"], repo)
    step("Pull environment prod into prod/ and commit it")
    run([*invoke, "pull", "--env", "prod", "--commit"], repo, env)
    step("Compare dev with prod (exit code 1: they differ)")
    run([*invoke, "diff", "--env", "dev", "--against", "prod", "--flow", flow], repo, env, ok=(1,))
    step(
        f"Promote flow {flow} from dev to prod on a branch: prod's plan first, the new "
        "node among it"
    )
    run(
        [*invoke, "promote", "--from", "dev", "--to", "prod", "--flow", flow, "--commit"], repo, env
    )
    step(
        "Deploy prod from the promotion branch (in GitHub: merge its pull request): it "
        "creates the node in prod, then sends its code"
    )
    run([*invoke, "deploy", "--env", "prod"], repo, env)
    step("Merge the promotion into the default branch (in GitHub: its pull request)")
    branch = git_text(["git", "branch", "--show-current"], repo)
    run(["git", "checkout", "--quiet", home], repo, env)
    run(["git", "merge", "--quiet", "--ff-only", branch], repo, env)


def release_ledger(python: Path, repo: Path, env: dict[str, str]) -> None:
    """The plan as a pull request comment, a one-flow deploy, a notification, the deploy
    history, and a rollback to the first deploy, planned and shipped."""
    invoke = [str(python), "-m", "invoke"]
    home = git_text(["git", "branch", "--show-current"], repo)
    step("Edit two flows in dev, and show the plan as the pull request's comment shows it")
    for node in ("qPCR_Analysis/Delta_Ct/function.py", "LIMS_Sample_Sync/Map_Fields/function.py"):
        with (repo / "dev" / node).open("a", encoding="utf-8") as handle:
            handle.write("\n# Tuned for the new cycler.\n")
    run(["git", "commit", "--quiet", "-am", "Tune qPCR and LIMS for the new cycler"], repo, env)
    plans = repo.parent / "plans"
    plans.mkdir(exist_ok=True)
    plan_file = plans / "plan-dev.json"
    run([*invoke, "status", "--offline", "--env", "dev", "--json-file", str(plan_file)], repo, env,
        ok=(2,))  # fmt: skip
    run([*invoke, "plan-comment", "--plans", str(plans), "--dry-run"], repo, env)
    step("Deploy one flow alone: qPCR_Analysis (LIMS_Sample_Sync waits)")
    run([*invoke, "deploy", "--env", "dev", "--flow", "qPCR_Analysis"], repo, env)
    step("Tell the team: the deploy's notification reaches a chat webhook on this machine")
    newest = json.loads(git_text([*invoke, "history", "--env", "dev", "--json"], repo) or "[]")
    with webhook() as (url, received):
        told = {**env, "GANYMEDE_WEBHOOK_URL": url}
        run([*invoke, "notify", "--env", "dev", "--event", "deploy", "--outcome", "success",
             "--record", newest[0]["tag"]], repo, told)  # fmt: skip
    for body in received:
        print(f"  the webhook received: {json.dumps(body)}", flush=True)
    step("The deploy history of dev, newest first (each deploy is a deploy/ tag in git)")
    run([*invoke, "history", "--env", "dev"], repo, env)
    first = json.loads(git_text([*invoke, "history", "--env", "dev", "--json"], repo))[-1]["tag"]
    step(f"Roll dev back to its first deploy ({first}): its plan, a commit on a branch of "
         "its own, and --deploy ships it at once")  # fmt: skip
    run([*invoke, "rollback", "--env", "dev", "--to", first, "--deploy"], repo, env)
    step("Merge the rollback into the default branch (in GitHub: its pull request)")
    branch = git_text(["git", "branch", "--show-current"], repo)
    run(["git", "checkout", "--quiet", home], repo, env)
    run(["git", "merge", "--quiet", "--ff-only", branch], repo, env)


@contextlib.contextmanager
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """A chat webhook on 127.0.0.1 that keeps what it is sent."""
    received: list[dict] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            """Quiet."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/demo", received
    finally:
        server.shutdown()
        server.server_close()


def git_text(command: list[str], repo: Path) -> str:
    """Return what a read-only git command prints (empty when it fails)."""
    done = subprocess.run(command, cwd=repo, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


def show_result(data_dir: Path, env: dict[str, str], environment: str) -> None:
    step(f"In Ganymede (the emulator's pipeline repository of {environment}): the newest commit")
    pipeline = data_dir / environment
    run(["git", "--no-pager", "log", "-1", "--format=%h %ae  %s", "--stat"], pipeline, env)


def keep_identity(repo: Path, env: dict[str, str]) -> None:
    """Make the demo's git identity the repository's own: work continued in it after the
    demo (commits, `invoke emulator`, which registers that author) stays consistent."""
    for key, value in (("user.name", "Demo User"), ("user.email", USER_EMAIL)):
        subprocess.run(["git", "config", key, value], cwd=repo, env=env, check=True)


def demo_environment(url: str | None = None) -> dict[str, str]:
    """Variables for every command: emulator URL and token, a throw-away git identity."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GANYMEDE_")}
    env.update(
        GIT_AUTHOR_NAME="Demo User",
        GIT_AUTHOR_EMAIL=USER_EMAIL,
        GIT_COMMITTER_NAME="Demo User",
        GIT_COMMITTER_EMAIL=USER_EMAIL,
        PYTHONUNBUFFERED="1",
    )
    if url:
        env.update(GANYMEDE_API_URL=url, GANYMEDE_API_TOKEN=TOKEN)
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="folder to (re)create for the demo"
    )
    output = parser.parse_args().output.resolve()
    repo = generate(output)
    python = install_tooling(repo, demo_environment())
    data_dir = output / "emulator"
    server, url = start_emulator(python, repo, data_dir, demo_environment())
    try:
        env = demo_environment(url)
        step("Create the git repository")
        run([str(python), "-m", "invoke", "init"], repo, env)
        keep_identity(repo, env)
        step(
            "Which tooling runs here: its version and its pinned wheel (the warning is "
            "expected: the demo points GANYMEDE_API_URL at the emulator)"
        )
        run([str(python), "-m", "invoke", "doctor", "--env", "dev"], repo, env, ok=(0, 1))
        edited = edit_and_deploy(python, repo, env)
        show_result(data_dir, env, "dev")
        promote_to_prod(python, repo, env, edited)
        show_result(data_dir, env, "prod")
        release_ledger(python, repo, env)
        show_result(data_dir, env, "dev")
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"\nDone. The generated repository is in {repo}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
