"""Check every prerequisite of pulls and deploys, and name the fix for each problem.

One job: run read-only checks in a fixed order (configuration, token, API, git,
GitHub) and return them as data (``Check``). It never changes anything: no file
writes, no deploys, no commits, no ``gh ... set``. It never shows the API token,
only its length, and never prints (tasks.py does).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ganymede_sync import __version__
from ganymede_sync.errors import ApiError, AuthenticationError, ConfigError
from ganymede_sync.local import github, gitops
from ganymede_sync.remote.client import GanymedeClient
from ganymede_sync.settings import release
from ganymede_sync.settings.config import (
    API_URL_VARIABLE,
    CONFIG_FILE,
    DOTENV_FILE,
    ENVIRONMENT_VARIABLE,
    SUBDOMAIN_VARIABLE,
    TOKEN_VARIABLE,
    Environment,
    Settings,
    find_root,
    load_settings,
    token_problem,
    token_variable,
)
from ganymede_sync.state import binding

WORKFLOWS_DIR = Path(".github") / "workflows"
SETUP_FIX = "run invoke github-setup (or follow docs/github-setup.md)"
_OPTIONS = re.compile(r"^(?P<indent>\s*)options:\s*(?P<inline>\[[^\]]*\])?\s*(#.*)?$")
_KEY = re.compile(r"^\s*(?P<key>[\w-]+):\s*(#.*)?$")


@dataclass(frozen=True)
class Check:
    """The outcome of one check: what was checked, what was found, how to fix it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    skipped: bool = False
    warning: bool = False
    """Passes, but deserves attention (e.g. an override is active)."""


def skipped(name: str, reason: str) -> Check:
    """A check that could not run; it does not count as a failure."""
    return Check(name, ok=True, detail=f"skipped: {reason}", skipped=True)


def format_check(check: Check) -> str:
    """Render one check as a check-list line, with its fix on the next line."""
    mark = "-" if check.skipped else ("FAIL" if not check.ok else "warn" if check.warning else "ok")
    line = f"{'[' + mark + ']':<6} {check.name}: {check.detail}"
    shown = (not check.ok or check.warning) and check.fix
    return f"{line}\n       fix: {check.fix}" if shown else line


def run_checks(
    start: Path | None = None,
    *,
    folder: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Check]:
    """Run every check in order; a ``ConfigError`` escapes only for an unknown ``folder``."""
    environ = os.environ if environ is None else environ
    tooling = check_tooling(start)
    try:
        settings = load_settings(start, environ)
    except ConfigError as error:
        later = ("token", "API", "git", "GitHub")
        failure = _config_failure(error, start)
        return [tooling, failure] + [skipped(n, f"needs {CONFIG_FILE}") for n in later]
    chosen = [settings.environment(folder)] if folder else list(settings.environments.values())
    return [
        tooling,
        _config_ok(settings),
        check_folders(settings),
        check_workflows(settings),
        *check_targets(settings, chosen),
        check_token(settings, environ, chosen[0] if len(chosen) == 1 else None),
        check_api(settings, chosen[0] if folder or len(chosen) == 1 else None),
        *check_git(settings),
        *check_github(settings, _own_names(settings, environ), [e.folder for e in chosen]),
    ]


def check_tooling(start: Path | None) -> Check:
    """The tooling's version, and whether the wheel the repository pins is intact."""
    name, installed = "tooling", f"ganymede-sync {__version__}"
    reinstall = f"pip install --require-hashes -r {release.PIN_FILE}"
    try:
        root = find_root(start)
    except ConfigError:
        return Check(name, ok=True, detail=installed)
    pin = release.read_pin(root)
    if pin is None:
        detail = f"{installed}; {release.PIN_FILE} pins no wheel of it"
        fix = "restore .ganymede-sync/ from the template (cruft update)"
        return Check(name, ok=True, detail=detail, fix=fix, warning=True)
    problem = release.wheel_problem(root, pin)
    if problem:
        fix = f"put back the template's wheel (git restore {release.PIN_FOLDER}/, or cruft update)"
        return Check(name, ok=False, detail=problem, fix=f"{fix}, then {reinstall}")
    if pin.version != __version__:
        detail = f"{installed} is installed, but this repository pins {pin.version}"
        return Check(name, ok=False, detail=detail, fix=reinstall)
    return Check(name, ok=True, detail=f"{installed}, the wheel pinned in {release.PIN_FILE}")


