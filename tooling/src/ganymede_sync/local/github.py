"""Configure the GitHub side of this repository through the GitHub CLI (``gh``).

One job: read what GitHub already holds, plan the missing steps as data, and run
them through ``gh`` with argument lists. It never uses a shell, never puts the API
token in an argument, a message or a log (the token reaches ``gh`` on standard
input only), never changes anything during a dry run, and never prints: tasks.py
shows the steps.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO
from urllib.parse import quote

from ganymede_sync.errors import GitHubError
from ganymede_sync.settings.config import (
    ENVIRONMENT_VARIABLE,
    SUBDOMAIN_VARIABLE,
    TOKEN_VARIABLE,
    Settings,
)

TOKEN_SECRET = TOKEN_VARIABLE
"""The GitHub secret bears the name of the variable the workflows hand it to."""
INSTALL_HELP = (
    "the GitHub CLI (gh) is not installed: install it from https://cli.github.com, "
    "then run gh auth login"
)
LOGIN_HELP = "gh is not logged in to GitHub: run gh auth login, then try again"
# Read is enough: every job of the workflows declares the permissions it needs, and a
# job may raise its own above the default. Pull requests need the second setting.
WORKFLOW_PERMISSIONS = {
    "default_workflow_permissions": "read",
    "can_approve_pull_request_reviews": True,
}
PROTECTED_BRANCHES = frozenset({"(protected branches)"})
"""The branch policy "protected branches only": safe, the owner's choice, left as it is."""
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Step:
    """One call of ``gh`` that changes something on GitHub."""

    description: str
    argv: tuple[str, ...]
    stdin_secret: bool = False
    """True when the API token of ``environment`` goes to ``gh`` on standard input."""
    environment: str | None = None
    body: str | None = None
    """A JSON request body, given to ``gh api --input -`` on standard input."""
    refusal_note: str | None = None
    """When set, GitHub refusing this step is reported with this note and the set-up goes
    on (a plan that does not allow it), instead of stopping; the later steps of the same
    ``group`` are then skipped."""
    group: str | None = None

    def command_line(self) -> str:
        """Return the command as a user would type it (the token is never part of it)."""
        line = shlex.join(self.argv)
        if self.body is not None:
            return f"{line} <<< '{self.body}'"
        return f"{line} < token on standard input" if self.stdin_secret else line


@dataclass(frozen=True)
class Target:
    """What the GitHub side should hold for this repository."""

    subdomain: str
    environments: dict[str, str]
    """GitHub environment (the folder name) -> Ganymede environment name."""
    default_branch: str = "main"
    """The only branch whose workflows may use an environment (its deployment branch policy)."""
    protected: tuple[str, ...] = ()
    """Folders whose deploys wait for reviewers, on GitHub environment ``<folder>-review``."""
    reviewers: tuple[tuple[str, int | None], ...] = ()
    """Reviewers of the protected folders: (login, user id; None when not looked up)."""


@dataclass(frozen=True)
class GitHubState:
    """What the GitHub side holds now, as far as this repository's set-up cares."""

    repository: str
    variables: dict[str, str]
    environments: frozenset[str]
    environment_variables: dict[str, dict[str, str]] = field(default_factory=dict)
    environment_secrets: dict[str, frozenset[str]] = field(default_factory=dict)
    workflow_permissions: dict[str, object] = field(default_factory=dict)
    branch_policies: dict[str, frozenset[str] | None] = field(default_factory=dict)
    """Environment -> the branch names its custom policy allows; None when any branch may."""
    reviewer_counts: dict[str, int] = field(default_factory=dict)
    """Environment -> how many required reviewers it has (absent: none)."""
    required_checks: frozenset[str] | None = None
    """Status checks that branch protection or rulesets require on the default branch;
    None when GitHub would not say (no rights to read them)."""
    repository_secrets: frozenset[str] = frozenset()
    """Names of the repository-level secrets (any workflow of a branch may read them)."""

    def restricts_branches(self, folder: str, branch: str) -> bool:
        """Tell whether ``folder`` may be used from ``branch`` and not from every branch."""
        policy = self.branch_policies.get(folder)
        return policy is not None and (policy == PROTECTED_BRANCHES or branch in policy)

    def has_token_secret(self, folder: str) -> bool:
        """Tell whether GitHub environment ``folder`` already holds the API token secret."""
        return TOKEN_SECRET in self.environment_secrets.get(folder, frozenset())

    def has_workflow_permissions(self) -> bool:
        """Tell whether the defaults are read-only and Actions may open pull requests."""
        return all(self.workflow_permissions.get(k) == v for k, v in WORKFLOW_PERMISSIONS.items())

    def can_open_pull_requests(self) -> bool:
        """Tell whether the pull workflow can open its pull request (what it needs)."""
        return self.workflow_permissions.get("can_approve_pull_request_reviews") is True


