"""Every request the emulator accepts and every documented answer it gives match Ganymede's
published OpenAPI file (its commits and flows part, kept unchanged in tests/fixtures).

One documented deviation: Ganymede declares the signed URL as an ``application/json``
string, but its clients use the body verbatim as the URL, so the emulator answers the bare
URL as text by default. That answer is checked as the string it stands for; with
``quote_signed_url`` the emulator answers the JSON string, which validates as it is.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.exceptions import OpenAPIError
from werkzeug.datastructures import Headers, ImmutableMultiDict

from ganymede_sync.emulator import Emulator

SPEC_PATH = Path(__file__).parent / "fixtures" / "ganymede-openapi-commits.yaml"
KEY = "test-token"
COMMITS = "/v0/environment/dev/commits"
FLOWS = "/v2/environment/dev/flows"
FLOWS_V1 = "/v1/environment/dev/flows"
STEP = {"operator": "Python", "params": {"threshold": "0.5"}, "dependencies": []}
NODE_FILE = "qPCR_Analysis/Load_Run/function.py"
# The spec's only server is https://{host}; the host under test does not matter to it.
SPEC_HOST = "https://acme.ganymede.bio"


class SpecRequest:
    """An httpx request seen through openapi-core's request protocol."""

    def __init__(self, request: httpx.Request) -> None:
        self.host_url = SPEC_HOST
        self.path = request.url.path
        self.method = request.method.lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(list(request.headers.items())),
        )
        self.content_type = request.headers.get("content-type", "")
        self.body = request.content or None


class SpecResponse:
    """An httpx response seen through openapi-core's response protocol."""

    def __init__(self, response: httpx.Response, *, content_type=None, data=None) -> None:
        self.status_code = response.status_code
        self.content_type = content_type or response.headers.get("content-type", "")
        self.headers = Headers(list(response.headers.items()))
        self.data = response.content if data is None else data


@pytest.fixture(scope="module")
def spec() -> OpenAPI:
    return OpenAPI.from_file_path(str(SPEC_PATH))


@pytest.fixture
def exchanges(emulator: Emulator) -> Iterator[tuple[httpx.Client, list[httpx.Response]]]:
    """A client of the emulator that keeps every response it received."""
    seen: list[httpx.Response] = []

    def keep(response: httpx.Response) -> None:
        response.read()
        seen.append(response)

    hooks = {"response": [keep]}
    with httpx.Client(base_url=emulator.url, headers={"api-key": KEY}, event_hooks=hooks) as c:
        yield c, seen


def body(file_map: dict[str, bytes], **fields: object) -> dict[str, object]:
    encoded = {path: base64.b64encode(data).decode() for path, data in file_map.items()}
    return {"fileMap": encoded, "authorEmail": "dev@example.com", "message": "m", **fields}


def exercise(client: httpx.Client) -> None:
    """Send every kind of request the commits and flows endpoints accept or refuse."""
    for params in (
        {},
        {"includeLibFiles": "true"},
        {"includeLibFiles": "false"},
        {"flowName": "qPCR_Analysis"},
        {"flowName": "qPCR_Analysis", "includeLibFiles": "false"},
    ):
        client.get(COMMITS, params=params)
    for params in ({}, {"pageNumber": 1}, {"pageNumber": 2, "pageSize": 2}, {"pageSize": 10000}):
        client.get(FLOWS, params=params)
    client.get(f"{FLOWS}/qPCR_Analysis")
    client.get(f"{FLOWS}/No_Such_Flow")
    client.put(COMMITS, json=body({NODE_FILE: b"x = 1\n"}))
    client.put(COMMITS, json=body({NODE_FILE: b"x = 2\n"}, dry_run=True))
    client.put(COMMITS, json=body({"lib/labtools/extra.py": b"y = 1\n"}, dry_run=False))
    client.put(COMMITS, json=body({}))
    client.put(COMMITS, json=body({"qPCR_Analysis/New/function.py": b"z"}))
    client.put(COMMITS, json=body({NODE_FILE: b"x"}, authorEmail="nobody@example.com"))
    exercise_flows(client)


def exercise_flows(client: httpx.Client) -> None:
    """Create a flow, replace its pipeline, update its settings; and the refused cases."""
    client.post(FLOWS_V1, json={"name": "Sample QC", "authorEmail": "dev@example.com"})
    tasks = {"Read": STEP, "Check": {**STEP, "dependencies": ["Read"]}}
    client.put(
        f"{FLOWS_V1}/Sample_QC/pipeline", json={"tasks": tasks, "authorEmail": "dev@example.com"}
    )
    unknown = {"Read": {**STEP, "operator": "Quantum_Read"}}
    client.put(
        f"{FLOWS_V1}/Sample_QC/pipeline", json={"tasks": unknown, "authorEmail": "dev@example.com"}
    )
    client.put(
        f"{FLOWS_V1}/No_Such_Flow/pipeline", json={"tasks": {}, "authorEmail": "dev@example.com"}
    )
    settings = {"schedule_interval": "0 3 * * *", "default_args": {"retries": 2}, "tags": ["qc"]}
    client.patch(f"{FLOWS_V1}/Sample_QC/settings", json=settings)
    client.patch(f"{FLOWS_V1}/No_Such_Flow/settings", json={"tags": []})
    client.get(f"{FLOWS}/Sample_QC")


