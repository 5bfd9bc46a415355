"""A stand-in for the GitHub CLI, installed as ``gh`` on PATH by the tests.

It answers the few calls the set-up and the doctor make, like the real ``gh``
does, keeps GitHub's state in the JSON file named by ``FAKE_GH_STATE`` (secret
values only as SHA-256, as GitHub never shows them either), and appends every
call (arguments and standard input) as one JSON line to ``FAKE_GH_LOG``.
Unknown calls exit 2, so a test notices a call it did not expect.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

VALUE_FLAGS = {
    "--repo": "repo",
    "-R": "repo",
    "--env": "env",
    "-e": "env",
    "--json": "json",
    "--body": "body",
    "-b": "body",
    "-X": "method",
    "--method": "method",
    "--input": "input",
}
FIELD_FLAGS = ("-f", "-F", "--raw-field", "--field")


class GhFailure(Exception):
    """A failure the real gh would report on stderr with exit code 1."""


def parse(argv: list[str]) -> tuple[list[str], dict[str, str], dict[str, object]]:
    """Split arguments into positionals, value flags and ``-f``/``-F`` fields."""
    positional: list[str] = []
    flags: dict[str, str] = {}
    fields: dict[str, object] = {}
    words = iter(argv)
    for word in words:
        if word in VALUE_FLAGS:
            flags[VALUE_FLAGS[word]] = next(words)
        elif word in FIELD_FLAGS:
            key, _, value = next(words).partition("=")
            typed = word in ("-F", "--field") and value in ("true", "false")
            fields[key] = (value == "true") if typed else value
        elif word.startswith("-"):
            raise SystemExit(f"fake gh: unsupported flag {word}")
        else:
            positional.append(word)
    return positional, flags, fields


def check_repo(state: dict, flags: dict[str, str]) -> str:
    repo = flags.get("repo") or state.get("repo")
    if not repo or repo != state.get("repo"):
        raise GhFailure("HTTP 404: Not Found")
    return repo


def environment(state: dict, name: str) -> dict:
    try:
        return state["environments"][name]
    except KeyError:
        raise GhFailure(f"HTTP 404: Not Found (environment {name})") from None


def scope(state: dict, flags: dict[str, str]) -> dict:
    check_repo(state, flags)
    return environment(state, flags["env"]) if "env" in flags else state


def listing(items: dict, fields: str) -> str:
    rows = []
    for name, value in sorted(items.items()):
        row = {"name": name, "value": value, "updatedAt": "2026-01-01T00:00:00Z"}
        rows.append({key: row[key] for key in fields.split(",")})
    return json.dumps(rows)


def gh_api(
    state: dict, path: str, flags: dict[str, str], fields: dict[str, object], stdin: str | None
) -> str:
    method = flags.get("method", "POST" if fields else "GET")
    route = path.split("?", 1)[0]
    repo = state.get("repo")
    if route.startswith(f"repos/{repo}/rules/branches/"):
        checks = state.get("ruleset_checks")
        if checks is None:
            return "[]"
        parameters = {"required_status_checks": [{"context": check} for check in checks]}
        return json.dumps([{"type": "required_status_checks", "parameters": parameters}])
    if route.startswith(f"repos/{repo}/branches/") and route.endswith("/required_status_checks"):
        if state.get("classic_checks") is None:
            raise GhFailure("HTTP 404: Branch not protected")
        return json.dumps({"contexts": state["classic_checks"]})
    if route == "user":
        return json.dumps({"login": "fake-user", "id": 1001})
    if route.startswith("users/"):
        return json.dumps({"login": route.removeprefix("users/"), "id": 2000 + len(route)})
    if route == f"repos/{repo}/environments" and method == "GET":
        listed = [
            {
                "name": name,
                "deployment_branch_policy": environment(state, name).get("policy"),
                "protection_rules": [
                    {
                        "type": "required_reviewers",
                        "reviewers": environment(state, name)["reviewers"],
                    }
                ]
                if environment(state, name).get("reviewers")
                else [],
            }
            for name in sorted(state["environments"])
        ]
        return json.dumps({"total_count": len(listed), "environments": listed})
    prefix = f"repos/{repo}/environments/"
    name, _, rest = route.removeprefix(prefix).partition("/")
    if route.startswith(prefix) and not rest and method == "PUT" and flags.get("input") == "-":
        body = json.loads(stdin or "{}")
        if body.get("reviewers") and state.get("refuse_reviewers"):
            raise GhFailure(state["refuse_reviewers"])
        record = state["environments"].setdefault(name, {"variables": {}, "secrets": {}})
        if "deployment_branch_policy" in body:
            record["policy"] = body["deployment_branch_policy"]
            record.setdefault("branches", [])
        record["reviewers"] = [
            {"type": r["type"], "reviewer": {"id": r["id"]}} for r in body.get("reviewers", [])
        ]
        return json.dumps({"name": name})
    if route.startswith(prefix) and not rest and method == "PUT":
        record = state["environments"].setdefault(name, {"variables": {}, "secrets": {}})
        policy = {
            key: fields.pop(f"deployment_branch_policy[{key}]")
            for key in ("protected_branches", "custom_branch_policies")
            if f"deployment_branch_policy[{key}]" in fields
        }
        if policy:
            record["policy"] = policy
            record.setdefault("branches", [])
        return json.dumps({"name": name})
    if route.startswith(prefix) and rest == "deployment-branch-policies":
        record = environment(state, name)
        if not (record.get("policy") or {}).get("custom_branch_policies"):
            raise GhFailure("HTTP 404: Not Found (no custom branch policy)")
        if method == "POST":
            record["branches"].append({"name": fields["name"], "type": fields["type"]})
            return json.dumps(record["branches"][-1])
        return json.dumps(
            {"total_count": len(record["branches"]), "branch_policies": record["branches"]}
        )
    if route.startswith(f"repos/{repo}/issues/"):
        return comments_api(state, route.removeprefix(f"repos/{repo}/issues/"), path, method, flags)
    if route == f"repos/{repo}/actions/permissions/workflow":
        if method == "PUT":
            if state.get("refuse_permissions"):
                raise GhFailure(state["refuse_permissions"])
            state["workflow_permissions"].update(fields)
            return ""
        return json.dumps(state["workflow_permissions"])
    raise GhFailure("HTTP 404: Not Found")


def comments_api(state: dict, route: str, path: str, method: str, flags: dict[str, str]) -> str:
    """Issue comments: list (paged), create, update; bodies come as --input JSON files."""
    comments = state.setdefault("comments", [])
    if state.get("refuse_comments"):
        raise GhFailure(state["refuse_comments"])
    number, _, rest = route.partition("/")
    if number == "comments" and method == "PATCH":
        found = next(c for c in comments if str(c["id"]) == rest)
        found["body"] = json.loads(Path(flags["input"]).read_text(encoding="utf-8"))["body"]
        return json.dumps(found)
    if rest == "comments" and method == "POST":
        body = json.loads(Path(flags["input"]).read_text(encoding="utf-8"))["body"]
        comments.append({"id": 1000 + len(comments), "issue": int(number), "body": body})
        return json.dumps(comments[-1])
    if rest == "comments" and method == "GET":
        query = dict(part.split("=") for part in path.partition("?")[2].split("&") if part)
        size, page = int(query.get("per_page", 30)), int(query.get("page", 1))
        mine = [c for c in comments if c["issue"] == int(number)]
        return json.dumps(mine[(page - 1) * size : page * size])
    raise GhFailure("HTTP 404: Not Found")


def run(argv: list[str], state: dict, stdin: str | None) -> str:
    positional, flags, fields = parse(argv)
    command = " ".join(positional[:2])
    if command == "auth status":
        if not state.get("authenticated"):
            raise GhFailure(
                "You are not logged into any GitHub hosts. To log in, run: gh auth login"
            )
        return "github.com\n  Logged in to github.com account fake-user (keyring)\n"
    if not state.get("authenticated"):
        raise GhFailure("To get started with GitHub CLI, please run:  gh auth login")
    if command == "repo view":
        if not state.get("remote", True):
            raise GhFailure(
                "none of the git remotes configured for this repository point to GitHub"
            )
        return json.dumps({"nameWithOwner": check_repo(state, flags)})
    if command == "variable list":
        return listing(scope(state, flags)["variables"], flags["json"])
    if command == "variable set":
        scope(state, flags)["variables"][positional[2]] = flags["body"]
        return ""
    if command == "secret list" and "env" not in flags:
        check_repo(state, flags)
        return listing(dict.fromkeys(state.get("repository_secrets", []), ""), flags["json"])
    if command == "secret list":
        hashes = scope(state, flags)["secrets"]
        return listing(dict.fromkeys(hashes, ""), flags["json"])
    if command == "secret set":
        value = flags["body"] if "body" in flags else (stdin or "").rstrip("\r\n")
        digest = hashlib.sha256(value.encode()).hexdigest()
        scope(state, flags)["secrets"][positional[2]] = digest
        return ""
    if positional[:1] == ["api"]:
        return gh_api(state, positional[1], flags, fields, stdin)
    raise SystemExit(f"fake gh: unsupported call {argv}")


def main() -> int:
    state_path = Path(os.environ["FAKE_GH_STATE"])
    stdin = None if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    with open(os.environ["FAKE_GH_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"argv": sys.argv[1:], "stdin": stdin}) + "\n")
    state = json.loads(state_path.read_text(encoding="utf-8"))
    try:
        output = run(sys.argv[1:], state, stdin)
    except GhFailure as failure:
        print(failure, file=sys.stderr)
        return 1
    state_path.write_text(json.dumps(state, indent=2), encoding="utf-8")
    sys.stdout.write(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
