"""Check every answer before cookiecutter writes anything.

All problems are collected and printed one per line (answer, bad value, what is
allowed), then the hook exits 1 so cookiecutter removes the output directory.
Answers are read as data: each one is rendered through ``tojson`` into a raw
string and parsed, never pasted into Python source.
"""

from __future__ import annotations

import json
import re
import sys

ANSWERS = json.loads(
    r"""{
  "project_name": {{ cookiecutter.project_name | tojson }},
  "repo_name": {{ cookiecutter.repo_name | tojson }},
  "ganymede_subdomain": {{ cookiecutter.ganymede_subdomain | tojson }},
  "environments": {{ cookiecutter.environments | tojson }},
  "default_branch": {{ cookiecutter.default_branch | tojson }},
  "sync_bot_name": {{ cookiecutter.sync_bot_name | tojson }},
  "sync_bot_email": {{ cookiecutter.sync_bot_email | tojson }},
  "python_version": {{ cookiecutter.python_version | tojson }},
  "pull_schedule": {{ cookiecutter.pull_schedule | tojson }},
  "promotion_chain": {{ cookiecutter.promotion_chain | tojson }}
}"""
)

# Names at the top of the generated repository that an environment folder must not take.
# The environment folder rule (RESERVED_NAMES, ENVIRONMENT_NAME, environment_folder_problem)
# is also ganymede_sync/rules/folder_names.py of the tooling package, which checks ganymede.toml:
# this hook runs before the package is installed and cannot import it (cruft gives hooks
# no path to the template), so tests/test_folder_rule.py holds both to one table of cases.
RESERVED_NAMES = frozenset(
    {
        "lib",
        "tests",
        "test",
        "ganymede_sync",
        "github",
        "ganymede",
        "docs",
        "benchmarks",
        "scripts",
        "venv",
        "node_modules",
        "build",
        "dist",
        "tasks",
    }
)
# The subdomain rule is also ganymede_sync/settings/config.py's SUBDOMAIN_LABEL (checked in the same
# way for ganymede.toml and GANYMEDE_SUBDOMAIN): tests/test_subdomain_rule.py holds both to
# one table of cases.
DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
ENVIRONMENT_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
REPO_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
EMAIL = re.compile(r"^[^@\s\"'<>,;]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
BOT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._\[\]-]{0,63}$")
CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,-]+$")
SUPPORTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13")


def check_subdomain(value: str) -> str | None:
    """Return a problem description, or None when the subdomain is a DNS label."""
    if DNS_LABEL.fullmatch(value):
        return None
    return "must be a DNS label: lowercase letters, digits and '-', e.g. 'acme'"


def check_repo_name(value: str) -> str | None:
    if REPO_NAME.match(value) and value not in {".", ".."} and not value.endswith(".git"):
        return None
    return "must be lowercase letters, digits, '.', '_' or '-', e.g. 'acme-flows'"


def split_environments(value: str) -> list[str]:
    """Split the comma-separated answer, ignoring spaces around names."""
    return [name.strip() for name in value.split(",")]


def environment_folder_problem(name: str) -> str | None:
    """Say why ``name`` cannot be an environment folder, or return None when it can."""
    if not ENVIRONMENT_NAME.fullmatch(name):
        return (
            "must start with a lowercase letter and hold only lowercase letters, digits, "
            "'-' or '_' (at most 40 characters), e.g. 'dev'"
        )
    if name in RESERVED_NAMES:
        return "is used by the generated repository itself; pick another name"
    return None


def check_environments(value: str) -> str | None:
    names = split_environments(value)
    if not value.strip() or any(not name for name in names):
        return "must be a comma-separated list of names without empty items, e.g. 'dev,prod'"
    for name in names:
        problem = environment_folder_problem(name)
        if problem:
            return f"'{name}' {problem}"
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        return f"lists {', '.join(duplicates)} more than once; each environment once"
    return None


def check_branch(value: str) -> str | None:
    """Apply git's ref-name rules (git check-ref-format) without running git."""
    bad = (
        not value
        or value.startswith(("-", "/", "."))
        or value.endswith(("/", ".", ".lock"))
        or ".." in value
        or "//" in value
        or "@{" in value
        or "/." in value
        or value == "@"
        or any(ch in value for ch in " ~^:?*[\\\t\n\"'$`")
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in value)
    )
    return "must be a valid git branch name, e.g. 'main'" if bad else None


def check_email(value: str) -> str | None:
    return None if EMAIL.match(value) else "must be an email address, e.g. 'bot@example.com'"


def check_bot_name(value: str) -> str | None:
    if BOT_NAME.match(value):
        return None
    return (
        "must be letters, digits, spaces, '.', '_', '-', '[' or ']' (at most 64), "
        "e.g. 'ganymede-sync-bot'"
    )


def check_python_version(value: str) -> str | None:
    if value in SUPPORTED_PYTHONS:
        return None
    return f"must be one of {', '.join(SUPPORTED_PYTHONS)}"


def check_schedule(value: str) -> str | None:
    """Accept an empty answer (no schedule) or five cron fields."""
    if not value.strip():
        return None
    fields = value.split()
    if len(fields) == 5 and all(CRON_FIELD.match(field) for field in fields):
        return None
    return "must be empty or five cron fields, e.g. '0 6 * * 1-5'"


def check_promotion_chain(value: str, environments: str) -> str | None:
    """Accept an empty answer (no chain) or two or more of the environments, each once."""
    if not value.strip():
        return None
    names = split_environments(value)
    known = split_environments(environments)
    unknown = [name for name in names if name not in known]
    if unknown:
        return f"names '{unknown[0]}', which is not in environments ({', '.join(known)})"
    if len(names) < 2 or len(set(names)) != len(names):
        return "must be empty or list two or more environments, each once, e.g. 'dev,prod'"
    return None


CHECKS = {
    "ganymede_subdomain": check_subdomain,
    "repo_name": check_repo_name,
    "environments": check_environments,
    "default_branch": check_branch,
    "sync_bot_name": check_bot_name,
    "sync_bot_email": check_email,
    "python_version": check_python_version,
    "pull_schedule": check_schedule,
}


def find_problems(answers: dict[str, str]) -> list[str]:
    """Return one line per invalid answer: name, value and what is allowed."""
    problems = []
    for name, check in CHECKS.items():
        problem = check(answers[name])
        if problem:
            problems.append(f"error: {name}={answers[name]!r} {problem}")
    chain = answers["promotion_chain"]
    problem = check_promotion_chain(chain, answers["environments"])
    if problem:
        problems.append(f"error: promotion_chain={chain!r} {problem}")
    if not answers["project_name"].strip():
        problems.append("error: project_name='' must not be empty, e.g. 'Acme Flows'")
    return problems


def main() -> int:
    problems = find_problems(ANSWERS)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