def _config_failure(error: ConfigError, start: Path | None) -> Check:
    try:
        where = f"fix {find_root(start) / CONFIG_FILE}"
    except ConfigError:
        where = f"run this in your repository's folder (the one with {CONFIG_FILE})"
    return Check("configuration", ok=False, detail=str(error), fix=where)


def _config_ok(settings: Settings) -> Check:
    names = ", ".join(f"{e.folder} ({e.name})" for e in settings.environments.values())
    return Check("configuration", ok=True, detail=f"tenant {settings.subdomain}; {names}")


def _own_names(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """Each folder's Ganymede name from ganymede.toml, ignoring a one-name local override."""
    if not environ.get(ENVIRONMENT_VARIABLE):
        return {folder: e.name for folder, e in settings.environments.items()}
    plain = load_settings(settings.root, {**environ, ENVIRONMENT_VARIABLE: ""})
    return {folder: e.name for folder, e in plain.environments.items()}


def check_targets(settings: Settings, chosen: Sequence[Environment]) -> list[Check]:
    """Each folder goes where it is bound; an active override is pointed out either way.

    A mismatch fails: pull, status and deploy would refuse it. An override that
    agrees with the binding is a warning: it silently applies to every folder.
    """
    active = ", ".join(f"{name}={value}" for name, value in settings.overrides.items())
    checks = []
    for environment in chosen:
        name = f"target of {environment.folder}/"
        target = binding.resolved_target(settings, environment)
        bound, source = binding.bound_target(settings, environment)
        if target != bound:
            checks.append(
                Check(
                    name,
                    ok=False,
                    detail=f"bound to {bound} ({source}) but resolved to {target}"
                    + (f" by {active}" if active else ""),
                    fix="unset the override (shell or .env), or pass --retarget to pull, "
                    f"status or deploy to use {target} on purpose",
                )
            )
        elif active:
            checks.append(
                Check(
                    name,
                    ok=True,
                    warning=True,
                    detail=f"{environment.folder}/ -> {target}; override active: {active}",
                    fix=f"unset it unless meant: a token per folder in {DOTENV_FILE} "
                    f"({token_variable(environment.folder)}=...) needs no override",
                )
            )
        else:
            checks.append(Check(name, ok=True, detail=f"{environment.folder}/ -> {target}"))
    return checks


def check_folders(settings: Settings) -> Check:
    """Every environment of ganymede.toml has its folder."""
    missing = [e.folder for e in settings.environments.values() if not e.path.is_dir()]
    if not missing:
        return Check("environment folders", ok=True, detail="all present")
    files = [folder for folder in missing if (settings.root / folder).exists()]
    if files:
        return Check(
            "environment folders",
            ok=False,
            detail=f"not folders but files: {', '.join(files)}",
            fix=f"move {' '.join(files)} away, then create the folder(s) of the same name",
        )
    return Check(
        "environment folders",
        ok=False,
        detail=f"missing: {', '.join(missing)}",
        fix=f"create them (mkdir {' '.join(missing)}), or remove their "
        f"[environments.<folder>] tables from {CONFIG_FILE}",
    )


def check_workflows(settings: Settings) -> Check:
    """The workflows' environment choices list exactly the environments of ganymede.toml."""
    folder = settings.root / WORKFLOWS_DIR
    files = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])
    if not files:
        return Check(
            "workflows",
            ok=False,
            detail=f"no workflow in {WORKFLOWS_DIR.as_posix()}/",
            fix="restore the pull and deploy workflows from the template (cruft update)",
        )
    wanted = list(settings.environments)
    problems = []
    for path in files:
        for options in environment_choices(path.read_text(encoding="utf-8")):
            if sorted(options) != sorted(wanted):
                problems.append(f"{path.name} offers {', '.join(options) or 'nothing'}")
    if problems:
        return Check(
            "workflows",
            ok=False,
            detail=f"{'; '.join(problems)}; {CONFIG_FILE} lists {', '.join(wanted)}",
            fix=f"make the environment options in {WORKFLOWS_DIR.as_posix()}/ list exactly "
            f"{', '.join(wanted)}",
        )
    return Check("workflows", ok=True, detail=f"environment choices match ({', '.join(wanted)})")


