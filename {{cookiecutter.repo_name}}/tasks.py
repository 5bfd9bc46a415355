"""Invoke tasks of this repository: `invoke --list` shows them, `invoke --help TASK` explains one.

This file is wiring only: each task parses its options, calls `ganymede_sync`, prints
the result and turns an expected failure into a one-line message and exit code 1.
The same tasks run on a laptop and in the GitHub workflows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from invoke import Exit, task

from ganymede_sync.errors import GanymedeSyncError, Interrupted


@contextlib.contextmanager
def expected_failures(after_interrupt: str = "nothing was changed") -> Iterator[None]:
    """Show an expected failure as `error: ...` and exit 1, without a traceback.

    Ctrl-C exits 130 with ``after_interrupt``: what is true of a task stopped midway.
    """
    try:
        yield
    except Interrupted as error:
        raise Exit(f"error: interrupted; {error}", code=130) from None
    except GanymedeSyncError as error:
        raise Exit(f"error: {error}", code=1) from None
    except KeyboardInterrupt:
        raise Exit(f"error: interrupted; {after_interrupt}", code=130) from None


@task
def init(c):
    """Create the git repository with a first commit (safe to run again)."""
    from ganymede_sync import gitops
    from ganymede_sync.config import load_settings

    with expected_failures():
        settings = load_settings()
        print(gitops.init_repository(settings.root, branch=settings.default_branch))


# --- pull ---------------------------------------------------------------------
@task(
    help={
        "env": "environment folder to pull into (e.g. dev)",
        "flow": "pull only this flow (its id as in Ganymede); other flows stay as they are",
        "no_lib": "leave lib/ out of the pull",
        "force": "take Ganymede's version even of files changed here; allow large removals",
        "commit": "commit the folder and its manifest as 'Sync flows in environment ...'",
        "skip_invalid": "leave out files whose names a checkout cannot keep; update the rest",
    }
)
def pull(c, env=None, flow=None, no_lib=False, force=False, commit=False, skip_invalid=False):
    """Bring an environment's flow code from Ganymede into its folder."""
    import os
    import sys

    from ganymede_sync.config import load_settings
    from ganymede_sync.progress import progress_display
    from ganymede_sync.pull import describe, pull_environment

    with expected_failures(), progress_display(sys.stderr, os.environ) as display:
        summary = pull_environment(
            load_settings(),
            env,
            flow=flow,
            include_lib=not no_lib,
            force=force,
            commit=commit,
            skip_invalid=skip_invalid,
            progress=display,
        )
    print("\n".join(describe(summary)))


# --- deploy -------------------------------------------------------------------
@task(
    help={
        "env": "environment folder to deploy (e.g. dev)",
        "dry_run": "show the plan and let Ganymede validate it, without committing",
        "author_email": "Ganymede user email for the commit (default: author of HEAD)",
        "message": "commit message in Ganymede (default: subject and short SHA of HEAD)",
        "force": "send files that were also changed in Ganymede since the last pull",
    }
)
def deploy(c, env=None, dry_run=False, author_email=None, message=None, force=False):
    """Send the changed flow code of an environment folder to Ganymede."""
    import os
    import sys

    from ganymede_sync.config import load_settings
    from ganymede_sync.deploy_run import run_deploy
    from ganymede_sync.progress import progress_display

    stopped = f"run invoke status --env {env} to see whether the deploy reached Ganymede"
    with expected_failures(stopped), progress_display(sys.stderr, os.environ) as display:
        line = run_deploy(
            load_settings(), env, display.then(print), os.environ, progress=display,
            dry_run=dry_run, author_email=author_email, message=message, force=force,
        )  # fmt: skip
    print(line)


@task(help={"env": "environment folder to plan (e.g. dev)"})
def status(c, env=None):
    """Show what a deploy would send, without sending anything."""
    import os
    import sys

    from ganymede_sync.config import load_settings
    from ganymede_sync.deploy_run import run_status
    from ganymede_sync.progress import progress_display

    with expected_failures(), progress_display(sys.stderr, os.environ) as display:
        run_status(load_settings(), env, display.then(print), progress=display)


