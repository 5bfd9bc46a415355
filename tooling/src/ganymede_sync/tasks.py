"""The Invoke tasks of a generated repository: `invoke --list` shows them.

Wiring only: each task parses its options, calls the library, prints the result and
turns an expected failure into a one-line message and exit code 1. The same tasks
run on a laptop and in the GitHub workflows; the repository's ``tasks.py`` imports
``namespace``. This is the one module of the package that imports Invoke.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from invoke import Collection, Exit
from invoke import task as invoke_task

from ganymede_sync.errors import ConfigError, GanymedeSyncError, Interrupted
from ganymede_sync.rules.visible import visible

if TYPE_CHECKING:
    from ganymede_sync.settings.config import Settings
from ganymede_sync.settings.config import (
    API_URL_VARIABLE,
    ENVIRONMENT_VARIABLE,
    SUBDOMAIN_VARIABLE,
    TOKEN_VARIABLE,
)


def task(*args: Any, **kwargs: Any) -> Any:
    """Invoke's ``@task`` (bare or with options), whose body also turns a Ctrl-C that no
    ``expected_failures`` caught (while the task imports what it needs, say) into one line
    and exit 130: Invoke itself would exit 1 without a word."""
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return invoke_task(_interruptible(args[0]))
    return lambda body: invoke_task(*args, **kwargs)(_interruptible(body))


def _interruptible(body: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(body)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return body(*args, **kwargs)
        except KeyboardInterrupt:
            raise Exit("error: interrupted", code=130) from None

    return run


def begin_task(show: Callable[[str], None], environ: Mapping[str, str] | None = None) -> Settings:
    """``runners.session.begin_task``, imported when a task runs: ``invoke --list`` and
    ``--help`` then start without git or the runners."""
    from ganymede_sync.runners.session import begin_task as begin

    return begin(show, environ)


def emit(text: str) -> None:
    """Print ``text``; when the reader went away (``invoke pull | head``), stop quietly.

    Standard output is pointed at /dev/null first, so Python's final flush at exit
    cannot raise the same error again.
    """
    import os
    import sys

    try:
        print(visible(text), flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise Exit(code=0) from None


def flow_names(values: list[str] | None) -> tuple[str, ...]:
    """Read a repeatable ``--flow``, each also comma-separated: ``--flow a,b --flow c``.

    A blank value stays, as "": the task refuses it rather than deploying everything.
    """
    names = []
    for value in values or ():
        parts = [part.strip() for part in value.split(",") if part.strip()]
        names += parts or [value.strip()]
    return tuple(names)


def output_file(path: str | None, option: str) -> str | None:
    """Check, before any work, that a file a task will write can be written there."""
    import os

    if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise ConfigError(
            f"{option} {visible(path)}: its folder does not exist; create it or name another"
        )
    return path


def tell(text: str) -> None:
    """Print ``text`` on standard error: for tasks whose standard output is read by a program."""
    print(visible(text), file=sys.stderr, flush=True)


@contextlib.contextmanager
def expected_failures(after_interrupt: str = "nothing was changed") -> Iterator[None]:
    """Show an expected failure as `error: ...` and exit 1, without a traceback.

    Ctrl-C exits 130 with ``after_interrupt``: what is true of a task stopped midway.
    """
    try:
        yield
    except Interrupted as error:
        raise Exit(visible(f"error: interrupted; {error}"), code=130) from None
    except GanymedeSyncError as error:
        raise Exit(visible(f"error: {error}"), code=1) from None
    except KeyboardInterrupt:
        raise Exit(f"error: interrupted; {after_interrupt}", code=130) from None


@task
def init(c):
    """Create the git repository with a first commit (safe to run again)."""
    from ganymede_sync.local import gitops

    with expected_failures():
        settings = begin_task(emit)
        emit(gitops.init_repository(settings.root, branch=settings.default_branch))


# --- pull ---------------------------------------------------------------------
RETARGET_HELP = (
    "use the Ganymede tenant/environment resolved now although the folder is bound to "
    f"another (set by {ENVIRONMENT_VARIABLE} or {SUBDOMAIN_VARIABLE}, or an edited ganymede.toml)"
)
FORCE_HELP = "overwrite the other side's changes ({what})"
"""-f is --force in every task that has it: the option that lets one side overwrite the other."""


@task(
    help={
        "env": "environment folder to pull into (e.g. dev)",
        "force": FORCE_HELP.format(
            what="local changes to files Ganymede also changed; allows large removals"
        ),
        "flow": "pull only this flow (its id as in Ganymede); other flows stay as they are",
        "no_lib": "leave lib/ out of the pull",
        "commit": "commit the folder and its manifest as 'Sync flows in environment ...'",
        "retarget": RETARGET_HELP + "; the pull then binds the folder to it",
        "skip_invalid": "leave out files whose names a checkout cannot keep; update the rest",
    }
)
def pull(
    c,
    env=None,
    force=False,
    flow=None,
    no_lib=False,
    commit=False,
    retarget=False,
    skip_invalid=False,
):
    """Bring an environment's flow code from Ganymede into its folder."""
    import os
    import sys

    from ganymede_sync.runners.pull import PullOptions, run_pull
    from ganymede_sync.ui.progress import progress_display
    from ganymede_sync.ui.report import describe_pull

    options = PullOptions(
        flow=flow, include_lib=not no_lib, force=force, commit=commit, retarget=retarget,
        skip_invalid=skip_invalid,
    )  # fmt: skip
    with expected_failures(), progress_display(sys.stderr, os.environ) as display:
        result = run_pull(
            begin_task(emit), env, options, progress=display, flows_progress=display.flows
        )
    emit("\n".join(describe_pull(result)))


