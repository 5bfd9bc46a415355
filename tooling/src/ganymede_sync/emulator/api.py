"""What each endpoint of the emulated Ganymede API answers, written from its public contract.

``Ganymede`` holds the emulated tenant (environments, registered users, the API key, the
URL signer, one pipeline repository per environment) and turns a parsed request into a
``Reply``. The archive layout (``<flow>/<node>/...`` and ``lib/**``, only ``.py`` and
``.sql``) and the PUT rules live here. It never touches sockets, never injects faults and
shares no code with the client side of this repository.

Where Ganymede's public material is silent, these are guesses, kept simple and documented
in the README: error bodies are one line of text; a flow's ``name`` is its id with spaces
for underscores; a PUT answers one line of text; an empty ``fileMap``, or one that changes
nothing, answers 200 without an (empty) commit; an empty ``flowName`` means every flow;
a flow's structure and settings follow ``flows`` (documents beside the code).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import io
import json
import logging
import re
import unicodedata
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ganymede_sync.emulator import flows as documents
from ganymede_sync.emulator.flows import FlowRequestError
from ganymede_sync.emulator.runs import FlowRuns, flow_inputs
from ganymede_sync.emulator.signing import SignatureError, Ticket, UrlSigner
from ganymede_sync.emulator.store import PipelineRepository, TreeEntry

logger = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".py", ".sql")
MAX_PAGE_SIZE = 10000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TEXT = "text/plain; charset=utf-8"
_JSON = "application/json"


@dataclass
class Reply:
    """A response to send: status, body and content type, plus extra headers."""

    status: int
    body: bytes = b""
    content_type: str = _TEXT
    headers: dict[str, str] = field(default_factory=dict)


def text(status: int, message: str) -> Reply:
    """Return a plain-text reply; Ganymede answers errors with a message body.

    A message that echoes a client's odd input (a lone surrogate) is still sent, escaped.
    """
    return Reply(status, message.encode("utf-8", "backslashreplace"))


def as_json(status: int, value: object) -> Reply:
    """Return a JSON reply."""
    return Reply(status, json.dumps(value).encode(), _JSON)


class BadRequest(Exception):
    """The request is malformed; the message says what to fix."""


@dataclass(frozen=True)
class CommitRequest:
    """A validated PUT body: API paths with decoded contents."""

    files: dict[str, bytes]
    author_email: str
    message: str
    dry_run: bool


class Ganymede:
    """The emulated tenant: its environments, users, key and pipeline repositories."""

    def __init__(
        self,
        *,
        repositories: Mapping[str, PipelineRepository],
        users: tuple[str, ...],
        api_key: str | Mapping[str, str],
        signer: UrlSigner,
        url_ttl: float,
        quote_signed_url: bool = False,
        operators: Mapping[str, frozenset[str]] | None = None,
        tables: Mapping[str, Mapping[str, bytes]] | None = None,
    ) -> None:
        self.repositories = dict(repositories)
        self.operators = {
            name: (operators or {}).get(name, documents.STANDARD_OPERATORS)
            for name in self.repositories
        }
        """Operators (node types) each environment knows; a pipeline naming another is 422."""
        self.users = {user.lower() for user in users}
        self._keys = (
            {name: api_key for name in self.repositories}
            if isinstance(api_key, str)
            else dict(api_key)
        )
        if set(self._keys) != set(self.repositories):
            raise ValueError("give one api key, or one for each environment")
        if not all(self._keys.values()):
            raise ValueError("an api key must not be empty: it would open every request")
        self._flows = FlowDocuments()
        self.runs = FlowRuns(tables)
        """Flow runs, and the tables (environment -> name -> CSV) their flows read."""
        self._signer = signer
        self._url_ttl = url_ttl
        self._quote = quote_signed_url

    def is_authorised(self, headers: Mapping[str, str], environment: str) -> bool:
        """Tell whether the ``api-key`` header holds the key of ``environment``.

        A key belongs to one environment, as in Ganymede. For an unknown environment any
        known key is accepted, so the answer can be 404 rather than 401.
        """
        sent = headers.get("api-key", "").encode()
        keys = [self._keys[environment]] if environment in self._keys else self._keys.values()
        return any(hmac.compare_digest(sent, key.encode()) for key in keys)

    def is_tenant_key(self, headers: Mapping[str, str]) -> bool:
        """Tell whether the ``api-key`` header holds the key of any environment.

        The emulator's admin endpoints ask for it: whoever may call the API may inject
        faults and read the request journal, nobody else on the machine.
        """
        sent = headers.get("api-key", "").encode()
        return any(hmac.compare_digest(sent, key.encode()) for key in self._keys.values())

    def carries_key(self, headers: Mapping[str, str]) -> bool:
        """Tell whether the request sent an ``api-key`` header, or the key in another header.

        The key counts as sent when it is a whole word of a header value (``Bearer KEY``),
        so a short test key never matches inside ``keep-alive``.
        """
        if "api-key" in headers:
            return True
        words = {word for value in headers.values() for word in value.replace(",", " ").split()}
        return any(key in words for key in self._keys.values())

    def repository(self, environment: str) -> PipelineRepository | None:
        """Return the environment's repository, or None for an unknown environment."""
        return self.repositories.get(environment)

    # --- GET /v0/environment/{env}/commits --------------------------------------------------
    def signed_url(
        self,
        environment: str,
        query: Mapping[str, str],
        *,
        base_url: str,
        now: float,
        expired: Callable[[], bool] = lambda: False,
    ) -> Reply:
        """Answer the signed download URL of the environment's current code.

        ``expired`` is asked only when a URL is issued: it tells whether to issue it already
        expired (a fault), so a refused request never uses up that fault.
        """
        repository = self.repository(environment)
        if repository is None:
            return _unknown_environment(environment)
        include_lib = _boolean(query.get("includeLibFiles"), "includeLibFiles", default=True)
        flow = query.get("flowName") or None
        commit = repository.head() or ""
        if flow is not None and flow not in self._flows.index(repository).flows:
            return _unknown_flow(flow, environment)
        expires = int(now) - 60 if expired() else int(now + self._url_ttl)
        path = self._signer.sign(Ticket(environment, commit, flow, include_lib), expires=expires)
        url = base_url + path
        if self._quote:
            return as_json(200, url)
        return text(200, url)

    # --- GET /_download/{token} --------------------------------------------------------------
    def download(self, token: str, query: Mapping[str, str], *, now: float) -> Reply:
        """Serve the ZIP a signed URL names, or 403 when it is expired or tampered with."""
        try:
            ticket = self._signer.verify(
                token, query.get("expires", ""), query.get("signature", ""), now=now
            )
        except SignatureError as error:
            return text(403, f"Access denied: {error}")
        repository = self.repository(ticket.environment)
        if repository is None or (ticket.commit and not repository.has_commit(ticket.commit)):
            return text(404, "The archive of this link no longer exists")
        data = build_archive(repository, ticket.commit or None, ticket.flow, ticket.include_lib)
        disposition = _attachment(f"{ticket.flow or ticket.environment}.zip")
        return Reply(200, data, "application/zip", {"Content-Disposition": disposition})

    # --- GET /v2/environment/{env}/flows -----------------------------------------------------
    def list_flows(self, environment: str, query: Mapping[str, str]) -> Reply:
        """Answer one page of the environment's flows, ordered by id."""
        repository = self.repository(environment)
        if repository is None:
            return _unknown_environment(environment)
        page = _page_number(query.get("pageNumber"), "pageNumber", default=1, maximum=None)
        size = _page_number(
            query.get("pageSize"), "pageSize", default=MAX_PAGE_SIZE, maximum=MAX_PAGE_SIZE
        )
        flows = sorted(self._flows.index(repository).flows)
        chosen = flows[(page - 1) * size : page * size]
        answers = []
        for flow in chosen:
            document = self._flows.peek(repository, flow) or {}
            answers.append(_flow_answer(flow, environment, document))
        return as_json(200, answers)

    # --- GET /v2/environment/{env}/flows/{id} ------------------------------------------------
    def get_flow(self, environment: str, flow: str) -> Reply:
        """Answer one flow (``FlowV2``): its pipeline and settings, stored or made from code."""
        found = self._find_flow(environment, flow)
        if isinstance(found, Reply):
            return found
        return as_json(200, {"id": flow, "environment": environment, **found[1]})

    def _find_flow(
        self, environment: str, flow: str
    ) -> tuple[PipelineRepository, dict[str, Any]] | Reply:
        """Return the flow's repository and document, or the 404 to answer."""
        repository = self.repository(environment)
        if repository is None:
            return _unknown_environment(environment)
        document = self._flows.document(repository, flow)
        if document is None:
            return _unknown_flow(flow, environment)
        return repository, document

    # --- GET /v1/environment/{env}/flows/{flow}/inputs -------------------------------------
    def flow_inputs(self, environment: str, flow: str) -> Reply:
        """Answer the inputs a run of the flow needs (``FlowInputSchema``)."""
        found = self._find_flow(environment, flow)
        if isinstance(found, Reply):
            return found
        repository, document = found
        return as_json(200, flow_inputs(repository, flow, document["pipeline"]["tasks"]))

    # --- POST /v1/environment/{env}/flows/{flow}/trigger -------------------------------------
    def trigger_flow(self, environment: str, flow: str, body: bytes) -> Reply:
        """Start a run (201 and its id), or only check the inputs (``dry_run``: 200, "")."""
        found = self._find_flow(environment, flow)
        if isinstance(found, Reply):
            return found
        repository, document = found
        try:
            request = documents.read_body(body)
            run_id = self.runs.trigger(environment, repository, flow, document, request)
        except FlowRequestError as error:
            return (
                as_json(error.status, str(error))
                if error.status == 422
                else text(error.status, str(error))
            )
        return as_json(200, "") if run_id is None else as_json(201, run_id)

    # --- GET /v1/environment/{env}/flows/{flow}/flowruns/{id} --------------------------------
    def flow_run(self, environment: str, flow: str, run_id: str) -> Reply:
        """Answer one run (``FlowRun``), or 404."""
        if self.repository(environment) is None:
            return _unknown_environment(environment)
        run = self.runs.get(environment, flow, run_id)
        if run is None:
            return text(404, f"Flow run '{run_id}' of flow '{flow}' not found")
        return as_json(200, run.answer())

    # --- GET /v2/environment/{env}/flows/{flow}/flowruns --------------------------------------
    def flow_runs(self, environment: str, flow: str, query: Mapping[str, str]) -> Reply:
        """Answer one page of the flow's runs, newest first, within runAfter..runBefore (ms)."""
        found = self._find_flow(environment, flow)
        if isinstance(found, Reply):
            return found
        page = _page_number(query.get("pageNumber"), "pageNumber", default=1, maximum=None)
        size = _page_number(
            query.get("pageSize"), "pageSize", default=MAX_PAGE_SIZE, maximum=MAX_PAGE_SIZE
        )
        after = _milliseconds(query.get("runAfter"), "runAfter", default=0.0)
        before = _milliseconds(query.get("runBefore"), "runBefore", default=float("inf"))
        runs = [run for run in self.runs.of_flow(environment, flow)
                if after <= run.created * 1000 <= before]  # fmt: skip
        chosen = runs[(page - 1) * size : page * size]
        return as_json(200, [run.answer() for run in chosen])

    # --- POST /v1/environment/{env}/flows -----------------------------------------------------
    def create_flow(self, environment: str, body: bytes, *, now: float) -> Reply:
        """Create an empty flow; its id comes from its name (``flows.flow_id``), made unique."""
        repository = self.repository(environment)
        if repository is None:
            return _unknown_environment(environment)
        try:
            request = documents.read_body(body)
            name = documents.check_create(request)
            self._check_user(request["authorEmail"], environment)
        except FlowRequestError as error:
            return text(error.status, str(error))
        with repository.lock:
            taken = self._flows.index(repository).flows
            flow, number = documents.flow_id(name), 1
            while flow in taken:
                number += 1
                flow = f"{documents.flow_id(name)}_{number}"
            document = documents.new_document(flow, name)
            self._save(repository, flow, document, request["authorEmail"], now, "Create flow")
        return as_json(201, _flow_answer(flow, environment, document))

    # --- PUT /v1/environment/{env}/flows/{flow}/pipeline ------------------------------------
    def update_pipeline(self, environment: str, flow: str, body: bytes, *, now: float) -> Reply:
        """Replace a flow's task map; 422 when an operator is unknown in the environment."""
        return self._update(environment, flow, body, now, pipeline=True)

    # --- PATCH /v1/environment/{env}/flows/{flow}/settings ----------------------------------
    def update_settings(self, environment: str, flow: str, body: bytes, *, now: float) -> Reply:
        """Update the given settings of a flow, leaving its tasks and other settings alone."""
        return self._update(environment, flow, body, now, pipeline=False)

    def _update(
        self, environment: str, flow: str, body: bytes, now: float, *, pipeline: bool
    ) -> Reply:
        repository = self.repository(environment)
        if repository is None:
            return _unknown_environment(environment)
        try:
            request = documents.read_body(body)
            if pipeline:
                tasks = documents.check_tasks(request, self.operators[environment])
                author = request["authorEmail"]
                self._check_user(author, environment)
            else:
                update = documents.check_settings(request)
                author = "api@ganymede.invalid"
        except FlowRequestError as error:
            return text(error.status, str(error))
        with repository.lock:
            current = self._flows.document(repository, flow)
            if current is None:
                return _unknown_flow(flow, environment)
            if pipeline:
                document = documents.saved(current, pipeline={"tasks": tasks})
            else:
                merged = documents.merged_settings(current["settings"], update)
                document = documents.saved(current, settings=merged)
            what = "Update pipeline" if pipeline else "Update settings"
            self._save(repository, flow, document, author, now, what)
        return as_json(200, _flow_answer(flow, environment, document))

    def _check_user(self, email: str, environment: str) -> None:
        if email.lower() not in self.users:
            raise FlowRequestError(
                400, f"authorEmail '{email}' is not a registered user of environment "
                f"'{environment}'"
            )  # fmt: skip

    @staticmethod
    def _save(
        repository: PipelineRepository,
        flow: str,
        document: Mapping[str, object],
        author: str,
        now: float,
        what: str,
    ) -> None:
        repository.commit(
            {documents.document_path(flow): documents.encode(document)},
            author_email=author,
            message=f"{what} {flow}",
            timestamp=int(now),
        )

    # --- PUT /v0/environment/{env}/commits ---------------------------------------------------
    def put_commits(self, environment: str, body: bytes, *, now: float) -> tuple[Reply, bool]:
        """Validate and apply a PUT; return the reply and whether a commit was made."""
        repository = self.repository(environment)
        if repository is None:
            return _unknown_environment(environment), False
        request = parse_commit_request(body)
        if request.author_email.lower() not in self.users:
            raise BadRequest(
                f"authorEmail '{request.author_email}' is not a registered user of "
                f"environment '{environment}'"
            )
        with repository.lock:
            changes = _changes(repository, environment, request.files)
            if request.dry_run:
                return text(200, _summary("Dry run", request.files, changes)), False
            if not changes:
                return text(200, _summary("No changes", request.files, changes)), False
            sha = repository.commit(
                changes,
                author_email=request.author_email,
                message=request.message,
                timestamp=int(now),
            )
        return text(200, f"Committed {len(changes)} file(s) as {sha}"), True