REVIEW_SUFFIX = "-review"


def review_environment(folder: str) -> str:
    """The GitHub environment that holds the reviewers of a protected folder's deploys."""
    return f"{folder}{REVIEW_SUFFIX}"


def target_from_settings(
    settings: Settings,
    folders: Iterable[str] = (),
    reviewers: Sequence[tuple[str, int | None]] = (),
) -> Target:
    """Build the target from ``ganymede.toml``: every environment, or only ``folders``."""
    chosen = list(dict.fromkeys(folders)) or list(settings.environments)
    names = {folder: settings.environment(folder).name for folder in chosen}
    protected = tuple(folder for folder in chosen if settings.environment(folder).protected)
    return Target(
        settings.subdomain, names, default_branch=settings.default_branch,
        protected=protected, reviewers=tuple(reviewers),
    )  # fmt: skip


def reviewer_ids(cli: GitHubCli, logins: Sequence[str]) -> list[tuple[str, int | None]]:
    """Look up each reviewer's user id (the API takes ids); no login: the gh user."""
    if not logins:
        me = cli.json(["api", "user"])
        login = me.get("login") if isinstance(me, dict) else None
        return [(str(login), _user_id(me))] if login else []
    return [(login, _user_id(cli.json(["api", f"users/{quote(login, safe='')}"])))
            for login in logins]  # fmt: skip


def _user_id(record: object) -> int | None:
    identifier = record.get("id") if isinstance(record, dict) else None
    return identifier if isinstance(identifier, int) else None