# --- deploy -------------------------------------------------------------------
@task(
    iterable=["flow"],
    help={
        "env": "environment folder to deploy (e.g. dev)",
        "force": FORCE_HELP.format(what="send files that were also changed in Ganymede")
        + "; also deploy while runs of the flows it changes are queued or running",
        "dry_run": "show the plan and let Ganymede validate it, without committing",
        "retarget": RETARGET_HELP + " (this run only)",
        "allow_dirty": "send files with uncommitted changes (the Ganymede commit message says so)",
        "author_email": "Ganymede user email for the commit (default: author of HEAD)",
        "message": "commit message in Ganymede (default: the commits being deployed)",
        "prune_nodes": "let flow.json files remove nodes from Ganymede's flows (their code "
        "stays in Ganymede, which the API cannot delete, and a pull brings it back)",
        "flow": "deploy only this flow: its nodes and flow.json, and lib/ (repeatable)",
        "no_lib": "with --flow: leave lib/ for a later deploy",
        "smoke": "then run the folder's smoke flows (ganymede.toml); fail if one fails",
    },
)
def deploy(
    c, env=None, force=False, dry_run=False, retarget=False, allow_dirty=False,
    author_email=None, message=None, prune_nodes=False, flow=None, smoke=False, no_lib=False,
):  # fmt: skip
    """Send an environment folder's committed flows (files, structure, settings) to Ganymede."""
    import os
    import sys

    from ganymede_sync.runners.deploy import DeployOptions, run_deploy
    from ganymede_sync.ui.progress import progress_display
    from ganymede_sync.ui.report import deploy_line

    options = DeployOptions(
        dry_run=dry_run, force=force, retarget=retarget, allow_dirty=allow_dirty,
        author_email=author_email, message=message, prune_nodes=prune_nodes,
        flows=flow_names(flow), lib=not no_lib, smoke=smoke,
    )  # fmt: skip
    stopped = f"run invoke status --env {env} to see whether the deploy reached Ganymede"
    with expected_failures(stopped), progress_display(sys.stderr, os.environ) as display:
        result = run_deploy(
            begin_task(emit), env, options, show=display.then(emit), progress=display,
            environ=os.environ,
        )  # fmt: skip
    emit(deploy_line(result))