def is_flow_request(response: httpx.Response) -> bool:
    """Tell whether ``response`` answers a flow endpoint whose spec documents its errors
    (GET flows/{id}: 404; pipeline: 404 and 422; settings: 404)."""
    path = response.request.url.path
    return path.startswith(f"{FLOWS}/") or path.startswith(f"{FLOWS_V1}/")


def validate_answer(spec: OpenAPI, response: httpx.Response) -> None:
    """Validate a response, reading the bare signed URL as the JSON string it stands for."""
    request = SpecRequest(response.request)
    answer = SpecResponse(response)
    is_bare_url = (
        response.request.method == "GET"
        and response.request.url.path == COMMITS
        and response.status_code == 200
        and response.headers["content-type"].startswith("text/plain")
    )
    if is_bare_url:
        quoted = json.dumps(response.text).encode()
        answer = SpecResponse(response, content_type="application/json", data=quoted)
    spec.validate_response(request, answer)


def test_every_accepted_request_matches_the_spec(spec, exchanges):
    client, seen = exchanges
    exercise(client)
    accepted = [r for r in seen if r.is_success]
    assert len(accepted) == 18
    for response in accepted:
        spec.validate_request(SpecRequest(response.request))


def test_every_documented_answer_matches_the_spec(spec, exchanges):
    client, seen = exchanges
    exercise(client)
    documented = [
        r for r in seen if r.is_success or r.request.method == "PUT" or is_flow_request(r)
    ]
    assert {r.status_code for r in documented} == {200, 201, 400, 404, 422}
    for response in documented:
        validate_answer(spec, response)
    assert all(r.status_code in (200, 201, 400, 404, 422) for r in seen)


def test_quoted_signed_url_matches_the_spec_as_it_is(spec, tmp_path):
    emulator = Emulator(tmp_path, api_key=KEY, quote_signed_url=True)
    with emulator, httpx.Client(base_url=emulator.url, headers={"api-key": KEY}) as client:
        response = client.get(COMMITS, params={"flowName": "qPCR_Analysis"})
        spec.validate_response(SpecRequest(response.request), SpecResponse(response))


def test_bodies_the_spec_refuses_are_refused(spec, exchanges):
    client, _ = exchanges
    malformed = [
        {"fileMap": {}, "message": "m"},
        {"fileMap": {}, "authorEmail": "not-an-email", "message": "m"},
        {"fileMap": [], "authorEmail": "dev@example.com", "message": "m"},
        {"fileMap": {}, "authorEmail": "dev@example.com", "message": "m", "dry_run": "no"},
    ]
    for document in malformed:
        response = client.put(COMMITS, json=document)
        assert response.status_code == 400
        with pytest.raises(OpenAPIError):
            spec.validate_request(SpecRequest(response.request))


def test_undocumented_errors_are_plain_text_messages(emulator, exchanges):
    client, _ = exchanges
    answers = [
        httpx.get(emulator.url + COMMITS),
        client.get("/v0/environment/qa/commits"),
        client.get(COMMITS, params={"flowName": "Missing"}),
        client.get(FLOWS, params={"pageSize": 0}),
    ]
    assert [a.status_code for a in answers] == [401, 404, 404, 400]
    for answer in answers:
        assert answer.headers["content-type"].startswith("text/plain")
        assert answer.text


def test_flow_bodies_the_spec_refuses_are_refused(spec, exchanges):
    client, _ = exchanges
    malformed = [
        ("POST", FLOWS_V1, {"name": "No author"}),
        ("POST", FLOWS_V1, {"authorEmail": "dev@example.com"}),
        ("PUT", f"{FLOWS_V1}/qPCR_Analysis/pipeline", {"tasks": {"A": STEP}}),
        ("PUT", f"{FLOWS_V1}/qPCR_Analysis/pipeline",
         {"tasks": {"A": {"params": {}}}, "authorEmail": "dev@example.com"}),
        ("PATCH", f"{FLOWS_V1}/qPCR_Analysis/settings", {"max_active_runs": "two"}),
    ]  # fmt: skip
    for method, path, document in malformed:
        response = client.request(method, path, json=document)
        assert response.status_code == 400, (path, document, response.text)
        with pytest.raises(OpenAPIError):
            spec.validate_request(SpecRequest(response.request))