class GitHubCli:
    """Runs ``gh`` with argument lists; its errors become ``GitHubError`` lines."""

    def __init__(self, executable: str) -> None:
        self.executable = executable

    def run(
        self, argv: Sequence[str], *, secret: str | None = None, stdin: str | None = None
    ) -> str:
        """Run ``gh argv...`` and return its standard output.

        ``secret`` goes to standard input and is redacted from any error text.
        Other calls get an empty standard input, so ``gh`` never waits for a prompt.
        """
        result = self._call(argv, secret, stdin)
        if result.returncode != 0:
            raise GitHubError(_failure_line(argv, result.stderr or result.stdout, secret))
        return result.stdout

    def succeeds(self, argv: Sequence[str]) -> bool:
        """Tell whether ``gh argv...`` exits with 0."""
        return self._call(argv, None).returncode == 0

    def json(self, argv: Sequence[str]) -> object:
        """Run ``gh argv...`` and parse its JSON output."""
        output = self.run(argv)
        try:
            return json.loads(output)
        except json.JSONDecodeError:
            command = shlex.join(["gh", *argv[:3]])
            raise GitHubError(f"{command} answered something other than JSON") from None

    def _call(
        self, argv: Sequence[str], secret: str | None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        environ = {**os.environ, "GH_PROMPT_DISABLED": "1", "GH_NO_UPDATE_NOTIFIER": "1"}
        try:
            return subprocess.run(
                [self.executable, *argv],
                input=secret + "\n" if secret is not None else stdin,
                stdin=subprocess.DEVNULL if secret is None and stdin is None else None,
                capture_output=True,
                text=True,
                env=environ,
                timeout=_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            command = shlex.join(["gh", *argv[:3]])
            raise GitHubError(f"{command} did not answer within {_TIMEOUT_SECONDS} s") from None
        except OSError as error:
            raise GitHubError(f"cannot run gh ({error.strerror}): {INSTALL_HELP}") from None


def _failure_line(argv: Sequence[str], text: str, secret: str | None) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = lines[-1] if lines else "no message"
    reason = _redact(reason, [secret] if secret else [])
    return f"{shlex.join(['gh', *argv[:4]])} failed: {reason}"


def find_gh() -> GitHubCli | None:
    """Return the ``gh`` on PATH, or None when it is not installed."""
    executable = shutil.which("gh")
    return GitHubCli(executable) if executable else None


def is_logged_in(cli: GitHubCli) -> bool:
    """Tell whether ``gh`` holds working credentials (``gh auth status``)."""
    return cli.succeeds(["auth", "status"])


def connect() -> GitHubCli:
    """Return a usable ``gh``, or fail with one line saying what to install or run."""
    cli = find_gh()
    if cli is None:
        raise GitHubError(INSTALL_HELP)
    if not is_logged_in(cli):
        raise GitHubError(LOGIN_HELP)
    return cli


def resolve_repository(cli: GitHubCli, repository: str | None = None) -> str:
    """Return OWNER/NAME: the one given, or the GitHub repository of this folder."""
    if repository:
        if not _REPOSITORY.match(repository):
            raise GitHubError(f"--repo '{repository}' is not of the form OWNER/NAME")
        return repository
    try:
        answer = cli.json(["repo", "view", "--json", "nameWithOwner"])
    except GitHubError:
        raise GitHubError(
            "gh finds no GitHub repository for this folder: push it to GitHub first "
            "(gh repo create --source . --push), or pass --repo OWNER/NAME"
        ) from None
    if not isinstance(answer, dict) or not isinstance(answer.get("nameWithOwner"), str):
        raise GitHubError("gh repo view answered without nameWithOwner: update gh")
    return answer["nameWithOwner"]


UNKNOWN_REPOSITORY = "OWNER/NAME"


def state_for_dry_run(
    repository: str | None, folders: Iterable[str]
) -> tuple[GitHubState, str | None]:
    """Read GitHub's state for a dry run; without gh, assume nothing is set up.

    A dry run shows what the set-up would do, so it must work before ``gh`` is
    installed or logged in. Returns the state and, when assumed, a note saying why.
    """
    try:
        cli = connect()
        return read_state(cli, resolve_repository(cli, repository), folders), None
    except GitHubError as error:
        shown = repository or UNKNOWN_REPOSITORY
        empty = GitHubState(shown, variables={}, environments=frozenset())
        note = f"note: {error}; showing every step, as for a repository with nothing set up"
        return empty, note


REQUIRED_CHECKS = ("tests and checks", "deploy plan")
"""The checks a merge to the default branch must pass: ci's job and deploy's aggregate."""


def read_state(
    cli: GitHubCli, repository: str, folders: Iterable[str], *, branch: str | None = None
) -> GitHubState:
    """Read the variables, environments, secret names and workflow permissions (read-only)."""
    listed = _environments(cli, repository)
    environments = frozenset(listed)
    folders = list(folders)
    reviews = [review_environment(folder) for folder in folders]
    present = [folder for folder in folders if folder in environments]
    policed = [name for name in [*folders, *reviews] if name in environments]
    return GitHubState(
        repository=repository,
        variables=_variables(cli, ["--repo", repository]),
        environments=environments,
        environment_variables={
            folder: _variables(cli, ["--env", folder, "--repo", repository]) for folder in present
        },
        environment_secrets={folder: _secret_names(cli, repository, folder) for folder in present},
        workflow_permissions=_workflow_permissions(cli, repository),
        branch_policies={
            name: _branch_policy(cli, repository, name, listed[name]) for name in policed
        },
        reviewer_counts={name: _reviewer_count(record) for name, record in listed.items()},
        required_checks=_required_checks(cli, repository, branch) if branch else None,
        repository_secrets=_repository_secrets(cli, repository) if branch else frozenset(),
    )


def _required_checks(cli: GitHubCli, repository: str, branch: str) -> frozenset[str] | None:
    """The status checks required on ``branch`` by its rulesets and its classic protection."""
    found: set[str] = set()
    readable = False
    rules = _json_or_none(cli, f"repos/{repository}/rules/branches/{quote(branch, safe='')}")
    if isinstance(rules, list):
        readable = True
        for rule in rules:
            if isinstance(rule, dict) and rule.get("type") == "required_status_checks":
                checks = (rule.get("parameters") or {}).get("required_status_checks") or []
                found |= {str(c.get("context")) for c in checks if isinstance(c, dict)}
    path = f"repos/{repository}/branches/{quote(branch, safe='')}/protection/required_status_checks"
    classic = _json_or_none(cli, path)
    if isinstance(classic, dict):
        readable = True
        found |= {str(c) for c in classic.get("contexts") or []}
    return frozenset(found) if readable or found else None


def _json_or_none(cli: GitHubCli, path: str) -> object:
    """``gh api path`` parsed, or None when GitHub refuses (404: none set, or no rights)."""
    try:
        return cli.json(["api", path])
    except GitHubError:
        return None


def _repository_secrets(cli: GitHubCli, repository: str) -> frozenset[str]:
    answer = cli.json(["secret", "list", "--repo", repository, "--json", "name"])
    items = answer if isinstance(answer, list) else []
    return frozenset(str(item["name"]) for item in items if isinstance(item, dict))


def _reviewer_count(record: dict[str, object]) -> int:
    """How many required reviewers an environment's protection rules name."""
    rules = record.get("protection_rules")
    count = 0
    for rule in rules if isinstance(rules, list) else []:
        if isinstance(rule, dict) and rule.get("type") == "required_reviewers":
            reviewers = rule.get("reviewers")
            count += len(reviewers) if isinstance(reviewers, list) else 0
    return count


def _variables(cli: GitHubCli, scope: list[str]) -> dict[str, str]:
    answer = cli.json(["variable", "list", *scope, "--json", "name,value"])
    items = answer if isinstance(answer, list) else []
    return {str(item["name"]): str(item.get("value", "")) for item in items}


def _secret_names(cli: GitHubCli, repository: str, folder: str) -> frozenset[str]:
    answer = cli.json(["secret", "list", "--env", folder, "--repo", repository, "--json", "name"])
    items = answer if isinstance(answer, list) else []
    return frozenset(str(item["name"]) for item in items)


def _environments(cli: GitHubCli, repository: str) -> dict[str, dict[str, object]]:
    """Environment name -> its record (which holds ``deployment_branch_policy``)."""
    answer = cli.json(["api", f"repos/{repository}/environments?per_page=100"])
    items = (answer.get("environments") or []) if isinstance(answer, dict) else []
    return {str(item["name"]): item for item in items if isinstance(item, dict)}


def _branch_policy(
    cli: GitHubCli, repository: str, folder: str, record: dict[str, object]
) -> frozenset[str] | None:
    """The branches a custom policy names; None when every branch may deploy.

    GitHub's default for an environment made through its API is no policy: every
    branch's workflows may then use its secrets, whatever guard a workflow has (a
    branch edits its own copy). "Protected branches only" is kept as it is.
    """
    policy = record.get("deployment_branch_policy")
    if not isinstance(policy, dict):
        return None
    if policy.get("protected_branches"):
        return PROTECTED_BRANCHES
    if not policy.get("custom_branch_policies"):
        return None
    path = f"repos/{repository}/environments/{quote(folder, safe='')}/deployment-branch-policies"
    answer = cli.json(["api", f"{path}?per_page=100"])
    items = (answer.get("branch_policies") or []) if isinstance(answer, dict) else []
    return frozenset(
        str(item["name"])
        for item in items
        if isinstance(item, dict) and item.get("type", "branch") == "branch"
    )


def _workflow_permissions(cli: GitHubCli, repository: str) -> dict[str, object]:
    answer = cli.json(["api", f"repos/{repository}/actions/permissions/workflow"])
    return answer if isinstance(answer, dict) else {}


def plan_setup(state: GitHubState, target: Target, *, new_tokens: Iterable[str] = ()) -> list[Step]:
    """Return the steps that bring GitHub from ``state`` to ``target``, and no more.

    Pure. A token secret is set where it is missing or where ``new_tokens`` names
    the environment (GitHub never shows a secret's value, so only the user knows
    whether the one there is right).
    """
    repo = state.repository
    replace = set(new_tokens)
    steps = []
    if state.variables.get(SUBDOMAIN_VARIABLE) != target.subdomain:
        steps.append(_variable_step(SUBDOMAIN_VARIABLE, target.subdomain, repo, None))
    for folder, name in target.environments.items():
        if state.branch_policies.get(folder) is None:
            steps.append(_environment_step(repo, folder, exists=folder in state.environments))
        if not state.restricts_branches(folder, target.default_branch):
            steps.append(_branch_policy_step(repo, folder, target.default_branch))
        if state.environment_variables.get(folder, {}).get(ENVIRONMENT_VARIABLE) != name:
            steps.append(_variable_step(ENVIRONMENT_VARIABLE, name, repo, folder))
        if folder in replace or not state.has_token_secret(folder):
            steps.append(_secret_step(repo, folder, name))
    for folder in target.protected:
        review = review_environment(folder)
        if state.reviewer_counts.get(review, 0) == 0 or state.branch_policies.get(review) is None:
            steps.append(_review_step(repo, folder, target.reviewers))
        if not state.restricts_branches(review, target.default_branch):
            policy = _branch_policy_step(repo, review, target.default_branch)
            steps.append(dataclasses.replace(policy, group=review))
    if not state.has_workflow_permissions():
        steps.append(_permissions_step(repo))
    return steps


PLAN_NOTE = (
    "GitHub refused required reviewers on {review}: on a private repository they need "
    "GitHub Enterprise (docs/security.md says what to do instead); deploys of {folder} "
    "then run without approval"
)


def _review_step(repo: str, folder: str, reviewers: Sequence[tuple[str, int | None]]) -> Step:
    """Create the review environment of a protected folder, with its required reviewers."""
    review = review_environment(folder)
    listed = ", ".join(login for login, _ in reviewers) or "nobody (give --reviewer)"
    people = [
        {"type": "User", "id": identifier if identifier is not None else f"<id of {login}>"}
        for login, identifier in reviewers
    ]
    policy = {"protected_branches": False, "custom_branch_policies": True}
    body = json.dumps({"reviewers": people, "deployment_branch_policy": policy})
    path = f"repos/{repo}/environments/{quote(review, safe='')}"
    return Step(
        description=f"create GitHub environment {review} for approving deploys of {folder} "
        f"(required reviewers: {listed}; it holds no secret)",
        argv=("gh", "api", "-X", "PUT", path, "--input", "-"),
        body=body,
        refusal_note=PLAN_NOTE.format(review=review, folder=folder),
        group=review,
    )


def _variable_step(name: str, value: str, repo: str, folder: str | None) -> Step:
    scope = ["--env", folder] if folder else []
    where = f"environment {folder}" if folder else "the repository"
    return Step(
        description=f"set variable {name}={value} in {where}",
        argv=("gh", "variable", "set", name, "--body", value, *scope, "--repo", repo),
    )


def _environment_step(repo: str, folder: str, *, exists: bool) -> Step:
    """Create (or restrict) an environment so that only branches its policy names may use it."""
    verb = "restrict" if exists else "create"
    return Step(
        description=f"{verb} GitHub environment {folder}: deployable from named branches only",
        argv=(
            "gh", "api", "-X", "PUT", f"repos/{repo}/environments/{quote(folder, safe='')}",
            "-F", "deployment_branch_policy[protected_branches]=false",
            "-F", "deployment_branch_policy[custom_branch_policies]=true",
        ),
    )  # fmt: skip


def _branch_policy_step(repo: str, folder: str, branch: str) -> Step:
    path = f"repos/{repo}/environments/{quote(folder, safe='')}/deployment-branch-policies"
    return Step(
        description=f"allow branch {branch} to deploy to environment {folder}",
        argv=("gh", "api", "-X", "POST", path, "-f", f"name={branch}", "-f", "type=branch"),
    )


def _secret_step(repo: str, folder: str, name: str) -> Step:
    return Step(
        description=f"set secret {TOKEN_SECRET} in environment {folder} "
        f"(API token of Ganymede environment '{name}')",
        argv=("gh", "secret", "set", TOKEN_SECRET, "--env", folder, "--repo", repo),
        stdin_secret=True,
        environment=folder,
    )


def _permissions_step(repo: str) -> Step:
    return Step(
        description="keep default workflow permissions read-only (each job declares its "
        "own) and allow GitHub Actions to create pull requests",
        argv=(
            "gh", "api", "-X", "PUT", f"repos/{repo}/actions/permissions/workflow",
            "-f", "default_workflow_permissions=read",
            "-F", "can_approve_pull_request_reviews=true",
        ),
    )  # fmt: skip


def describe_dry_run(repository: str, steps: Sequence[Step]) -> list[str]:
    """Return the lines of a dry run: each step with the exact gh command it would run."""
    lines = [f"plan for {repository} (dry run: nothing is changed)"]
    for step in steps:
        lines += [f"- {step.description}", f"    $ {step.command_line()}"]
    lines.append(f"{len(steps)} step(s)" if steps else "nothing to do: GitHub is set up")
    lines.append("secrets already set are kept unless a new token is given")
    return lines


def read_tokens(
    state: GitHubState,
    target: Target,
    *,
    stream: TextIO | None = None,
    prompt: Callable[[str], str] = getpass.getpass,
) -> dict[str, str]:
    """Ask for the API token of each environment; return folder -> token for those given.

    On a terminal each token is asked without echo. Otherwise standard input holds
    one line per environment, in the order of ``target``; an empty line (or the
    end of input) keeps the secret already there. Everything is read before
    anything changes, so a missing token stops the set-up before its first step.
    """
    stream = sys.stdin if stream is None else stream
    interactive = stream.isatty()
    tokens = {}
    for folder, name in target.environments.items():
        keep = state.has_token_secret(folder)
        if interactive:
            token = _ask_token(prompt, folder, name, keep=keep)
        else:
            token = stream.readline().strip()
        if token:
            tokens[folder] = token
        elif not keep:
            order = ", ".join(target.environments)
            raise GitHubError(
                f"no API token for environment {folder}: give one line per environment on "
                f"standard input (in this order: {order}), or run this in a terminal to be asked"
            )
    return tokens


def _ask_token(prompt: Callable[[str], str], folder: str, name: str, *, keep: bool) -> str:
    hint = "Enter keeps the current secret" if keep else "input hidden"
    while True:
        token = prompt(f"API token of Ganymede environment '{name}' for {folder} ({hint}): ")
        if token.strip() or keep:
            return token.strip()


def apply_plan(
    cli: GitHubCli,
    steps: Sequence[Step],
    tokens: Mapping[str, str],
    *,
    before_step: Callable[[Step], None] = lambda step: None,
    on_refusal: Callable[[str], None] = lambda note: None,
) -> int:
    """Run ``steps`` in order, announcing each one first; return how many ran.

    Stops at the first refused step with its one-line reason; re-running the
    set-up continues from where GitHub stands. A step with a ``refusal_note`` that
    GitHub refuses is reported through ``on_refusal`` instead, and the set-up goes on.
    """
    refused: set[str] = set()
    for step in steps:
        if step.group in refused:
            continue
        secret = tokens.get(step.environment or "") if step.stdin_secret else None
        if step.stdin_secret and not secret:
            raise GitHubError(f"no API token for environment {step.environment}")
        before_step(step)
        try:
            cli.run(step.argv[1:], secret=secret, stdin=step.body)
        except GitHubError as error:
            if step.refusal_note is None:
                raise GitHubError(_redact(str(error), tokens.values())) from None
            on_refusal(f"{step.refusal_note} ({_redact(str(error), tokens.values())})")
            refused.add(step.group or "")
    return len(steps)


def _redact(text: str, secrets: Iterable[str]) -> str:
    """Hide every token of this run, whichever call's error happens to repeat one."""
    for secret in secrets:
        text = text.replace(secret, "***") if secret else text
    return text