def environment_choices(text: str) -> list[list[str]]:
    """Return the ``options`` lists of workflow inputs whose name mentions "env".

    Read as text: the workflows need no YAML library at run time, and choice
    options are always written as a plain list, inline or one item per line.
    """
    lines = text.splitlines()
    found = []
    for number, line in enumerate(lines):
        match = _OPTIONS.match(line)
        if not match or "env" not in _parent_key(lines, number, len(match["indent"])):
            continue
        if match["inline"]:
            found.append([_scalar(item) for item in match["inline"][1:-1].split(",")])
        else:
            found.append(_block_items(lines[number + 1 :], len(match["indent"])))
    return [[item for item in options if item] for options in found]


def _parent_key(lines: Sequence[str], number: int, indent: int) -> str:
    for line in reversed(lines[:number]):
        match = _KEY.match(line)
        if match and len(line) - len(line.lstrip()) < indent:
            return match["key"].lower()
    return ""


def _block_items(lines: Sequence[str], indent: int) -> list[str]:
    items = []
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not stripped.startswith("- ") or len(line) - len(line.lstrip()) < indent:
            break
        items.append(_scalar(stripped[2:]))
    return items


def _scalar(text: str) -> str:
    return text.split(" #", 1)[0].strip().strip("'\"")


def check_token(
    settings: Settings, environ: Mapping[str, str], environment: Environment | None = None
) -> Check:
    """A token is set (in the environment or .env); only its length is shown."""
    own = settings.folder_tokens.get(environment.folder) if environment else None
    if own and environment is not None:
        variable = token_variable(environment.folder)
        source = "the environment" if environ.get(variable) else DOTENV_FILE
        return Check("token", ok=True, detail=f"{variable} set in {source} ({len(own)} characters)")
    if environment is None and settings.folder_tokens and not settings.token:
        folders = ", ".join(f"{folder}/" for folder in settings.folder_tokens)
        return Check("token", ok=True, detail=f"a token of its own for {folders}")
    if not settings.token:
        whose = f"Ganymede environment '{environment.name}'" if environment else "the environment"
        return Check(
            "token",
            ok=False,
            detail=f"{TOKEN_VARIABLE} is not set",
            fix=f"export {TOKEN_VARIABLE}=<API token of {whose}>, or put that line "
            f"in {DOTENV_FILE} (gitignored); never in {CONFIG_FILE}",
        )
    source = "the environment" if environ.get(TOKEN_VARIABLE) else DOTENV_FILE
    problem = token_problem(settings.token)
    if problem:
        return Check(
            "token",
            ok=False,
            detail=f"set in {source}, but unusable: {problem}",
            fix=f"set {TOKEN_VARIABLE} again to the token exactly as Ganymede shows it",
        )
    trimmed = "; spaces or line breaks around it were removed" if settings.token_trimmed else ""
    detail = f"set in {source} ({len(settings.token)} characters{trimmed})"
    return Check("token", ok=True, detail=detail)


def check_api(settings: Settings, environment: Environment | None) -> Check:
    """The API answers a read-only call for this environment with this token."""
    if environment is None:
        return skipped(
            "API", "several environments: run invoke doctor --env <folder of your token>"
        )
    token = settings.token_for(environment)
    if not token or token_problem(token):
        return skipped("API", "needs a usable token")
    where = f"Ganymede environment '{environment.name}' at {settings.api_url}"
    try:
        with GanymedeClient(
            settings.api_url,
            token,
            environment.name,
            timeout=15.0,
            max_attempts=2,
            network=settings.network,
        ) as client:
            client.list_flows()
    except AuthenticationError as error:
        return Check(
            "API",
            ok=False,
            detail=f"token refused by environment {environment.folder}: {where} "
            f"answered {error.status}",
            fix=f"set {TOKEN_VARIABLE} to the API token of Ganymede environment "
            f"'{environment.name}' (its environment secret named ganymede_api_key...)",
        )
    except ApiError as error:
        return _api_failure(settings, environment, error, where)
    return Check("API", ok=True, detail=f"{where} answers with this token")


def _api_failure(
    settings: Settings, environment: Environment, error: ApiError, where: str
) -> Check:
    if error.status == 404:
        return Check(
            "API",
            ok=False,
            detail=f"environment {environment.folder} unknown: {where} does not exist (404)",
            fix=f"set ganymede_environment under [environments.{environment.folder}] in "
            f"{CONFIG_FILE} (or {ENVIRONMENT_VARIABLE}) to the first path segment of the "
            f"environment's address: https://{settings.subdomain}.ganymede.bio/<name>",
        )
    return Check(
        "API",
        ok=False,
        detail=str(error),
        fix=f"check {API_URL_VARIABLE} ([ganymede] api_url) and the network, then try again",
    )