@task(
    help={
        "env": "environment folder to plan (e.g. dev)",
        "retarget": RETARGET_HELP + " (this run only)",
        "allow_dirty": "plan as deploy --allow-dirty would (uncommitted files are not refused)",
        "json": "print the plan as JSON (path, status, target) instead of a table",
        "diff": "show a unified diff of each file to send against Ganymede's content",
        "offline": "plan against the last pull, without reading Ganymede (no token needed)",
        "prune_nodes": "plan as deploy --prune-nodes would (node removals are not refused)",
        "json_file": "also write the plan as JSON (as --json prints it) to this file",
    }
)
def status(
    c, env=None, retarget=False, allow_dirty=False, json=False, diff=False, offline=False,
    prune_nodes=False, json_file=None,
):  # fmt: skip
    """Show what a deploy would send. Exit 0: nothing to send, 2: something, 1: refused/error."""
    import json as json_module
    import os
    import sys
    from pathlib import Path

    from ganymede_sync.runners.deploy import StatusOptions, run_status
    from ganymede_sync.ui.progress import progress_display
    from ganymede_sync.ui.report import status_data

    options = StatusOptions(
        retarget=retarget, allow_dirty=allow_dirty, offline=offline, diff=diff,
        prune_nodes=prune_nodes,
    )  # fmt: skip
    # With --json, standard output carries the JSON document and nothing else.
    show = (lambda text: None) if json else emit
    with expected_failures(), progress_display(sys.stderr, os.environ) as display:
        output_file(json_file, "--json-file")
        result = run_status(
            begin_task(display.then(show)), env, options, show=display.then(show), progress=display,
            environ=os.environ,
        )  # fmt: skip
    if json:
        emit(json_module.dumps(status_data(result, with_diffs=diff), indent=2))
    if json_file:
        document = json_module.dumps(status_data(result, with_diffs=diff), indent=2)
        Path(json_file).write_text(document + "\n", encoding="utf-8")
    if result.exit_code:
        raise Exit(code=result.exit_code)


# --- flow runs ------------------------------------------------------------------
def required_flow(flow: str | None) -> str:
    """Return the --flow a task needs, or say to give one."""
    if not flow:
        raise ConfigError("choose the flow with --flow (its folder's name)")
    return flow


def seconds(value: object, option: str) -> float:
    """Read a number of seconds given on the command line."""
    try:
        return float(str(value))
    except ValueError:
        raise ConfigError(
            f"{option} must be a number of seconds, not '{visible(str(value))}'"
        ) from None


# Short flags would give -f to --flow here; -f means --force in every task.
@task(
    auto_shortflags=False,
    iterable=["input"],
    help={
        "env": "environment folder whose Ganymede environment runs the flow (e.g. dev)",
        "flow": "the flow to run (its folder's name)",
        "input": "an input as TASK.PARAM=VALUE, VALUE @path for a file (repeat for each)",
        "dry_run": "only check the inputs with Ganymede; start no run",
        "no_wait": "start the run and return at once with its id",
        "timeout": "seconds to wait for the run to end (default 600)",
    },
)
def run(c, flow=None, env=None, input=None, dry_run=False, no_wait=False, timeout="600"):
    """Run a flow in Ganymede and follow it to its end. Exit 0 only when it succeeds."""
    import os
    import sys

    from ganymede_sync.runners.runs import RunOptions, run_flow_in_ganymede
    from ganymede_sync.ui.progress import progress_display
    from ganymede_sync.ui.report import describe_run

    stopped = f"the run, if it started, goes on in Ganymede: invoke runs --env {env} --flow {flow}"
    with expected_failures(stopped), progress_display(sys.stderr, os.environ) as display:
        options = RunOptions(
            flow=required_flow(flow), inputs=tuple(input or ()), dry_run=dry_run,
            wait=not no_wait, timeout=seconds(timeout, "--timeout"),
        )  # fmt: skip
        result = run_flow_in_ganymede(begin_task(emit), env, options, show=display.then(emit))
    emit("\n".join(describe_run(result)))


