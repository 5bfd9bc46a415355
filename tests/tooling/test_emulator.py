"""The emulator answers like Ganymede's documented commits and flows API, over real sockets."""

from __future__ import annotations

import ast
import base64
import io
import subprocess
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

import ganymede_sync.emulator as emulator_package
from ganymede_sync.emulator import Emulator

KEY = "test-token"
FLOWS = ("LIMS_Sample_Sync", "Plate_Reader_Ingest", "qPCR_Analysis")
NODE_FILE = "qPCR_Analysis/Load_Run/function.py"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """One seeded emulator for the tests that only read: none of them changes its state."""
    data_dir = tmp_path_factory.mktemp("shared-emulator")
    with Emulator(data_dir, api_key=KEY, environments=("dev", "prod")) as emulator:
        yield emulator


@pytest.fixture
def reader(shared: Emulator) -> Iterator[httpx.Client]:
    """An HTTP client of the shared, read-only emulator."""
    with httpx.Client(base_url=shared.url, headers={"api-key": KEY}) as client:
        yield client


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def put(api: httpx.Client, file_map: dict[str, str], **fields: object) -> httpx.Response:
    body = {"fileMap": file_map, "authorEmail": "dev@example.com", "message": "Update", **fields}
    return api.put("/v0/environment/dev/commits", json=body)


def archive_of(api: httpx.Client, env: str = "dev", **params: str) -> dict[str, bytes]:
    response = api.get(f"/v0/environment/{env}/commits", params=params)
    assert response.status_code == 200, response.text
    download = httpx.get(response.text)
    assert download.status_code == 200
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def expected_archive(emulator: Emulator, *, flow: str | None = None, lib: bool = True) -> dict:
    """What the documented layout says the archive of the pipeline repository holds."""
    expected = {}
    for path, data in emulator.files("dev").items():
        parts = path.split("/")
        if not path.endswith((".py", ".sql")):
            continue
        if parts[0] == "lib" and lib:
            expected[path] = data
        elif parts[0] == "dags" and len(parts) >= 4 and flow in (None, parts[1]):
            expected["/".join(parts[1:])] = data
    return expected


# --- authentication and routing -----------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, {"api-key": "wrong"}, {"Authorization": KEY}])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v0/environment/dev/commits"),
        ("PUT", "/v0/environment/dev/commits"),
        ("GET", "/v2/environment/dev/flows"),
        ("GET", "/v2/environment/dev/flows/qPCR_Analysis"),
    ],
)
def test_api_refuses_requests_without_the_right_api_key(shared, headers, method, path):
    response = httpx.request(method, shared.url + path, headers=headers, json={})
    assert response.status_code == 401
    assert "api-key" in response.text
    assert shared.commits("dev")[0].message == "Create environment"


def test_unknown_environment_is_404(reader):
    for response in (
        reader.get("/v0/environment/staging/commits"),
        reader.get("/v2/environment/staging/flows"),
        reader.get("/v2/environment/staging/flows/qPCR_Analysis"),
        reader.put("/v0/environment/staging/commits", json={}),
    ):
        assert response.status_code == 404
        assert "staging" in response.text


def test_unknown_flow_is_404(reader):
    for response in (
        reader.get("/v0/environment/dev/commits", params={"flowName": "No_Such_Flow"}),
        reader.get("/v2/environment/dev/flows/No_Such_Flow"),
    ):
        assert response.status_code == 404
        assert "No_Such_Flow" in response.text


def test_unknown_path_is_404_and_wrong_method_is_405(reader):
    assert reader.get("/v1/environment/dev/commits").status_code == 404
    assert reader.post("/v0/environment/dev/commits", json={}).status_code == 405