def check_git(settings: Settings) -> list[Check]:
    """The folder is a git repository with the default branch and a commit identity."""
    repo = gitops.open_repository(settings.root)
    identity = _identity_check(settings.root)
    root = repo.work_tree if repo is not None else None
    if repo is None or root is None:
        return [
            Check(
                "git repository",
                ok=False,
                detail=f"{settings.root} is not in a git repository",
                fix="run invoke init",
            ),
            skipped("default branch", "needs a git repository"),
            identity,
        ]
    repository = Check("git repository", ok=True, detail=str(root))
    return [repository, _branch_check(repo, settings.default_branch), identity]


def _branch_check(repo: gitops.GitRepository, default: str) -> Check:
    branches = repo.branch_names()
    current = repo.current_branch()
    if default in branches:
        where = "checked out" if current == default else f"you are on {current or 'no branch'}"
        return Check("default branch", ok=True, detail=f"{default} exists ({where})")
    if not branches:
        return Check(
            "default branch",
            ok=False,
            detail="the repository has no commit yet",
            fix=f"commit your files on {default}: git add -A && git commit -m 'First commit'",
        )
    other = current or branches[0]
    return Check(
        "default branch",
        ok=False,
        detail=f"{default} (default_branch in {CONFIG_FILE}) does not exist; branches: "
        f"{', '.join(branches)}",
        fix=f'git branch -m {other} {default}, or set default_branch = "{other}" under '
        f"[sync] in {CONFIG_FILE}",
    )


def _identity_check(root: Path) -> Check:
    if gitops.has_identity(root):
        return Check("git identity", ok=True, detail="name and email set")
    return Check(
        "git identity",
        ok=False,
        detail="git does not know who you are",
        fix='git config --global user.name "Your Name" && '
        "git config --global user.email you@example.com",
    )


SYNC_TOKEN = "SYNC_PR_TOKEN"  # noqa: S105 - a secret's name, not a value


def check_github(settings: Settings, names: Mapping[str, str], folders: list[str]) -> list[Check]:
    """The GitHub side holds what the workflows need, when gh can tell."""
    cli = github.find_gh()
    if cli is None:
        return [skipped("GitHub", "gh not available (https://cli.github.com)")]
    if not github.is_logged_in(cli):
        return [skipped("GitHub", "gh is not logged in (run gh auth login to check GitHub)")]
    try:
        repository = github.resolve_repository(cli)
    except github.GitHubError as error:
        fix = "push it: gh repo create --source . --push"
        return [Check("GitHub repository", ok=False, detail=str(error), fix=fix)]
    try:
        state = github.read_state(cli, repository, folders, branch=settings.default_branch)
    except github.GitHubError as error:
        fix = f"ask an administrator of {repository} to run invoke doctor"
        return [Check("GitHub repository", ok=False, detail=str(error), fix=fix)]
    return [
        Check("GitHub repository", ok=True, detail=repository),
        _subdomain_check(state, settings.subdomain),
        *(
            _environment_check(state, folder, names[folder], settings.default_branch)
            for folder in folders
        ),
        *(
            _review_check(state, folder, settings.default_branch)
            for folder in folders
            if settings.environment(folder).protected
        ),
        _permissions_check(state),
        _required_checks_check(state, settings.default_branch),
        _sync_token_check(state),
    ]


def _required_checks_check(state: github.GitHubState, branch: str) -> Check:
    """A push to the default branch deploys: merges to it must pass the checks first."""
    name = f"required checks on {branch}"
    wanted = ", ".join(f'"{check}"' for check in github.REQUIRED_CHECKS)
    fix = (
        f"add a ruleset (or branch protection) on {branch} requiring the checks {wanted}: "
        "Settings > Rules > Rulesets (docs/security.md)"
    )
    if state.required_checks is None:
        return Check(name, ok=True, warning=True, detail="GitHub would not say (no admin rights)",
                     fix=fix)  # fmt: skip
    missing = [check for check in github.REQUIRED_CHECKS if check not in state.required_checks]
    if missing:
        shown = ", ".join(f'"{check}"' for check in missing)
        return Check(name, ok=False, detail=f"{shown} not required", fix=fix)
    return Check(name, ok=True, detail=f"{wanted} required before a merge")