@task(
    auto_shortflags=False,
    help={
        "env": "environment folder whose Ganymede environment to ask (e.g. dev)",
        "flow": "the flow whose runs to list (its folder's name)",
        "json": "print the runs as Ganymede describes them, as JSON",
        "since": "only runs started since then: a span (30m, 12h, 7d) or a UTC date or time",
    },
)
def runs(c, flow=None, env=None, json=False, since=None):
    """List a flow's recent runs in Ganymede: state, times, initiator and code version."""
    import json as json_module

    from ganymede_sync.runners.runs import list_runs
    from ganymede_sync.ui.report import runs_table

    with expected_failures():
        target, found = list_runs(begin_task(emit), env, required_flow(flow), since=since)
    if json:
        emit(json_module.dumps(found, indent=2))
    else:
        emit(runs_table(found, flow, target))


# --- history and rollback ----------------------------------------------------------
@task(
    auto_shortflags=False,
    help={
        "env": "environment folder whose deploys to list (e.g. prod)",
        "flow": "only deploys that sent this flow's files or flow.json",
        "json": "print the records as JSON",
    },
)
def history(c, env=None, flow=None, json=False):
    """List an environment folder's deploys, newest first, from the records git keeps.

    Each deploy tags the commit it deployed (deploy/<folder>/<UTC time>); git fetch
    --tags brings the records other clones and the deploy workflow pushed.
    """
    import json as json_module

    from ganymede_sync.runners.history import list_history
    from ganymede_sync.ui.report import history_table

    with expected_failures():
        settings = begin_task(emit)
        records = list_history(settings, env, flow)
    if json:
        emit(json_module.dumps([record.to_json() for record in records], indent=2))
    else:
        emit(history_table(records, settings.environment(env).folder, flow))


# Short flags would give --deploy and --dry-run the same letter.
@task(
    auto_shortflags=False,
    help={
        "env": "environment folder to roll back (e.g. prod)",
        "to": "a deploy that invoke history lists (its tag or time), or a commit",
        "deploy": "also deploy the rollback now (emergencies; the usual conflict checks apply)",
        "dry_run": "show the rollback's plan without changing anything",
        "body_file": "also write the plan as markdown to this file (a pull request's body)",
    },
)
def rollback(c, env=None, to=None, deploy=False, dry_run=False, body_file=None):
    """Make a folder's files equal to an earlier deploy or commit, as a new commit.

    The commit goes on branch rollback/<folder>-<commit>: push it and open a pull
    request, and the usual deploy ships it. History is never rewritten.
    """
    import os
    import sys
    from pathlib import Path

    from ganymede_sync.runners.history import deploy_rollback, run_rollback
    from ganymede_sync.ui.progress import progress_display
    from ganymede_sync.ui.report import describe_rollback, rollback_body

    stopped = "git status shows whether any file of the folder changed"
    with expected_failures(stopped), progress_display(sys.stderr, os.environ) as display:
        output_file(body_file, "--body-file")
        settings = begin_task(emit)
        result = run_rollback(
            settings, env, to, display.then(emit), dry_run=dry_run, progress=display
        )
        if deploy and result.commit is not None:
            result = deploy_rollback(settings, result, show=display.then(emit), environ=os.environ)
    if body_file and result.plan is not None:
        Path(body_file).write_text(visible(rollback_body(result)), encoding="utf-8")
    emit("\n".join(describe_rollback(result, dry_run=dry_run)))


