"""Settings from ``ganymede.toml``, overridden by ``GANYMEDE_*`` environment variables.

Pure: reads files and a mapping of variables, never the network, never prints.
Precedence: ``GANYMEDE_*`` variables (also read from a local, gitignored ``.env``)
> ``ganymede.toml``.
Errors name the key and the file to fix. Secrets are never read from
``ganymede.toml``: a folder's token comes from ``GANYMEDE_API_TOKEN_<FOLDER>`` (see
``token_variable``) or else from ``GANYMEDE_API_TOKEN``.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from ganymede_sync.errors import ConfigError
from ganymede_sync.rules.folder_names import folder_name_problem
from ganymede_sync.settings import release

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

CONFIG_FILE = "ganymede.toml"
DOTENV_FILE = ".env"
MANIFEST_DIR = ".ganymede"
SUBDOMAIN_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
"""A tenant subdomain is one DNS label (``acme`` of ``acme.ganymede.bio``), matched whole.

The generation hook (``hooks/pre_gen_project.py`` of the template) holds the same
pattern for the ``ganymede_subdomain`` answer, as it runs before this package exists;
the template's tests drive both with one table of cases."""
TOKEN_VARIABLE = "GANYMEDE_API_TOKEN"  # noqa: S105 - a variable name, not a value
SUBDOMAIN_VARIABLE = "GANYMEDE_SUBDOMAIN"
ENVIRONMENT_VARIABLE = "GANYMEDE_ENVIRONMENT"
API_URL_VARIABLE = "GANYMEDE_API_URL"
AUTHOR_EMAIL_VARIABLE = "GANYMEDE_AUTHOR_EMAIL"
"""The names of every ``GANYMEDE_*`` variable the tooling reads, in one place: code and
messages use these constants, so renaming a variable is one edit."""
OVERRIDE_VARIABLES = (ENVIRONMENT_VARIABLE, SUBDOMAIN_VARIABLE, API_URL_VARIABLE)
"""Variables that change where a folder's code goes; ``doctor`` names the active ones."""
MIB = 1 << 20
FILE_LIMIT_SETTING = "[archive] max_file_mb in ganymede.toml"
TOTAL_LIMIT_SETTING = "[archive] max_total_mb in ganymede.toml"
RATIO_LIMIT_SETTING = "[archive] max_ratio in ganymede.toml"
ENTRIES_LIMIT_SETTING = "[archive] max_entries in ganymede.toml"
"""Where a user raises each archive limit, named in refusals so a genuine archive can pass."""
REQUEST_DEADLINE_SETTING = "[network] request_deadline_s in ganymede.toml"
DOWNLOAD_DEADLINE_SETTING = "[network] download_deadline_s in ganymede.toml"
"""Where a user gives a slow network more time, named when a deadline cuts an exchange."""
REMOVED_SHARE_SETTING = "[sync] max_removed_share in ganymede.toml"
"""Where a user changes the share of managed files one pull may remove without --force."""
DEFAULT_REMOVED_SHARE = 0.5


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds for one downloaded archive, sized for source code (generous, never unbounded).

    Users change them in the ``[archive]`` table of ``ganymede.toml``; ``archive``
    enforces them, and names the setting of a limit from the class attributes below.
    """

    FILE_SETTING: ClassVar[str] = FILE_LIMIT_SETTING
    TOTAL_SETTING: ClassVar[str] = TOTAL_LIMIT_SETTING
    RATIO_SETTING: ClassVar[str] = RATIO_LIMIT_SETTING
    ENTRIES_SETTING: ClassVar[str] = ENTRIES_LIMIT_SETTING

    max_file_bytes: int = 64 * MIB
    max_total_bytes: int = 2048 * MIB
    max_ratio: float = 200.0
    """Largest uncompressed/compressed size ratio of an entry past ``ratio_floor_bytes``."""
    ratio_floor_bytes: int = 1 * MIB
    """Entries smaller than this are never refused for their ratio (tiny files compress well)."""
    max_entries: int = 200_000


@dataclass(frozen=True)
class NetworkLimits:
    """Overall time bounds of network exchanges, whatever the server's pace.

    A read timeout restarts with every byte, so a server that trickles bytes would
    hold a pull forever without these. Each bound covers one operation with all its
    retries and waits. Users change them in the ``[network]`` table of ``ganymede.toml``.
    """

    REQUEST_DEADLINE_SETTING: ClassVar[str] = REQUEST_DEADLINE_SETTING
    DOWNLOAD_DEADLINE_SETTING: ClassVar[str] = DOWNLOAD_DEADLINE_SETTING

    request_deadline_s: float = 300.0
    """One API call (asking for the download link, listing flows, a deploy's PUT)."""
    download_deadline_s: float = 1800.0
    """Downloading the environment's code archive."""


@dataclass(frozen=True)
class Environment:
    """One environment folder of the repository and the Ganymede environment behind it."""

    folder: str
    """Folder name in the repository, also the GitHub environment name (``dev``)."""
    name: str
    """Environment name in Ganymede (first path segment of the web app URL)."""
    path: Path
    """Absolute path of the folder."""
    manifest_path: Path
    """Where the manifest of the last pull is kept (``.ganymede/<folder>.json``)."""
    configured_name: str = ""
    """The name ``ganymede.toml`` gives, before any ``GANYMEDE_ENVIRONMENT`` override."""
    smoke: tuple[SmokeRun, ...] = ()
    """Flows to run after each deploy of this folder (``deploy --smoke``)."""
    protected: bool = False
    """A production folder (``protected``; default: a folder named prod or production):
    a deploy waits for the runs of the flows it changes, and ``github-setup`` asks for
    reviewers on its GitHub environment."""
    wait_for_runs_s: float = 0.0
    """How long a deploy waits for queued or running runs of the flows it changes to end
    before refusing (``wait_for_runs``; default 600 s for protected folders, 0 others)."""


@dataclass(frozen=True)
class SmokeRun:
    """One flow to run after a deploy, with its inputs (``TASK.PARAM=VALUE``, ``@path``
    relative to the repository root for a file)."""

    flow: str
    inputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    """Everything the tooling needs, resolved once."""

    root: Path
    subdomain: str
    api_url: str
    environments: dict[str, Environment]
    branch_prefix: str
    bot_name: str
    bot_email: str
    default_branch: str
    token: str | None = field(default=None, repr=False)
    """The shared token (``GANYMEDE_API_TOKEN``), used by folders without a token of their own."""
    token_trimmed: bool = False
    """The token had spaces or line breaks around it (a pasted line), now removed."""
    folder_tokens: dict[str, str] = field(default_factory=dict, repr=False)
    """Folder -> token from ``GANYMEDE_API_TOKEN_<FOLDER>``: one shell, several environments."""
    configured_subdomain: str = ""
    """The tenant ``ganymede.toml`` names, before any ``GANYMEDE_SUBDOMAIN`` override."""
    overrides: dict[str, str] = field(default_factory=dict)
    """Active ``OVERRIDE_VARIABLES`` and their values (a URL is not a secret)."""
    author_email: str | None = None
    archive_limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    """Bounds on a downloaded archive, from the optional ``[archive]`` table."""
    promotion_chain: tuple[str, ...] = ()
    """Folders in promotion order (``[promotion] chain``); empty: any promotion is allowed."""
    network: NetworkLimits = field(default_factory=NetworkLimits)
    """Time bounds of network exchanges, from the optional ``[network]`` table."""
    max_removed_share: float = DEFAULT_REMOVED_SHARE
    """Share of an environment's managed files one pull may remove without ``--force``."""
    not_emulated: tuple[str, ...] = ()
    """Nodes (``folder/flow/node``) or whole flows (``folder/flow``) that the local test
    kit cannot run (``[testing] not_emulated``): their tests are skipped, saying so."""

    def is_emulated(self, folder: str, flow: str, node: str) -> bool:
        """Tell whether the test kit runs this node, or ``[testing] not_emulated`` skips it."""
        return f"{folder}/{flow}" not in self.not_emulated and (
            f"{folder}/{flow}/{node}" not in self.not_emulated
        )

    def environment(self, folder: str | None) -> Environment:
        """Return the environment for ``folder``, or explain which folders exist."""
        known = ", ".join(self.environments)
        if not folder:
            raise ConfigError(f"choose an environment with --env (one of: {known})")
        try:
            environment = self.environments[folder]
        except KeyError:
            raise ConfigError(
                f"unknown environment '{folder}': {CONFIG_FILE} lists {known}"
            ) from None
        if environment.path.exists() and not environment.path.is_dir():
            raise ConfigError(
                f"{environment.folder} in {self.root} is a file, not the folder of environment "
                f"'{environment.folder}': move the file away (or rename the environment in "
                f"{CONFIG_FILE})"
            )
        return environment

    def token_for(self, environment: Environment) -> str | None:
        """Return the folder's own token, else the shared one, else None."""
        return self.folder_tokens.get(environment.folder) or self.token

    def require_token(self, environment: Environment) -> str:
        """Return the API token of ``environment``, or say where to put it (never what it is)."""
        token = self.token_for(environment)
        if not token:
            variable = token_variable(environment.folder)
            raise ConfigError(
                f"no API token for environment '{environment.folder}'",
                hint=f"set {variable} (or {TOKEN_VARIABLE}) in {DOTENV_FILE} or the "
                f"environment to the token of Ganymede environment '{environment.name}'",
                setting=variable,
            )
        problem = token_problem(token)
        if problem:
            raise ConfigError(problem)
        return token

    def target(self, environment: Environment) -> str:
        """Name where ``environment``'s code goes, as every line shows it: ``acme/prod``."""
        return f"{self.subdomain}/{environment.name}"


def token_variable(folder: str) -> str:
    """Return the variable holding ``folder``'s own token: ``GANYMEDE_API_TOKEN_<FOLDER>``.

    The folder name is upper-cased and every character that a shell variable cannot
    hold (``-``, ``.``, ...) becomes ``_``: ``prod-eu.v2`` reads ``GANYMEDE_API_TOKEN_PROD_EU_V2``.
    """
    return f"{TOKEN_VARIABLE}_{re.sub(r'[^A-Za-z0-9]', '_', folder).upper()}"


def token_problem(token: str) -> str | None:
    """Say what makes ``token`` unusable in an HTTP header, without showing it; None if fine.

    API tokens are printable ASCII without spaces; anything else is a copy-and-paste
    accident that would otherwise surface as a network error after every retry.
    """
    for position, character in enumerate(token, 1):
        if "!" <= character <= "~":
            continue
        if character == " ":
            kind = "a space"
        else:
            kind = "a control character" if character.isascii() else "a non-ASCII character"
        return (
            f"{TOKEN_VARIABLE} holds {kind} at position {position} of {len(token)}: "
            "copy the token again from Ganymede, without anything around it"
        )
    return None


def is_subdomain(value: str) -> bool:
    """Tell whether ``value`` can name a Ganymede tenant (``SUBDOMAIN_LABEL``)."""
    return SUBDOMAIN_LABEL.fullmatch(value) is not None


def is_ci(environ: Mapping[str, str]) -> bool:
    """Tell whether this runs in CI (``CI`` or ``GITHUB_ACTIONS`` set, as runners do)."""
    return any(
        environ.get(name, "").lower() not in ("", "0", "false") for name in ("CI", "GITHUB_ACTIONS")
    )


def find_root(start: Path | None = None) -> Path:
    """Return the nearest folder at or above ``start`` that holds ``ganymede.toml``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise ConfigError(
        f"no {CONFIG_FILE} in {here} or above: run this from your Ganymede repository"
    )


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse ``KEY=value`` lines (optional ``export``, quotes, ``#`` comments)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{path.name} line {number}: expected KEY=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


SCHEMA: Mapping[str, frozenset[str]] = {
    "": frozenset(
        {
            "minimum_tooling_version",
            "ganymede",
            "environments",
            "sync",
            "promotion",
            "archive",
            "network",
            "testing",
        }
    ),
    "ganymede": frozenset({"subdomain", "api_url"}),
    "environments.*": frozenset({"ganymede_environment", "smoke", "protected", "wait_for_runs"}),
    "sync": frozenset(
        {"branch_prefix", "bot_name", "bot_email", "default_branch", "max_removed_share"}
    ),
    "promotion": frozenset({"chain"}),
    "archive": frozenset({"max_file_mb", "max_total_mb", "max_ratio", "max_entries"}),
    "network": frozenset({"request_deadline_s", "download_deadline_s"}),
    "testing": frozenset({"not_emulated"}),
}
"""Every key ganymede.toml may hold, by table ("" is the top level, ``environments.*`` each
folder's table). Anything else is refused before a value is read: a misspelt limit or
table must never load silently as its default."""


def refuse_unknown_keys(data: Mapping[str, object]) -> None:
    """Refuse a key or table that ``SCHEMA`` does not know, naming the closest known one."""
    _refuse_unknown("", data)
    for table in SCHEMA[""]:
        value = data.get(table)
        if not isinstance(value, dict):
            continue
        if table == "environments":
            for folder, entry in value.items():
                if isinstance(entry, dict):
                    _refuse_unknown("environments.*", entry, shown=f"environments.{folder}")
        elif table in SCHEMA:
            _refuse_unknown(table, value)


def _refuse_unknown(table: str, data: Mapping[str, object], shown: str = "") -> None:
    known = SCHEMA[table]
    unknown = sorted(key for key in data if key not in known)
    if not unknown:
        return
    key = unknown[0]
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    is_table = not table and isinstance(data[key], dict)
    what = f"table [{key}]" if is_table else f"key '{key}'"
    where = f"[{shown or table}] of {CONFIG_FILE}" if table else CONFIG_FILE
    if close:
        suggestion = f"[{close[0]}]" if is_table else close[0]
        advice = f"did you mean {suggestion}?"
    else:
        advice = f"use {', '.join(sorted(known))}"
    raise ConfigError(f"unknown {what} in {where}: {advice}")


def load_settings(root: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``ganymede.toml`` under ``root`` and apply the variable overrides."""
    root = find_root(root)
    variables = {**read_dotenv(root / DOTENV_FILE), **(os.environ if environ is None else environ)}
    data = _read_toml(root / CONFIG_FILE)
    refuse_unknown_keys(data)
    release.require_minimum(data.get(release.MINIMUM_KEY))
    ganymede = _table(data, "ganymede")
    sync = _table(data, "sync")
    subdomain = variables.get(SUBDOMAIN_VARIABLE) or _string(ganymede, "ganymede.subdomain")
    if not is_subdomain(subdomain):
        shown = f"'{subdomain}'" if subdomain.isprintable() else ascii(subdomain)
        raise ConfigError(
            f"subdomain {shown} is not a DNS label: fix {SUBDOMAIN_VARIABLE} or "
            f"[ganymede] subdomain in {CONFIG_FILE}"
        )
    url = variables.get(API_URL_VARIABLE) or ganymede.get("api_url")
    environments = _environments(root, data, variables.get(ENVIRONMENT_VARIABLE))
    token = variables.get(TOKEN_VARIABLE) or ""
    return Settings(
        root=root,
        subdomain=subdomain,
        api_url=_normalise_url(url or f"https://{subdomain}.ganymede.bio"),
        environments=environments,
        branch_prefix=_line(sync, "branch_prefix", "ganymede-sync/"),
        bot_name=_line(sync, "bot_name", "ganymede-sync-bot"),
        bot_email=_line(sync, "bot_email", "ganymede-sync-bot@users.noreply.github.com"),
        default_branch=_line(sync, "default_branch", "main"),
        token=token.strip() or None,
        token_trimmed=token != token.strip(),
        folder_tokens=_folder_tokens(environments, variables),
        configured_subdomain=_string(ganymede, "ganymede.subdomain"),
        overrides={name: variables[name] for name in OVERRIDE_VARIABLES if variables.get(name)},
        author_email=variables.get(AUTHOR_EMAIL_VARIABLE) or None,
        archive_limits=_archive_limits(_table(data, "archive")),
        promotion_chain=_promotion_chain(_table(data, "promotion"), environments),
        network=_network_limits(_table(data, "network")),
        max_removed_share=_share(sync, "max_removed_share", DEFAULT_REMOVED_SHARE),
        not_emulated=_not_emulated(_table(data, "testing"), environments),
    )


def _folder_tokens(
    environments: Mapping[str, Environment], variables: Mapping[str, str]
) -> dict[str, str]:
    """Read each folder's own token; two folders that share one variable name are an error."""
    owners: dict[str, str] = {}
    for folder in environments:
        name = token_variable(folder)
        if name in owners:
            raise ConfigError(
                f"folders '{owners[name]}' and '{folder}' would both read their token from "
                f"{name}: rename one folder in {CONFIG_FILE}"
            )
        owners[name] = folder
    # Spaces and line breaks around a pasted token are removed, as for the shared one.
    tokens = {folder: variables.get(name, "").strip() for name, folder in owners.items()}
    return {folder: token for folder, token in tokens.items() if token}


def _line(table: Mapping[str, object], key: str, default: str) -> str:
    """Read a ``[sync]`` text: one line, not empty (the pull workflow reads it as an output)."""
    value = table.get(key, default)
    if not isinstance(value, str) or not value.strip() or not value.isprintable():
        raise ConfigError(
            f"'sync.{key}' in {CONFIG_FILE} must be a non-empty one-line string",
            setting=f"sync.{key}",
        )
    return value.strip()


def _share(table: Mapping[str, object], key: str, default: float) -> float:
    """Read a share between 0 (exclusive) and 1 (inclusive), such as 0.5."""
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ConfigError(
            f"'sync.{key}' in {CONFIG_FILE} must be a number above 0, at most 1",
            setting=f"sync.{key}",
        )
    return float(value)


def _archive_limits(table: Mapping[str, object]) -> ArchiveLimits:
    """Read ``[archive]``: sizes in MiB, a ratio and an entry count, each optional.

    A misspelt key is refused before this runs (``SCHEMA``): a user raising a limit for
    a genuine archive must see the new limit take effect.
    """
    defaults = ArchiveLimits()
    known = {
        "max_file_mb": defaults.max_file_bytes / MIB,
        "max_total_mb": defaults.max_total_bytes / MIB,
        "max_ratio": defaults.max_ratio,
        "max_entries": defaults.max_entries,
    }
    value = {key: _positive(table, key, default) for key, default in known.items()}
    return ArchiveLimits(
        max_file_bytes=int(value["max_file_mb"] * MIB),
        max_total_bytes=int(value["max_total_mb"] * MIB),
        max_ratio=float(value["max_ratio"]),
        max_entries=int(value["max_entries"]),
    )


def _network_limits(table: Mapping[str, object]) -> NetworkLimits:
    """Read ``[network]``: deadlines in seconds, each optional (keys checked by ``SCHEMA``)."""
    defaults = NetworkLimits()
    known = {
        "request_deadline_s": defaults.request_deadline_s,
        "download_deadline_s": defaults.download_deadline_s,
    }
    return NetworkLimits(
        **{key: float(_positive(table, key, default, "network")) for key, default in known.items()}
    )


def _positive(
    table: Mapping[str, object],
    key: str,
    default: float,
    section: str = "archive",
    *,
    allow_zero: bool = False,
) -> float:
    value = table.get(key, default)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and value < math.inf and (value > 0 or (allow_zero and value == 0)):  # type: ignore[operator]
        return value  # type: ignore[return-value]
    kind = "a number of 0 or more" if allow_zero else "a positive number"
    raise ConfigError(
        f"'{section}.{key}' in {CONFIG_FILE} must be {kind}", setting=f"{section}.{key}"
    )


def _not_emulated(
    table: Mapping[str, object], environments: Mapping[str, Environment]
) -> tuple[str, ...]:
    """Read ``[testing] not_emulated``: ``folder/flow/node`` or ``folder/flow`` entries."""
    entries = table.get("not_emulated", [])
    setting = f"[testing] not_emulated in {CONFIG_FILE}"
    example = '["dev/Tags/Add_File_Tag"]'
    if not isinstance(entries, list) or not all(isinstance(item, str) for item in entries):
        raise ConfigError(f"{setting} must be a list of nodes, e.g. {example}")
    for entry in entries:
        parts = entry.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ConfigError(
                f"{setting}: '{entry}' is not folder/flow/node or folder/flow, e.g. {example}"
            )
        if parts[0] not in environments:
            known = ", ".join(environments)
            raise ConfigError(f"{setting}: '{entry}' names no folder of {CONFIG_FILE} ({known})")
    return tuple(entries)


def _promotion_chain(
    table: Mapping[str, object], environments: Mapping[str, Environment]
) -> tuple[str, ...]:
    """Read ``[promotion] chain``: two or more distinct environment folders, in order."""
    chain = table.get("chain", [])
    setting = f"[promotion] chain in {CONFIG_FILE}"
    if not isinstance(chain, list) or not all(isinstance(item, str) for item in chain):
        raise ConfigError(f'{setting} must be a list of environment folders, e.g. ["dev", "prod"]')
    unknown = [folder for folder in chain if folder not in environments]
    if unknown:
        known = ", ".join(environments)
        raise ConfigError(f"{setting} names '{unknown[0]}', which is not a folder ({known})")
    if len(set(chain)) != len(chain) or len(chain) == 1:
        raise ConfigError(f"{setting} must name two or more folders, each once (or be empty)")
    return tuple(chain)


def _environments(
    root: Path, data: Mapping[str, object], name_override: str | None
) -> dict[str, Environment]:
    """Build the folder -> Environment map.

    ``GANYMEDE_ENVIRONMENT`` overrides the Ganymede name of every folder: in CI it
    is set per GitHub environment, and a run only ever works on one folder. A folder
    stays bound to its recorded environment (``binding``): an override that points
    it elsewhere is refused unless the task is asked to retarget.
    """
    table = _table(data, "environments")
    if not table:
        raise ConfigError(f"{CONFIG_FILE} has no [environments.<folder>] table")
    environments = {}
    for folder, entry in table.items():
        problem = folder_name_problem(folder)
        if problem:
            shown = ascii(folder) if not folder.isprintable() else f"'{folder}'"
            raise ConfigError(
                f"environment folder {shown} in {CONFIG_FILE} {problem} (one folder of this "
                "repository, never a path)"
            )
        if not isinstance(entry, dict):
            raise ConfigError(f"[environments.{folder}] in {CONFIG_FILE} must be a table")
        configured = _string(entry, f"environments.{folder}.ganymede_environment")
        environments[folder] = Environment(
            folder=folder,
            name=name_override or configured,
            path=root / folder,
            manifest_path=root / MANIFEST_DIR / f"{folder}.json",
            configured_name=configured,
            smoke=_smoke_runs(entry.get("smoke", []), f"environments.{folder}.smoke"),
            protected=(protected := _flag(entry, "protected", folder in PROTECTED_NAMES, folder)),
            wait_for_runs_s=_positive(
                entry, "wait_for_runs", PROTECTED_WAIT_S if protected else 0.0,
                f"environments.{folder}", allow_zero=True,
            ),
        )  # fmt: skip
    return environments


PROTECTED_NAMES = frozenset({"prod", "production"})
PROTECTED_WAIT_S = 600.0


def _flag(entry: Mapping[str, object], key: str, default: bool, folder: str) -> bool:
    value = entry.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(
            f"environments.{folder}.{key} in {CONFIG_FILE} must be true or false, not {value!r}"
        )
    return value


def _smoke_runs(value: object, key: str) -> tuple[SmokeRun, ...]:
    """Read ``smoke = [{flow = "...", inputs = ["TASK.PARAM=VALUE", ...]}, ...]``."""
    shape = (
        f'{key} in {CONFIG_FILE} must be a list of {{flow = "<flow>", inputs = '
        '["TASK.PARAM=VALUE", ...]}'
    )
    if not isinstance(value, list):
        raise ConfigError(shape)
    runs = []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"flow", "inputs"}:
            raise ConfigError(shape)
        flow, inputs = item.get("flow"), item.get("inputs", [])
        if not isinstance(flow, str) or not flow:
            raise ConfigError(shape)
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            raise ConfigError(shape)
        runs.append(SmokeRun(flow, tuple(inputs)))
    return tuple(runs)


def _read_toml(path: Path) -> dict[str, object]:
    if not path.exists():
        raise ConfigError(f"{path.name} is missing in {path.parent}")
    try:
        return tomllib.loads(_read_text(path))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path.name} is not valid TOML: {error}") from None