def parse_commit_request(body: bytes) -> CommitRequest:
    """Validate a PUT body against the documented schema and the path rules."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The request body is not valid JSON") from None
    if not isinstance(document, dict):
        raise BadRequest("The request body must be a JSON object")
    for name in ("fileMap", "authorEmail", "message"):
        if name not in document:
            raise BadRequest(f"The request body is missing the required field '{name}'")
    file_map, email, message = document["fileMap"], document["authorEmail"], document["message"]
    dry_run = document.get("dry_run", False)
    if not isinstance(file_map, dict):
        raise BadRequest("fileMap must be an object of path -> base64 content")
    if not isinstance(email, str) or not _EMAIL.match(email):
        raise BadRequest("authorEmail must be an email address")
    if not isinstance(message, str) or not _is_encodable(message):
        raise BadRequest("message must be a string of valid Unicode text")
    if not isinstance(dry_run, bool):
        raise BadRequest("dry_run must be a boolean")
    files = {check_api_path(path): _decode(path, content) for path, content in file_map.items()}
    return CommitRequest(files, email, message, dry_run)


def check_api_path(path: str) -> str:
    """Return ``path`` if it names a file of a flow node or of lib/, else raise BadRequest.

    Names git cannot hold or check out safely are refused before anything is committed:
    text that is not encodable as UTF-8 (a lone surrogate from a JSON escape), control
    characters, backslashes, empty, ``.`` or ``..`` segments, and ``.git`` in any case.
    """
    shown = repr(path)
    if not _is_encodable(path):
        raise BadRequest(f"Invalid path {shown}: it is not valid Unicode text")
    if any(unicodedata.category(char) == "Cc" for char in path):
        raise BadRequest(f"Invalid path {shown}: it holds a control character")
    parts = path.split("/")
    if not path or "\\" in path or any(part in ("", ".", "..") for part in parts):
        raise BadRequest(
            f"Invalid path {shown}: use a relative path without empty segments, '.', '..' or '\\'"
        )
    if any(_is_git_folder(part) for part in parts):
        raise BadRequest(f"Invalid path {shown}: a '.git' segment is reserved by git")
    if not (parts[0] == "lib" and len(parts) >= 2) and len(parts) < 3:
        raise BadRequest(f"Invalid path {shown}: files live at <flow>/<node>/<file> or under lib/")
    return path


def _is_git_folder(segment: str) -> bool:
    """Tell whether a segment names ``.git`` on some file system (case, trailing dots and
    spaces, invisible format characters and the 8.3 short name are ignored there)."""
    visible = "".join(char for char in segment if unicodedata.category(char) != "Cf")
    return visible.rstrip(". ").lower() in (".git", "git~1")


def _is_encodable(value: str) -> bool:
    """Tell whether ``value`` is text UTF-8 can encode (no lone surrogate)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def pipeline_path(api_path: str) -> str:
    """Map an API path (archive and fileMap layout) to the pipeline repository path."""
    return api_path if api_path.split("/", 1)[0] == "lib" else f"dags/{api_path}"