@task(
    auto_shortflags=False,  # --plans and --pr, --repo and --run-url would share letters
    help={
        "plans": "folder of plan files written by invoke status --json-file",
        "pr": "number of the pull request to comment on",
        "repo": "owner/name on GitHub (default: the repository gh finds here)",
        "run_url": "link to the run whose plan jobs made the plans",
        "dry_run": "print the comment instead of posting it",
        "nothing_changed": "the pull request changes no environment folder: say so (and "
        "only correct an existing comment)",
    },
)
def plan_comment(
    c, plans=None, pr=None, repo=None, run_url=None, dry_run=False, nothing_changed=False
):
    """Post the deploy plan as one pull request comment, updated in place on every push."""
    from ganymede_sync.runners.plan_comment import post_plan_comment, read_plans
    from ganymede_sync.ui.report import plan_comment as render

    with expected_failures():
        begin_task(emit)
        found = read_plans(plans, nothing_changed=nothing_changed)
        body = render(found, run_url)
        if dry_run:
            emit(body)
            return
        done = post_plan_comment(body, pr, repo, create=bool(found))
    emit(f"deploy plan comment: {done}")


@task(
    auto_shortflags=False,
    help={
        "env": "environment folder the event is about (for a promotion: its target)",
        "event": "deploy, drift (a sync pull request opened or updated) or promotion",
        "outcome": "how the deploy job went: success, failure or cancelled",
        "record": "the deploy's record tag (deploy/<folder>/<time>), when it made one",
        "link": "the pull request the event is about",
        "run_url": "link to the workflow run",
        "source": "the folder a promotion comes from",
    },
)
def notify(c, env=None, event="deploy", outcome=None, record=None, link=None,
           run_url=None, source=None):  # fmt: skip
    """Tell the team in chat: a deploy, drift or a promotion waiting (GANYMEDE_WEBHOOK_URL).

    No webhook set: nothing is sent. A webhook that fails is a warning, never a
    failure: a notification never fails a deploy.
    """
    import os

    from ganymede_sync.results import Notice
    from ganymede_sync.runners.notify import notify as send

    notice = Notice(event, outcome, record or None, link or None, run_url or None, source)
    with expected_failures():
        emit(send(begin_task(emit), env, notice, os.environ))


@task(
    help={
        "env": "environment folder whose smoke flows' latest runs to read",
        "save": "write them to this file, for invoke promote --smoke-results",
    }
)
def smoke_status(c, env=None, save=None):
    """Show the latest run of each smoke flow of a folder ([environments.<folder>] smoke)."""
    from pathlib import Path

    from ganymede_sync.runners.runs import latest_smoke, save_smoke

    with expected_failures():
        output_file(save, "--save")
        settings = begin_task(emit)
        environment = settings.environment(env)
        latest, note = latest_smoke(settings, environment)
        if save:
            save_smoke(Path(save), environment.folder, latest, note)
    for flow, state, run_id in latest:
        emit(f"{flow}: {state}" + (f" (run {run_id})" if run_id else ""))
    if note:
        emit(note)
    elif not latest:
        folder = environment.folder
        emit(f"no smoke flows set for {folder}/ ([environments.{folder}] smoke)")


@task(help={"env": "check only this environment folder (default: all)"})
def check(c, env=None):
    """Check flow code offline: it compiles, uses no undefined name, adds no stray file."""
    from ganymede_sync.plans.checks import check_environment

    with expected_failures():
        settings = begin_task(emit)
        folders = [settings.environment(env)] if env else list(settings.environments.values())
        problems = [problem for folder in folders for problem in check_environment(folder)]
    if problems:
        emit("\n".join(str(problem) for problem in problems))
        raise Exit(f"error: {len(problems)} problem(s) in flow code: fix them, then check again", 1)
    emit(f"checked {', '.join(f.folder + '/' for f in folders)}: no problems")