# --- signed URL -----------------------------------------------------------------------------
def test_commits_answers_a_bare_signed_url_of_the_emulator(shared, reader):
    response = reader.get("/v0/environment/dev/commits", params={"includeLibFiles": "true"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    url = urlsplit(response.text)
    assert f"{url.scheme}://{url.netloc}" == shared.url
    assert url.path.startswith("/_download/")
    assert set(dict(parse_qsl(url.query))) == {"expires", "signature"}


def test_quoted_signed_url_is_a_json_string(tmp_path):
    emulator = Emulator(tmp_path, api_key=KEY, quote_signed_url=True)
    with emulator, httpx.Client(base_url=emulator.url, headers={"api-key": KEY}) as client:
        response = client.get("/v0/environment/dev/commits")
        assert response.headers["content-type"] == "application/json"
        assert httpx.get(response.json()).status_code == 200


def test_download_needs_no_api_key_and_records_that_none_was_sent(emulator, api):
    url = api.get("/v0/environment/dev/commits").text
    assert httpx.get(url).status_code == 200
    assert httpx.get(url, headers={"api-key": KEY}).status_code == 200
    downloads = [r for r in emulator.requests if r.path.startswith("/_download/")]
    assert [r.had_api_key for r in downloads] == [False, True]
    assert emulator.requests[0].had_api_key is True
    assert emulator.requests[0].query == {}
    assert downloads[0].status == 200


def test_download_records_the_key_sent_in_any_header(emulator, api):
    url = api.get("/v0/environment/dev/commits").text
    httpx.get(url, headers={"Authorization": f"Bearer {KEY}"})
    assert emulator.requests[-1].had_api_key is True


def _tampered(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return parts._replace(query=urlencode(query)).geturl()


def test_download_refuses_tampered_links(reader):
    url = reader.get("/v0/environment/dev/commits").text
    parts = urlsplit(url)
    other_token = reader.get("/v0/environment/prod/commits").text.split("?")[0]
    signature = dict(parse_qsl(parts.query))["signature"]
    forged = [
        _tampered(url, signature="0" * len(signature)),
        _tampered(url, expires=str(int(time.time()) + 86400)),
        _tampered(url, expires="soon"),
        other_token + "?" + parts.query,
        url.split("?")[0],
    ]
    for link in forged:
        response = httpx.get(link)
        assert response.status_code == 403, link
    assert httpx.get(url).status_code == 200


def test_download_refuses_an_expired_link(tmp_path):
    now = [1_800_000_000.0]
    emulator = Emulator(tmp_path, api_key=KEY, url_ttl=60, clock=lambda: now[0])
    with emulator, httpx.Client(base_url=emulator.url, headers={"api-key": KEY}) as client:
        url = client.get("/v0/environment/dev/commits").text
        assert dict(parse_qsl(urlsplit(url).query))["expires"] == "1800000060"
        now[0] += 60
        assert httpx.get(url).status_code == 200
        now[0] += 1
        expired = httpx.get(url)
        assert expired.status_code == 403
        assert "expired" in expired.text


# --- archive content ------------------------------------------------------------------------
def test_archive_holds_flow_and_lib_code_in_the_documented_layout(shared, reader):
    files = archive_of(reader)
    assert files == expected_archive(shared)
    assert {name.split("/")[0] for name in files} == {*FLOWS, "lib"}
    assert "lib/labtools/plates/layout.py" in files
    assert "Plate_Reader_Ingest/Subtract_Blank/query.sql" in files
    assert all(name.endswith((".py", ".sql")) for name in files)
    assert not any(name.endswith("callbacks.py") for name in files)


def test_archive_leaves_out_what_the_api_never_exposes(shared, reader):
    pipeline = shared.files("dev")
    assert {"dags/callbacks.py", "connectors/lab_share.yaml"} <= set(pipeline)
    assert "dags/Plate_Reader_Ingest/README.md" in pipeline
    names = set(archive_of(reader))
    assert not any(name.startswith(("dags/", "connectors/")) for name in names)
    assert "Plate_Reader_Ingest/README.md" not in names


def test_single_flow_archive_holds_that_flow_and_lib(shared, reader):
    files = archive_of(reader, flowName="qPCR_Analysis")
    assert files == expected_archive(shared, flow="qPCR_Analysis")
    assert {name.split("/")[0] for name in files} == {"qPCR_Analysis", "lib"}


def test_include_lib_false_leaves_lib_out(shared, reader):
    assert archive_of(reader, includeLibFiles="false") == expected_archive(shared, lib=False)
    flow_only = archive_of(reader, flowName="qPCR_Analysis", includeLibFiles="false")
    assert {name.split("/")[0] for name in flow_only} == {"qPCR_Analysis"}


def test_include_lib_defaults_to_true_and_empty_flow_name_means_all(shared, reader):
    assert archive_of(reader, flowName="") == expected_archive(shared)


def test_include_lib_must_be_a_boolean(reader):
    response = reader.get("/v0/environment/dev/commits", params={"includeLibFiles": "yes"})
    assert response.status_code == 400


def test_empty_environment_serves_an_empty_archive(empty_emulator):
    with httpx.Client(base_url=empty_emulator.url, headers={"api-key": KEY}) as client:
        assert archive_of(client) == {}
        assert client.get("/v2/environment/dev/flows").json() == []


def test_signed_url_serves_the_code_as_it_was_when_issued(api):
    url = api.get("/v0/environment/dev/commits").text
    assert put(api, {NODE_FILE: b64(b"changed = True\n")}).status_code == 200
    with zipfile.ZipFile(io.BytesIO(httpx.get(url).content)) as archive:
        assert archive.read(NODE_FILE) != b"changed = True\n"
    assert archive_of(api)[NODE_FILE] == b"changed = True\n"


def test_commits_made_with_plain_git_are_served_by_the_next_request(emulator, api):
    repository = emulator.pipeline_path("dev")
    node = repository / "dags" / "Manual_Flow" / "Step"
    node.mkdir(parents=True)
    (node / "function.py").write_text("print('by hand')\n")
    subprocess.run(["git", "add", "-A"], cwd=repository, check=True)
    subprocess.run(["git", "commit", "-qm", "By hand"], cwd=repository, check=True)
    assert archive_of(api)["Manual_Flow/Step/function.py"] == b"print('by hand')\n"
    assert "Manual_Flow" in [flow["id"] for flow in api.get("/v2/environment/dev/flows").json()]
    assert emulator.commits("dev")[0].message == "By hand"


def test_archive_of_thousands_of_files_is_built_quickly(emulator, api):
    repository = emulator.pipeline_path("dev")

    def git(*args: str, data: bytes | None = None) -> str:
        result = subprocess.run(
            ["git", *args], cwd=repository, input=data, capture_output=True, check=True
        )
        return result.stdout.decode().strip()

    blobs = [git("hash-object", "-w", "--stdin", data=f"value = {k}\n".encode()) for k in range(10)]
    entries = "".join(
        f"100644 {blobs[i % 10]}\tdags/Flow_{i % 30}/Node_{i}/function.py\n" for i in range(3000)
    )
    git("update-index", "--index-info", data=entries.encode())
    git("commit", "-qm", "Many nodes")
    started = time.monotonic()
    files = archive_of(api)
    # One git process per file would take far longer; bulk reads take about a second.
    assert time.monotonic() - started < 10
    assert files["Flow_7/Node_37/function.py"] == b"value = 7\n"
    assert len([name for name in files if name.startswith("Flow_")]) == 3000


# --- PUT ------------------------------------------------------------------------------------
def test_put_makes_one_commit_with_the_author_and_message(emulator, api):
    response = put(
        api,
        {NODE_FILE: b64(b"new = 1\n"), "lib/labtools/units.py": b64(b"units = 2\n")},
        authorEmail="ops@example.com",
        message="Tune qPCR loading\n\nwith details",
    )
    assert response.status_code == 200, response.text
    head, previous = emulator.commits("dev")[:2]
    assert previous.message == "Create environment"
    assert head.author_email == "ops@example.com"
    assert head.message == "Tune qPCR loading\n\nwith details"
    assert set(head.paths) == {"dags/" + NODE_FILE, "lib/labtools/units.py"}
    assert emulator.files("dev")["dags/" + NODE_FILE] == b"new = 1\n"
    assert emulator.commits("prod")[0].message == "Create environment"


def test_put_keeps_the_pipeline_working_tree_in_step(emulator, api):
    assert put(api, {NODE_FILE: b64(b"new = 1\n")}).status_code == 200
    repository = emulator.pipeline_path("dev")
    assert (repository / "dags" / NODE_FILE).read_bytes() == b"new = 1\n"
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=repository, capture_output=True, check=True
    )
    assert status.stdout == b""


def test_put_may_create_files_under_lib(emulator, api):
    response = put(api, {"lib/labtools/stats/robust.py": b64(b"def median(x): ...\n")})
    assert response.status_code == 200
    assert archive_of(api)["lib/labtools/stats/robust.py"] == b"def median(x): ...\n"


def test_put_refuses_creating_a_node_file_and_commits_nothing(emulator, api):
    response = put(
        api,
        {NODE_FILE: b64(b"fine = 1\n"), "qPCR_Analysis/Load_Run/query.sql": b64(b"SELECT 1")},
    )
    assert response.status_code == 400
    assert "Creating a file with this API is prohibited" in response.text
    assert "qPCR_Analysis/Load_Run/query.sql" in response.text
    assert len(emulator.commits("dev")) == 1


def test_put_refuses_an_unregistered_author(emulator, api):
    response = put(api, {NODE_FILE: b64(b"x = 1\n")}, authorEmail="stranger@example.com")
    assert response.status_code == 400
    assert "stranger@example.com" in response.text
    assert len(emulator.commits("dev")) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"fileMap": {}, "message": "m"}',
        b'{"fileMap": {}, "authorEmail": "dev@example.com"}',
        b'{"authorEmail": "dev@example.com", "message": "m"}',
        b'{"fileMap": [], "authorEmail": "dev@example.com", "message": "m"}',
        b'{"fileMap": {}, "authorEmail": "not-an-email", "message": "m"}',
        b'{"fileMap": {}, "authorEmail": "dev@example.com", "message": 3}',
        b'{"fileMap": {}, "authorEmail": "dev@example.com", "message": "m", "dry_run": "yes"}',
    ],
    ids=[
        "not-json",
        "array",
        "no-author",
        "no-message",
        "no-file-map",
        "file-map-array",
        "bad-email",
        "message-number",
        "dry-run-string",
    ],
)
def test_put_refuses_a_malformed_body(emulator, api, body):
    response = api.put(
        "/v0/environment/dev/commits", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.text
    assert len(emulator.commits("dev")) == 1


@pytest.mark.parametrize(
    ("path", "content"),
    [
        (NODE_FILE, "%%% not base64"),
        (NODE_FILE, 12),
        ("/etc/passwd/x.py", "eA=="),
        ("qPCR_Analysis/../../etc/x.py", "eA=="),
        ("qPCR_Analysis/Load_Run\\function.py", "eA=="),
        ("qPCR_Analysis/./function.py", "eA=="),
        ("qPCR_Analysis//function.py", "eA=="),
        ("qPCR_Analysis/function.py", "eA=="),
        ("README.md", "eA=="),
        ("lib", "eA=="),
        ("", "eA=="),
    ],
)
def test_put_refuses_bad_content_and_paths_outside_flows_and_lib(emulator, api, path, content):
    response = put(api, {NODE_FILE: b64(b"ok = 1\n"), path: content})
    assert response.status_code == 400
    assert len(emulator.commits("dev")) == 1


def test_put_refuses_a_lib_file_that_clashes_with_a_folder(emulator, api):
    assert put(api, {"lib/labtools/plates": b64(b"x")}).status_code == 400
    assert put(api, {"lib/labtools/units.py/inner.py": b64(b"x")}).status_code == 400
    assert len(emulator.commits("dev")) == 1


def test_dry_run_validates_and_commits_nothing(emulator, api):
    before = emulator.files("dev")
    response = put(api, {NODE_FILE: b64(b"x = 1\n")}, dry_run=True)
    assert response.status_code == 200
    assert "nothing committed" in response.text
    assert emulator.files("dev") == before
    assert len(emulator.commits("dev")) == 1
    refused = put(api, {"qPCR_Analysis/New_Node/function.py": b64(b"x")}, dry_run=True)
    assert refused.status_code == 400


def test_put_of_unchanged_content_or_empty_map_commits_nothing(emulator, api):
    current = emulator.files("dev")["dags/" + NODE_FILE]
    for file_map in ({NODE_FILE: b64(current)}, {}):
        response = put(api, file_map)
        assert response.status_code == 200
        assert "nothing committed" in response.text
    assert len(emulator.commits("dev")) == 1


def test_put_commits_only_the_files_that_change(emulator, api):
    current = emulator.files("dev")["dags/" + NODE_FILE]
    response = put(api, {NODE_FILE: b64(current), "lib/labtools/units.py": b64(b"u = 1\n")})
    assert response.status_code == 200
    assert emulator.commits("dev")[0].paths == ("lib/labtools/units.py",)


# --- flows ----------------------------------------------------------------------------------
def test_flows_lists_every_flow_of_the_environment(reader):
    flows = reader.get("/v2/environment/dev/flows").json()
    assert [flow["id"] for flow in flows] == list(FLOWS)
    assert all(flow["environment"] == "dev" and flow["name"] for flow in flows)


def test_flows_are_paginated_from_page_one(reader):
    def page(number: int) -> list[str]:
        response = reader.get(
            "/v2/environment/dev/flows", params={"pageNumber": number, "pageSize": 2}
        )
        assert response.status_code == 200
        return [flow["id"] for flow in response.json()]

    assert page(1) == list(FLOWS[:2])
    assert page(2) == list(FLOWS[2:])
    assert page(3) == []


def test_a_flow_known_by_its_code_alone_has_a_task_per_node_folder(emulator, api):
    emulator.delete_file("dev", "flows/qPCR_Analysis.json")  # as if committed with plain git
    emulator.write_file("dev", "dags/qPCR_Analysis/Load_Run/query.sql", b"SELECT 1\n")
    flow = api.get("/v2/environment/dev/flows/qPCR_Analysis").json()
    assert (flow["id"], flow["environment"]) == ("qPCR_Analysis", "dev")
    nodes = {
        path.split("/")[2]
        for path in emulator.files("dev")
        if path.startswith("dags/qPCR_Analysis/")
    }
    tasks = flow["pipeline"]["tasks"]
    assert list(tasks) == sorted(nodes)
    assert tasks["Load_Run"]["operator"] == "SQL"
    assert flow["settings"]["displayName"] == "qPCR Analysis"


@pytest.mark.parametrize(
    "params",
    [
        {"pageSize": 0},
        {"pageSize": 10001},
        {"pageNumber": 0},
        {"pageNumber": "x"},
        {"pageSize": 1.5},
    ],
)
def test_flows_refuses_bad_pagination(reader, params):
    assert reader.get("/v2/environment/dev/flows", params=params).status_code == 400


# --- Python API and persistence -----------------------------------------------------------------
def test_web_editor_edits_are_one_commit_each(emulator, api):
    emulator.write_file(
        "dev",
        "dags/qPCR_Analysis/Load_Run/query.sql",
        b"SELECT 1\n",
        author_email="ops@example.com",
        message="Add a query",
    )
    emulator.delete_file("dev", "dags/LIMS_Sample_Sync/Push_To_LIMS/function.py")
    latest, added = emulator.commits("dev")[:2]
    assert (added.author_email, added.message) == ("ops@example.com", "Add a query")
    assert added.paths == ("dags/qPCR_Analysis/Load_Run/query.sql",)
    assert latest.paths == ("dags/LIMS_Sample_Sync/Push_To_LIMS/function.py",)
    assert latest.author_email == "dev@example.com"
    files = archive_of(api)
    assert files["qPCR_Analysis/Load_Run/query.sql"] == b"SELECT 1\n"
    assert "LIMS_Sample_Sync/Push_To_LIMS/function.py" not in files
    with pytest.raises(KeyError):
        emulator.delete_file("dev", "dags/No/Such/file.py")


def test_state_survives_a_restart_on_the_same_data_dir(tmp_path):
    data_dir = tmp_path / "state"
    first = Emulator(data_dir, api_key=KEY, users=("dev@example.com",))
    with first, httpx.Client(base_url=first.url, headers={"api-key": KEY}) as client:
        assert put(client, {NODE_FILE: b64(b"kept = 1\n")}).status_code == 200
        link = client.get("/v0/environment/dev/commits").text
        port = first.url.rsplit(":", 1)[1]
    second = Emulator(data_dir, api_key=KEY, environments=("dev", "qa"), seed="none")
    with second:
        assert second.files("dev")["dags/" + NODE_FILE] == b"kept = 1\n"
        assert [c.message for c in second.commits("dev")] == ["Update", "Create environment"]
        assert "dags/qPCR_Analysis/Delta_Ct/query.sql" not in second.files("qa")
        moved = link.replace(f":{port}/", f":{second.url.rsplit(':', 1)[1]}/")
        assert httpx.get(moved).status_code == 200


def test_emulator_refuses_bad_settings(tmp_path):
    with pytest.raises(ValueError, match="seed"):
        Emulator(tmp_path / "a", api_key=KEY, seed="demo")
    with pytest.raises(ValueError, match="environment"):
        Emulator(tmp_path / "b", api_key=KEY, environments=("../x",))
    with pytest.raises(RuntimeError):
        _ = Emulator(tmp_path / "c", api_key=KEY).url


def test_a_flow_known_only_by_its_code_takes_its_first_save(emulator, api):
    emulator.write_file("dev", "dags/Code_Only/Step/function.py", b"x = 1\n")
    flow = api.get("/v2/environment/dev/flows/Code_Only").json()
    assert flow["version"].startswith("0.")  # made from its code, never saved
    answer = api.patch("/v1/environment/dev/flows/Code_Only/settings",
                       json={"schedule_interval": "0 4 * * *"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    saved = api.get("/v2/environment/dev/flows/Code_Only").json()
    assert saved["version"] == "1" and saved["settings"]["schedule_interval"] == "0 4 * * *"


def test_paths_with_spaces_quotes_and_non_ascii_letters_round_trip(emulator, api):
    node_file = 'Flöw Ä/Nöde "q"/function.py'
    emulator.write_file("dev", f"dags/{node_file}", b"x = 1\n")
    assert archive_of(api, flowName="Flöw Ä", includeLibFiles="false") == {node_file: b"x = 1\n"}
    assert put(api, {node_file: b64(b"x = 2\n"), "lib/ü tools/ä.py": b64(b"y\n")}).is_success
    assert set(emulator.commits("dev")[0].paths) == {f"dags/{node_file}", "lib/ü tools/ä.py"}
    assert archive_of(api)[node_file] == b"x = 2\n"


def test_a_short_key_is_not_mistaken_for_part_of_another_header(tmp_path):
    emulator = Emulator(tmp_path, api_key="k")
    with emulator, httpx.Client(base_url=emulator.url, headers={"api-key": "k"}) as client:
        url = client.get("/v0/environment/dev/commits").text
        httpx.get(url, headers={"Connection": "keep-alive", "X-Note": "kk"})
        assert emulator.requests[-1].had_api_key is False


def test_a_key_opens_only_its_own_environment(tmp_path):
    keys = {"dev": "dev-key", "prod": "prod-key"}
    emulator = Emulator(tmp_path, api_key=keys, environments=("dev", "prod"))
    with emulator:
        commits = emulator.url + "/v0/environment/{}/commits"
        assert httpx.get(commits.format("prod"), headers={"api-key": "prod-key"}).is_success
        assert httpx.get(commits.format("prod"), headers={"api-key": "dev-key"}).status_code == 401
        assert httpx.get(commits.format("qa"), headers={"api-key": "dev-key"}).status_code == 404
    with pytest.raises(ValueError, match="api key"):
        Emulator(tmp_path, api_key={"dev": "dev-key"}, environments=("dev", "prod"))


def test_emulator_imports_nothing_from_the_client_side():
    """Both sides are written from the contract: a shared bug would hide from every test.

    The one exception is the test kit's runner, which runs the flows the emulator is
    asked to run (the emulator behaves as Ganymede's runtime, not as its client).
    """
    package = Path(emulator_package.__file__).resolve().parent
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                relative = "ganymede_sync.emulator" if node.level == 1 else "ganymede_sync"
                names = [node.module or ""] if node.level == 0 else [relative]
            for name in names:
                if name.split(".")[0] == "ganymede_sync":
                    allowed = ("ganymede_sync.emulator", "ganymede_sync.testing.flows")
                    assert name.startswith(allowed), f"{source.name}: {name}"


def test_example_flow_code_compiles_and_its_lib_imports_exist(emulator):
    files = emulator.files("dev")
    modules = {path[:-3].replace("/", ".").removesuffix(".__init__") for path in files}
    for path, data in files.items():
        if not path.endswith(".py"):
            continue
        tree = ast.parse(data, filename=path)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lib."):
                assert node.module in modules, f"{path} imports {node.module}"


def test_concurrent_puts_each_become_one_commit(emulator):
    nodes = ["Load_Run", "Delta_Ct", "Flag_Outliers"]

    def send(node: str) -> int:
        with httpx.Client(base_url=emulator.url, headers={"api-key": KEY}) as client:
            path = f"qPCR_Analysis/{node}/function.py"
            return put(client, {path: b64(f"# {node}\n".encode())}, message=node).status_code

    with ThreadPoolExecutor(max_workers=3) as pool:
        assert list(pool.map(send, nodes)) == [200, 200, 200]
    assert sorted(c.message for c in emulator.commits("dev")[:3]) == sorted(nodes)
    files = emulator.files("dev")
    for node in nodes:
        assert files[f"dags/qPCR_Analysis/{node}/function.py"] == f"# {node}\n".encode()