def _read_text(path: Path) -> str:
    """Read a settings file as UTF-8, or say in one line why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path.name} is not UTF-8 text (byte {error.start}): save it as UTF-8"
        ) from None
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None


def _table(data: Mapping[str, object], key: str) -> dict[str, object]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"'{key}' in {CONFIG_FILE} must be a table ([{key}])")
    return value


def _string(table: Mapping[str, object], dotted_key: str) -> str:
    value = table.get(dotted_key.rsplit(".", 1)[-1])
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"'{dotted_key}' in {CONFIG_FILE} must be a non-empty string")
    return value.strip()


def _normalise_url(url: object) -> str:
    """Return the API URL without a trailing slash, or say in one line what is wrong with it."""
    fix = f"fix {API_URL_VARIABLE} or [ganymede] api_url"
    if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError(
            f"API URL '{url}' must start with https:// (or http:// for a local emulator): {fix}"
        )
    if not url.isascii() or any(not ch.isprintable() or ch.isspace() for ch in url):
        raise ConfigError(f"API URL {url!r} holds characters a URL cannot: {fix}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port out of range or not a number
    except ValueError as error:
        raise ConfigError(f"API URL '{url}' is malformed ({error}): {fix}") from None
    if not parts.hostname:
        raise ConfigError(f"API URL '{url}' names no host: {fix}")
    return url.rstrip("/")