# --- test ---------------------------------------------------------------------
@task(help={"env": "test only this environment folder's nodes (default: every folder)"})
def test(c, env=None):
    """Run the flow tests: the integrity check of every node, then your own tests.

    Tests go in tests/. The integrity test needs no code: every node must import
    (its folder's lib/ as lib, a stand-in for ganymede_sdk) and define execute. Your
    own tests load a node and call execute with data of their own, for example:

        def test_my_node(node, ganymede_context):
            my_node = node("dev", "my-flow", "My_Node")
            context = ganymede_context(tables={"samples": pandas.DataFrame(...)})
            result = my_node.execute(None, ganymede_context=context)
            assert list(result.tables_to_upload["results"]["ok"]) == [True]

    tests/test_example_flow.py is a worked example; docs/testing.md explains more.
    Arguments after -- go to pytest: invoke test --env dev -- -k delta -x
    """
    import subprocess
    import sys

    from ganymede_sync.testing.runner import (
        arguments_after_dashes,
        check_flow_packages,
        pytest_command,
    )

    with expected_failures():
        settings = begin_task(emit)
        check_flow_packages(settings.root)
        extra = arguments_after_dashes(c.remainder, sys.argv)
        command = pytest_command(settings, env, extra)
    code = subprocess.call(command, cwd=settings.root)
    if code:
        raise Exit(f"error: flow tests failed (pytest exit code {code})", code=code)


# --- emulator -----------------------------------------------------------------
EMULATOR_TOKEN = "local-emulator-token"  # noqa: S105 - opens only the local emulator


@task(
    help={
        "port": "port to listen on (default 8765; 0 picks a free one)",
        "data_dir": "where the emulator keeps its state (default .emulator/)",
        "seed": "'example' starts with example flows, 'none' with empty environments",
    }
)
def emulator(c, port=8765, data_dir=".emulator", seed="example"):
    """Run a local Ganymede emulator to try pulls and deploys offline.

    It serves the Ganymede environments named in ganymede.toml with a fixed local token
    (not a secret: it only opens this emulator) and registers as users the email git
    records as your commits' author, and GANYMEDE_AUTHOR_EMAIL if set, so deploys of
    your own commits are accepted. State stays in DATA_DIR between runs.
    """
    from ganymede_sync.emulator import Emulator, serve_until_signalled
    from ganymede_sync.local import gitops

    with expected_failures():
        settings = begin_task(emit)
    names = tuple(dict.fromkeys(env.name for env in settings.environments.values()))
    # The emails deploys will name: git's author identity, and GANYMEDE_AUTHOR_EMAIL.
    users = tuple(
        dict.fromkeys(e for e in (gitops.author_email(settings.root), settings.author_email) if e)
    )
    state = settings.root / data_dir

    def how_to_use(server):
        return [
            f"token: {EMULATOR_TOKEN}   state: {state}",
            "In another shell (each folder keeps its own environment from ganymede.toml):",
            f"export {API_URL_VARIABLE}={server.url} {TOKEN_VARIABLE}={EMULATOR_TOKEN}",
        ]

    try:
        server = Emulator(
            state,
            api_key=EMULATOR_TOKEN,
            environments=names,
            users=users or ("you@example.com",),
            seed=seed,
            port=int(port),
        )
        serve_until_signalled(server, how_to_use)
    except (OSError, ValueError) as error:
        raise Exit(f"error: the emulator could not start: {error}", code=1) from None
    emit("emulator stopped")