def archive_path(path: str, *, flow: str | None, include_lib: bool) -> str | None:
    """Map a pipeline repository path to its archive path, or None when it is left out."""
    if not path.endswith(ARCHIVE_SUFFIXES):
        return None
    parts = path.split("/")
    if parts[0] == "lib" and len(parts) >= 2:
        return path if include_lib else None
    if parts[0] == "dags" and len(parts) >= 4 and flow in (None, parts[1]):
        return "/".join(parts[1:])
    return None


@dataclass(frozen=True)
class FlowIndex:
    """Where each flow of one commit lives: its stored document and its node folders."""

    head: str | None
    documents: dict[str, TreeEntry]
    nodes: dict[str, dict[str, set[str]]]
    derived: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Documents made from code so far, by flow (made once per commit)."""

    @classmethod
    def of(cls, repository: PipelineRepository) -> FlowIndex:
        head = repository.head()
        entries = repository.tree(head) if head else []
        stored = {}
        nodes: dict[str, dict[str, set[str]]] = {}
        for entry in entries:
            flow = documents.flow_of_document(entry.path)
            if flow:
                stored[flow] = entry
            parts = entry.path.split("/")
            if len(parts) >= 4 and parts[0] == "dags":
                nodes.setdefault(parts[1], {}).setdefault(parts[2], set()).add("/".join(parts[3:]))
        return cls(head, stored, nodes)

    @property
    def flows(self) -> set[str]:
        return set(self.documents) | set(self.nodes)


class FlowDocuments:
    """Flow documents as HEAD holds them, indexed once per commit and parsed once per blob,
    so a pull reading hundreds of flows costs a git call per commit, not per flow."""

    def __init__(self) -> None:
        self._indexes: dict[Path, FlowIndex] = {}
        self._parsed: dict[str, dict[str, Any]] = {}

    def index(self, repository: PipelineRepository) -> FlowIndex:
        cached = self._indexes.get(repository.path)
        if cached is not None and cached.head == repository.head():
            return cached
        index = FlowIndex.of(repository)
        self._indexes[repository.path] = index
        return index

    def document(self, repository: PipelineRepository, flow: str) -> dict[str, Any] | None:
        """Return ``flow``'s document at HEAD (stored, or made from its code), or None."""
        found = self.peek(repository, flow)
        return copy.deepcopy(dict(found)) if found is not None else None

    def peek(self, repository: PipelineRepository, flow: str) -> Mapping[str, Any] | None:
        """Return ``flow``'s document at HEAD as kept here, to read and not to change
        (a listing of hundreds of flows reads only each one's name and version)."""
        index = self.index(repository)
        entry = index.documents.get(flow)
        if entry is not None:
            if entry.blob not in self._parsed:
                ((_, data),) = repository.read_blobs([entry])
                self._parsed[entry.blob] = documents.parse_document(data)
            return self._parsed[entry.blob]
        nodes = index.nodes.get(flow)
        if not nodes:
            return None
        if flow not in index.derived:
            index.derived[flow] = documents.derived_document(flow, nodes)
        return index.derived[flow]


