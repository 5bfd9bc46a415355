"""Finish the generated repository: environment folders and next steps.

Deterministic and idempotent, because cruft runs it again on every template
update: no network, no git, no timestamps, no random values, and nothing that
already exists is overwritten.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ANSWERS = json.loads(
    r"""{
  "environments": {{ cookiecutter.environments | tojson }},
  "ganymede_subdomain": {{ cookiecutter.ganymede_subdomain | tojson }},
  "repo_name": {{ cookiecutter.repo_name | tojson }}
}"""
)

ENVIRONMENT_README = """\
# `{name}/`: flow code of the Ganymede environment `{name}`

`invoke pull --env {name}` fills this folder from Ganymede, and
`invoke deploy --env {name}` sends your changes back.

- `<flow>/<node>/function.py` and `<flow>/<node>/query.sql`: node code, one folder
  per flow and node, as Ganymede names them. New nodes are created in Ganymede's
  Flow Editor, then pulled.
- `lib/`: shared modules importable by every node of the environment.

Pulls manage only those files. Anything else here (this README, your notes) is
yours: pulls never touch it and deploys never send it.
"""


def environment_names() -> list[str]:
    return [name.strip() for name in ANSWERS["environments"].split(",")]


def create_environment_folder(root: Path, name: str) -> None:
    """Create ``<name>/`` with its README, keeping any README already there."""
    folder = root / name
    folder.mkdir(exist_ok=True)
    readme = folder / "README.md"
    if not readme.exists():
        readme.write_text(ENVIRONMENT_README.format(name=name), encoding="utf-8")


def token_variable(folder: str) -> str:
    """The variable of a folder's own token, as the tooling reads it (docs/targets.md)."""
    return "GANYMEDE_API_TOKEN_" + re.sub(r"[^A-Za-z0-9]", "_", folder).upper()


def print_next_steps(names: list[str]) -> None:
    """Print the README's "First-time set-up" steps, in its order (a test keeps them equal)."""
    first = names[0]
    print(
        f"""
note: generated {ANSWERS["repo_name"]}/ for https://{ANSWERS["ganymede_subdomain"]}.ganymede.bio
note: environments: {", ".join(names)}

Next steps (README.md, "First-time set-up"):
  cd {ANSWERS["repo_name"]}
  python3 -m venv .venv && . .venv/bin/activate
  pip install --require-hashes -r .ganymede-sync/requirements.txt \\
      -r requirements-dev.txt -r requirements-flows.txt
  invoke init                          # git repository with a first commit
  echo "{token_variable(first)}=..." >> .env   # the API token of environment '{first}'
  invoke pull --env {first} --commit     # first pull, committed
  invoke test                          # the flow tests pass on Ganymede's code
Then in GitHub: invoke github-setup (README.md, "In GitHub").
Try everything offline first: invoke emulator
"""
    )


def main() -> int:
    root = Path.cwd()
    names = environment_names()
    for name in names:
        create_environment_folder(root, name)
    print_next_steps(names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