# --- set-up -------------------------------------------------------------------
@task(
    iterable=["env", "reviewer"],
    help={
        "repo": "GitHub repository OWNER/NAME (default: the one gh sees here)",
        "env": "environment folder to set up (repeatable; default: all)",
        "dry_run": "print every step without changing anything",
        "reviewer": "GitHub login who approves deploys of protected folders (repeatable; "
        "default: you)",
    },
)
def github_setup(c, repo=None, env=None, dry_run=False, reviewer=None):
    """Configure the GitHub side (variables, environments, secrets, permissions) via gh.

    The API token of each environment is asked without echo on a terminal; otherwise
    standard input gives one line per environment, in the order of --env (or of
    ganymede.toml), and an empty line keeps a secret that is already set. Protected
    folders (prod by default) get a <folder>-review environment whose reviewers
    approve each deploy: --reviewer (default: you).
    """
    import os

    from ganymede_sync.local import github

    with expected_failures("run invoke github-setup again: it does only what is missing"):
        # Each environment's own name from ganymede.toml, not a local override for one.
        settings = begin_task(emit, environ={**os.environ, ENVIRONMENT_VARIABLE: ""})
        if dry_run:
            target = github.target_from_settings(settings, env or ())
            state, note = github.state_for_dry_run(repo, target.environments)
            people = [(login, None) for login in reviewer or ()] or [("you", None)]
            target = github.target_from_settings(settings, env or (), people)
            steps = github.plan_setup(state, target)
            emit(
                "\n".join(
                    [*([note] if note else []), *github.describe_dry_run(state.repository, steps)]
                )
            )
            return
        cli = github.connect()
        target = github.target_from_settings(settings, env or ())
        state = github.read_state(cli, github.resolve_repository(cli, repo), target.environments)
        if target.protected:
            people = github.reviewer_ids(cli, list(reviewer or ()))
            target = github.target_from_settings(settings, env or (), people)
        tokens = github.read_tokens(state, target)
        steps = github.plan_setup(state, target, new_tokens=tokens)
        github.apply_plan(
            cli, steps, tokens, before_step=lambda s: emit(f"- {s.description}"),
            on_refusal=lambda note: emit(f"warning: {note}"),
        )  # fmt: skip
    emit(f"{state.repository}: " + (f"{len(steps)} step(s) done" if steps else "already set up"))


@task(help={"env": "environment folder whose sync pull request is described"})
def sync_request(c, env=None):
    """Print the sync pull request's branch, commit message and identity as name=value lines.

    Read from ganymede.toml; the pull workflow appends them to $GITHUB_OUTPUT.
    """
    from ganymede_sync.runners.sync_request import as_output_lines, sync_request

    with expected_failures():
        settings = begin_task(tell)
        emit(as_output_lines(sync_request(settings, settings.environment(env))))


@task(help={"env": "check only this environment folder (default: all)"})
def doctor(c, env=None):
    """Check configuration, token, API, git and GitHub, with a fix for each problem."""
    from ganymede_sync.runners import doctor as checkup

    with expected_failures(), contextlib.suppress(GanymedeSyncError):
        begin_task(emit)  # doctor itself reports settings that do not load
    with expected_failures():
        checks = checkup.run_checks(folder=env)
    for check in checks:
        emit(checkup.format_check(check))
    failed = sum(not check.ok for check in checks)
    if failed:
        raise Exit(f"doctor: {failed} problem(s) found: apply the fix lines above", code=1)
    emit("doctor: everything checked is in place")


# --- changed environments -----------------------------------------------------
@task(
    help={
        "before": "commit before the change (push: the old tip; pull request: the merge "
        "commit's first parent); all zeros or unknown: every folder with files",
        "after": "commit after the change (default: HEAD)",
        "only": "list this folder alone, changed or not (a manual deploy of it)",
    }
)
def changed_environments(c, before="", after="HEAD", only=""):
    """Print the pulled environment folders changed between two commits, as a JSON list."""
    import json
    import os
    import sys

    from ganymede_sync.runners.changes import Changes
    from ganymede_sync.runners.changes import changed_environments as find_changed
    from ganymede_sync.ui.report import append_output

    with expected_failures():
        settings = begin_task(tell)
        if only:
            changes = Changes([settings.environment(only).folder])
        else:
            changes = find_changed(settings, before or None, after)
    for note in changes.notes(settings):
        # A workflow command on a runner (shown on the run's page), a plain note elsewhere.
        prefix = "::notice title=Folder skipped::" if os.environ.get("GITHUB_ACTIONS") else "note: "
        print(visible(prefix + note), file=sys.stderr)
    emit(json.dumps(changes.folders))
    # In a workflow step, also hand the list to later jobs as the output `environments`,
    # and the protected ones among them, whose deploys wait for reviewers, as `reviewed`.
    append_output("environments", json.dumps(changes.folders), os.environ)
    append_output("reviewed", json.dumps(changes.reviewed(settings)), os.environ)