def build_archive(
    repository: PipelineRepository, commit: str | None, flow: str | None, include_lib: bool
) -> bytes:
    """Build the ZIP of a commit's flow code, reading every blob through one git process.

    A file whose name is not UTF-8 (committed with plain git; the API refuses such names)
    cannot be named in a ZIP: it is left out with a warning, so it never breaks downloads.
    """
    chosen = []
    for entry in repository.tree(commit):
        name = archive_path(entry.path, flow=flow, include_lib=include_lib)
        if name is not None and not _is_encodable(name):
            logger.warning("left out of the archive, its name is not UTF-8: %r", entry.path)
        elif name is not None:
            chosen.append((name, entry))
    buffer = io.BytesIO()
    names = {entry.path: name for name, entry in chosen}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry, data in repository.read_blobs([entry for _, entry in chosen]):
            info = zipfile.ZipInfo(names[entry.path], date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def _changes(
    repository: PipelineRepository, environment: str, files: Mapping[str, bytes]
) -> dict[str, bytes | None]:
    """Return the pipeline files whose content the PUT changes; refuse new node files."""
    tree = {entry.path: entry for entry in repository.tree()}
    targets = {pipeline_path(path): content for path, content in files.items()}
    missing = sorted(
        p
        for p in files
        if not p.startswith("lib/")
        and pipeline_path(p) not in tree
        and not _is_new_task_code(repository, tree, p)
    )
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise BadRequest(
            "Creating a file with this API is prohibited: "
            f"{shown} does not exist in environment '{environment}'"
        )
    _check_no_clash(tree, targets)
    existing = [tree[path] for path in targets if path in tree]
    current = {entry.path: data for entry, data in repository.read_blobs(existing)}
    return {path: data for path, data in targets.items() if current.get(path) != data}


def _is_new_task_code(
    repository: PipelineRepository, tree: Mapping[str, TreeEntry], api_path: str
) -> bool:
    """Tell whether ``api_path`` is a file of a task that has no code yet (the pipeline
    update created the node: its first commit brings its code)."""
    parts = api_path.split("/")
    if len(parts) != 3:
        return False
    flow, node, _ = parts
    if any(path.startswith(f"dags/{flow}/{node}/") for path in tree):
        return False
    entry = tree.get(documents.document_path(flow))
    if entry is None:
        return False
    ((_, data),) = repository.read_blobs([entry])
    return node in documents.parse_document(data)["pipeline"]["tasks"]


def _check_no_clash(tree: Mapping[str, TreeEntry], targets: Mapping[str, bytes]) -> None:
    """Refuse a new lib file whose path is a folder, or lies inside a file, of the tree."""
    folders = {path.rsplit("/", i)[0] for path in tree for i in range(1, path.count("/") + 1)}
    for path in targets:
        parents = [path.rsplit("/", i)[0] for i in range(1, path.count("/") + 1)]
        if path in folders or any(parent in tree for parent in parents):
            raise BadRequest(f"Invalid path {path!r}: it clashes with an existing file or folder")


def _summary(prefix: str, files: Mapping[str, bytes], changes: Mapping[str, object]) -> str:
    return f"{prefix}: {len(files)} file(s) valid, {len(changes)} would change; nothing committed"


def _decode(path: str, content: object) -> bytes:
    if not isinstance(content, str):
        raise BadRequest(f"fileMap['{path}'] must be a base64 string")
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"fileMap['{path}'] is not valid base64") from None