@task(help={"env": "check only this environment folder (default: all)"})
def check(c, env=None):
    """Validate flow code offline: Python compiles, no stray or new node files."""
    from ganymede_sync.check import check_environment
    from ganymede_sync.config import load_settings
    from ganymede_sync.deploy_run import restore_first

    with expected_failures():
        settings = load_settings()
        folders = [settings.environment(env)] if env else list(settings.environments.values())
        for folder in folders:
            restore_first(folder, print)
        problems = [problem for folder in folders for problem in check_environment(folder)]
    if problems:
        print("\n".join(str(problem) for problem in problems))
        raise Exit(f"error: {len(problems)} problem(s) in flow code: fix them, then check again", 1)
    print(f"checked {', '.join(f.folder + '/' for f in folders)}: no problems")


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
    (not a secret: it only opens this emulator) and registers your git email as a user,
    so deploys of your own commits are accepted. State stays in DATA_DIR between runs.
    """
    from ganymede_sync.config import load_settings
    from ganymede_sync.emulator import Emulator, serve_until_signalled

    with expected_failures():
        settings = load_settings()
    names = tuple(dict.fromkeys(env.name for env in settings.environments.values()))
    found = c.run("git config user.email", hide=True, warn=True)
    user = found.stdout.strip() if found and found.ok else ""
    state = settings.root / data_dir

    def how_to_use(server):
        return [
            f"token: {EMULATOR_TOKEN}   state: {state}",
            "In another shell (GANYMEDE_ENVIRONMENT overrides the name of every folder):",
            f"export GANYMEDE_API_URL={server.url} GANYMEDE_ENVIRONMENT={names[0]} "
            f"GANYMEDE_API_TOKEN={EMULATOR_TOKEN}",
        ]

    try:
        server = Emulator(
            state,
            api_key=EMULATOR_TOKEN,
            environments=names,
            users=(user or "you@example.com",),
            seed=seed,
            port=int(port),
        )
        serve_until_signalled(server, how_to_use)
    except (OSError, ValueError) as error:
        raise Exit(f"error: the emulator could not start: {error}", code=1) from None
    print("emulator stopped")


# --- set-up -------------------------------------------------------------------
@task(
    iterable=["env"],
    help={
        "repo": "GitHub repository OWNER/NAME (default: the one gh sees here)",
        "env": "environment folder to set up (repeatable; default: all)",
        "dry_run": "print every step without changing anything",
    },
)
def github_setup(c, repo=None, env=None, dry_run=False):
    """Configure the GitHub side (variables, environments, secrets, permissions) via gh.

    The API token of each environment is asked without echo on a terminal; otherwise
    standard input gives one line per environment, in the order of --env (or of
    ganymede.toml), and an empty line keeps a secret that is already set.
    """
    import os

    from ganymede_sync import github
    from ganymede_sync.config import load_settings

    with expected_failures("run invoke github-setup again: it does only what is missing"):
        # Each environment's own name from ganymede.toml, not a local override for one.
        settings = load_settings(environ={**os.environ, "GANYMEDE_ENVIRONMENT": ""})
        target = github.target_from_settings(settings, env or ())
        cli = github.connect()
        state = github.read_state(cli, github.resolve_repository(cli, repo), target.environments)
        if dry_run:
            steps = github.plan_setup(state, target)
            print("\n".join(github.describe_dry_run(state.repository, steps)))
            return
        tokens = github.read_tokens(state, target)
        steps = github.plan_setup(state, target, new_tokens=tokens)
        github.apply_plan(cli, steps, tokens, before_step=lambda s: print(f"- {s.description}"))
    print(f"{state.repository}: " + (f"{len(steps)} step(s) done" if steps else "already set up"))


@task(help={"env": "check only this environment folder (default: all)"})
def doctor(c, env=None):
    """Check configuration, token, API, git and GitHub, with a fix for each problem."""
    from ganymede_sync import doctor as checkup

    with expected_failures():
        checks = checkup.run_checks(folder=env)
    for check in checks:
        print(checkup.format_check(check))
    failed = sum(not check.ok for check in checks)
    if failed:
        raise Exit(f"doctor: {failed} problem(s) found: apply the fix lines above", code=1)
    print("doctor: everything checked is in place")


# --- changed environments -----------------------------------------------------
@task(
    help={
        "before": "commit before the change; all zeros or unknown: every folder with files",
        "after": "commit after the change (default: HEAD)",
    }
)
def changed_environments(c, before="", after="HEAD"):
    """Print the environment folders changed between two commits, as a JSON list."""
    import json
    import os

    from ganymede_sync.changes import changed_environments as find_changed
    from ganymede_sync.config import load_settings

    with expected_failures():
        folders = find_changed(load_settings(), before or None, after)
    print(json.dumps(folders))
    # In a workflow step, also hand the list to later jobs as the output `environments`.
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with open(output, "a", encoding="utf-8") as handle:
            handle.write(f"environments={json.dumps(folders)}\n")