# --- promote --------------------------------------------------------------------
# Short flags would give -f to --flow here; -f means --force in every task.
@task(
    auto_shortflags=False,
    help={
        "env": "environment folder to compare (e.g. dev)",
        "against": "environment folder to compare it with (e.g. prod)",
        "flow": "compare only this flow (lib/ left out)",
        "stat": "list what differs without the line-by-line diffs",
    },
)
def diff(c, env=None, against=None, flow=None, stat=False):
    """Show how two environment folders differ; exit 1 when they do (usable in CI)."""
    from ganymede_sync.runners.promote import diff_environments
    from ganymede_sync.ui.report import describe_comparison, unified_diffs

    with expected_failures():
        comparison = diff_environments(begin_task(emit), env, against, flow)
    lines = describe_comparison(comparison)
    if not stat:
        lines = [*lines, *unified_diffs(comparison)]
    emit("\n".join(lines))
    if comparison.differs:
        raise Exit(code=1)


@task(
    auto_shortflags=False,  # as for diff: -f means --force in every task
    iterable=["flow"],
    help={
        "from_": "environment folder to promote from (e.g. dev)",
        "to": "environment folder to promote into (e.g. prod)",
        "flow": "promote only this flow (repeatable, or comma-separated; default: every flow)",
        "lib": "promote lib/ too (default; --no-lib leaves the target's lib/ as it is)",
        "commit": "commit on branch promote/<from>-to-<to>",
        "body_file": "also write the plan as markdown to this file (a pull request's body)",
        "ignore_smoke": "promote even when the source's latest smoke run of a flow failed",
        "smoke_results": "read the source's smoke runs from this file (invoke smoke-status "
        "--save) instead of with the source's token",
    },
)
def promote(
    c, from_=None, to=None, flow=None, lib=True, commit=False, body_file=None, ignore_smoke=False,
    smoke_results=None,
):  # fmt: skip
    """Make the target folder's flow code equal to the source's, after showing its deploy plan.

    Reads only the target's current state from Ganymede (GANYMEDE_API_TOKEN must be the
    target's token); refuses when the target lacks a node the promoted code needs.
    """
    import os
    import sys
    from pathlib import Path

    from ganymede_sync.runners import promote as promoting
    from ganymede_sync.ui import report
    from ganymede_sync.ui.progress import progress_display

    flows = list(flow_names(flow))
    stopped = "git status shows whether any file of the target folder changed"
    with expected_failures(stopped), progress_display(sys.stderr, os.environ) as display:
        output_file(body_file, "--body-file")
        settings = begin_task(emit)
        promotion = promoting.prepare_promotion(
            settings, from_, to, flows, include_lib=lib, commit=commit
        )
        result = promoting.run_promotion(
            settings, promotion, display.then(emit), commit=commit, progress=display,
            ignore_smoke=ignore_smoke, smoke_results=Path(smoke_results) if smoke_results else None,
        )  # fmt: skip
    body = report.pull_request_body(result)
    if body_file:
        Path(body_file).write_text(visible(body), encoding="utf-8")
    report.append_step_summary(body, os.environ)
    emit("\n".join(report.describe_promotion(result)))


namespace = Collection.from_module(sys.modules[__name__])
"""Every task above: a repository's ``tasks.py`` imports it, and may add its own tasks."""