def _boolean(value: str | None, name: str, *, default: bool) -> bool:
    if value is None or value == "":
        return default
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise BadRequest(f"{name} must be true or false")


def _page_number(value: str | None, name: str, *, default: int, maximum: int | None) -> int:
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise BadRequest(f"{name} must be a number") from None
    if not number.is_integer() or number < 1 or (maximum is not None and number > maximum):
        limit = f" and at most {maximum}" if maximum else ""
        raise BadRequest(f"{name} must be a whole number of at least 1{limit}")
    return int(number)


def _milliseconds(value: str | None, name: str, *, default: float) -> float:
    """Read an epoch time in milliseconds (a query parameter)."""
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise BadRequest(f"{name} must be an epoch time in milliseconds") from None


def _flow_answer(flow: str, environment: str, document: Mapping[str, Any]) -> dict[str, Any]:
    """Return a ``Flow`` record: id, name (its display name), environment, version."""
    settings = document.get("settings") or {}
    name = settings.get("displayName") or flow.replace("_", " ")
    return {"id": flow, "name": name, "environment": environment,
            "version": document.get("version", "0")}  # fmt: skip


def _unknown_flow(flow: str, environment: str) -> Reply:
    return text(404, f"Flow '{flow}' not found in environment '{environment}'")


def _attachment(filename: str) -> str:
    """Return a Content-Disposition header value for any file name (RFC 6266): an ASCII
    fallback plus the exact name percent-encoded, so no flow name can break the header."""
    fallback = re.sub(r'[^\x20-\x7e]|["\\]', "_", filename)
    exact = quote(filename, safe="", errors="backslashreplace")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"


def _unknown_environment(environment: str) -> Reply:
    return text(404, f"Environment '{environment}' not found")


def repositories_in(data_dir: Path, environments: tuple[str, ...]) -> dict[str, PipelineRepository]:
    """Return the pipeline repository of each environment, at ``data_dir/<environment>``."""
    return {name: PipelineRepository(data_dir / name) for name in environments}