def _sync_token_check(state: github.GitHubState) -> Check:
    """SYNC_PR_TOKEN, if used, belongs to environments: a repository secret is readable by
    every workflow run of every branch pushed here."""
    name = f"secret {SYNC_TOKEN}"
    if SYNC_TOKEN in state.repository_secrets:
        return Check(
            name, ok=True, warning=True,
            detail="set for the whole repository: any branch's workflow can read it",
            fix=f"store it in each GitHub environment instead (gh secret set {SYNC_TOKEN} --env "
            f"<folder>), then gh secret delete {SYNC_TOKEN}",
        )  # fmt: skip
    return Check(name, ok=True, detail="not a repository secret (environment secrets, or none)")


def _review_check(state: github.GitHubState, folder: str, default_branch: str) -> Check:
    """A protected folder's deploys wait for reviewers on <folder>-review, not on <folder>."""
    review = github.review_environment(folder)
    label = f"GitHub environment {review}"
    fix = f"run invoke github-setup --env {folder} (and see docs/security.md)"
    problems = []
    if review not in state.environments:
        problems.append(f"missing: deploys of the protected folder {folder} need no approval")
    elif state.reviewer_counts.get(review, 0) == 0:
        problems.append("it has no required reviewers")
    if review in state.environments and not state.restricts_branches(review, default_branch):
        problems.append(f"its deployment branch policy does not name {default_branch} alone")
    if problems:
        return Check(label, ok=False, detail="; ".join(problems), fix=fix)
    if state.reviewer_counts.get(folder, 0):
        return Check(
            label, ok=True, warning=True,
            detail=f"environment {folder} also has reviewers: its jobs wait for them while "
            "holding its concurrency group, so an unapproved pull blocks every deploy",
            fix=f"remove the reviewers of {folder}; those of {review} approve its deploys",
        )  # fmt: skip
    count = state.reviewer_counts[review]
    return Check(label, ok=True, detail=f"{count} required reviewer(s) approve deploys of {folder}")


def _subdomain_check(state: github.GitHubState, subdomain: str) -> Check:
    name = f"GitHub variable {SUBDOMAIN_VARIABLE}"
    value = state.variables.get(SUBDOMAIN_VARIABLE)
    if value == subdomain:
        return Check(name, ok=True, detail=value)
    found = "not set" if value is None else f"is '{value}'"
    return Check(name, ok=False, detail=f"{found}, expected '{subdomain}'", fix=SETUP_FIX)


def _environment_check(
    state: github.GitHubState, folder: str, name: str, default_branch: str
) -> Check:
    label = f"GitHub environment {folder}"
    fix = f"run invoke github-setup --env {folder}"
    if folder not in state.environments:
        return Check(label, ok=False, detail="missing", fix=fix)
    problems = []
    value = state.environment_variables.get(folder, {}).get(ENVIRONMENT_VARIABLE)
    if value != name:
        found = "not set" if value is None else f"'{value}'"
        problems.append(f"variable {ENVIRONMENT_VARIABLE} is {found}, expected '{name}'")
    if not state.has_token_secret(folder):
        problems.append(f"secret {github.TOKEN_SECRET} is missing")
    if state.branch_policies.get(folder) is None:
        problems.append("any branch may deploy to it (no deployment branch policy)")
    elif not state.restricts_branches(folder, default_branch):
        problems.append(f"its deployment branch policy does not allow {default_branch}")
    if problems:
        return Check(label, ok=False, detail="; ".join(problems), fix=fix)
    detail = f"{ENVIRONMENT_VARIABLE}={name}, secret {github.TOKEN_SECRET} set, branches limited"
    return Check(label, ok=True, detail=detail)


def _permissions_check(state: github.GitHubState) -> Check:
    """Actions may open pull requests; default permissions read (enough) or write."""
    name = "GitHub workflow permissions"
    default = state.workflow_permissions.get("default_workflow_permissions", "unknown")
    if state.has_workflow_permissions():
        return Check(name, ok=True, detail="default read; Actions may create pull requests")
    if state.can_open_pull_requests():
        return Check(
            name,
            ok=True,
            warning=True,
            detail=f"default {default}; Actions may create pull requests",
            fix="read is enough and safer (every job declares its own permissions): " + SETUP_FIX,
        )
    return Check(
        name,
        ok=False,
        detail=f"default {default}, Actions may create pull requests: "
        f"{state.workflow_permissions.get('can_approve_pull_request_reviews')}",
        fix=SETUP_FIX,
    )
