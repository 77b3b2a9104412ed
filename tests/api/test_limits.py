"""Limits at every door, on the real servers: a body too large is refused by its announced size
(or by counting a chunked one) before authentication and parsing; an over-long header is a 4xx
with a code; every string and list of every request body is bounded in the OpenAPI document and
on the wire; and the service still answers afterwards."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from apifuzz import REQUEST_TIMEOUT, RunningService, openapi_document

from kinerja_shared.settings import DEFAULT_MAX_REQUEST_BYTES

pytestmark = pytest.mark.infra

SERVICES = ("planning", "observation", "assessment", "predikat", "bkn_sync")
# An operation of each service that takes a body, for the size tests.
BODY_ROUTE = {
    "planning": "/plans",
    "observation": "/observations/{nip}/2026/followup/reflection",
    "assessment": "/sekolah/{npsn}/2026/kirim-ke-dinas",
    "predikat": "/sekolah/{npsn}/2026/tetapkan",
    "bkn_sync": "/redrive",
}
HUNDRED_MB = 100 * 1024 * 1024


@pytest.fixture(params=SERVICES)
def running(request: pytest.FixtureRequest) -> RunningService:
    service: RunningService = request.getfixturevalue(f"{request.param}_api")
    return service


def _path(running: RunningService) -> str:
    p = running.people
    return BODY_ROUTE[running.name].format(nip=p.guru, npsn=p.npsn)


@pytest.fixture
def connection(running: RunningService) -> Iterator[socket.socket]:
    url = urlparse(running.url)
    sock = socket.create_connection((url.hostname, url.port), timeout=REQUEST_TIMEOUT)
    yield sock
    sock.close()


def _read_response(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(
        int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the middle of the answer"
        body += chunk
    return status, json.loads(body[:length])


def _still_serving(running: RunningService) -> None:
    response = httpx.post(
        running.url + _path(running), json={}, headers=running.headers("operator"), timeout=10
    )
    assert 400 <= response.status_code < 500 or response.status_code < 300, response.text
    assert response.json()


def test_an_announced_100_mb_body_is_refused_before_any_byte_of_it_is_read(
    running: RunningService, connection: socket.socket
) -> None:
    connection.sendall(
        f"POST {_path(running)} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {HUNDRED_MB}\r\n\r\n".encode()
    )

    status, body = _read_response(connection)

    # 413, not 401: the missing token was never looked at, nor the body read.
    assert (status, body["code"]) == (413, "REQUEST_TOO_LARGE")
    assert body["message"]
    assert "correlation_id" in body
    _still_serving(running)


def test_a_chunked_body_is_refused_once_it_passes_the_limit(
    running: RunningService, connection: socket.socket
) -> None:
    token = running.token("operator")
    connection.sendall(
        f"POST {_path(running)} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    )
    chunk = b"[" + b"1," * 32 * 1024
    sent = 0
    # The server answers while the client is still sending; stop when the answer is there.
    connection.setblocking(False)
    try:
        while sent <= DEFAULT_MAX_REQUEST_BYTES * 2:
            try:
                connection.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            except BlockingIOError:
                break
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        connection.setblocking(True)

    status, body = _read_response(connection)

    assert (status, body["code"]) == (413, "REQUEST_TOO_LARGE")
    _still_serving(running)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("If-Match", "1" * 4300),
        ("Idempotency-Key", "k" * 10_000),
        ("Authorization", "Bearer " + "a" * 12_000),
    ],
)
def test_an_overlong_header_is_a_4xx_with_a_code(
    running: RunningService, header: str, value: str
) -> None:
    response = httpx.post(
        running.url + _path(running), json={}, headers={header: value}, timeout=10
    )

    assert response.status_code == 431, response.text
    assert response.json()["code"] == "HEADER_TOO_LARGE"
    _still_serving(running)


def _edit_with_if_match(planning_api: RunningService, if_match: str) -> httpx.Response:
    [plan_id] = planning_api.known["plan_id"]
    return httpx.put(
        f"{planning_api.url}/plans/{plan_id}",
        json={"sub_indikator": "D1.4", "indikator_kompetensi": "KP.3"},
        headers={**planning_api.headers("guru"), "If-Match": if_match},
        timeout=10,
    )


@pytest.mark.parametrize(
    ("if_match", "status", "code"),
    [
        ("9" * 60, 409, "V-15"),  # a number no version has: stale, not int() of it
        ('"' + "9" * 70 + '"', 422, "VALIDATION_ERROR"),  # longer than the declared 64
    ],
)
def test_an_if_match_no_version_has_is_answered_never_500(
    planning_api: RunningService, if_match: str, status: int, code: str
) -> None:
    response = _edit_with_if_match(planning_api, if_match)

    assert (response.status_code, response.json()["code"]) == (status, code), response.text


def test_the_current_version_as_a_weak_etag_is_not_stale(planning_api: RunningService) -> None:
    [plan_id] = planning_api.known["plan_id"]
    current = httpx.get(
        f"{planning_api.url}/plans/{plan_id}", headers=planning_api.headers("guru"), timeout=10
    )

    response = _edit_with_if_match(planning_api, f'W/"{current.json()["version"]}"')

    # The fuzz tests may have moved the plan on (a state conflict); never a stale version.
    assert response.status_code < 500, response.text
    assert response.json().get("code") != "V-15", response.text


# --- bounds of every request body --------------------------------------------------------------


def _unbounded(schema: Any, components: dict[str, Any], where: str, seen: set[str]) -> list[str]:
    """Where a request schema holds a string, list or map without a maximum."""
    if not isinstance(schema, dict):
        return []
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[1]
        if name in seen:
            return []
        return _unbounded(components[name], components, name, seen | {name})
    found: list[str] = []
    kind = schema.get("type")
    bounded_text = {"enum", "const", "maxLength"} & schema.keys() or schema.get("format") in (
        "date-time",
    )
    if kind == "string" and not bounded_text:
        found.append(f"{where}: string without maxLength")
    if kind == "array":
        if "maxItems" not in schema:
            found.append(f"{where}: array without maxItems")
        found += _unbounded(schema.get("items"), components, f"{where}[]", seen)
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        if "maxProperties" not in schema:
            found.append(f"{where}: map without maxProperties")
        found += _unbounded(schema["additionalProperties"], components, f"{where}{{}}", seen)
        found += _unbounded(schema.get("propertyNames"), components, f"{where} key", seen)
        if "propertyNames" not in schema:
            found.append(f"{where}: map keys without maxLength")
    for name, sub in (schema.get("properties") or {}).items():
        found += _unbounded(sub, components, f"{where}.{name}", seen)
    for combinator in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(combinator) or []:
            found += _unbounded(sub, components, where, seen)
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_string_and_list_a_request_carries_has_a_maximum(service: str) -> None:
    document = openapi_document(service)
    components = document.get("components", {}).get("schemas", {})
    problems: list[str] = []
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            if "schema" in body:
                problems += _unbounded(body["schema"], components, f"{method} {path}", set())
            for parameter in op.get("parameters", []):
                if parameter["in"] == "header":
                    problems += _unbounded(
                        parameter["schema"],
                        components,
                        f"{method} {path} {parameter['name']}",
                        set(),
                    )
    assert problems == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/observations/{guru}/2026/duties", {"tugas": ["x"] * 21}),
        ("PUT", "/observations/{guru}/2026/duties", {"tugas": ["x" * 1001]}),
        ("POST", "/observations/{guru}/2026/followup/reflection", {"reflection": "r" * 5001}),
        (
            "PUT",
            "/observations/{guru}/2026/competency",
            {"activities": [{"text": "a"}], "reflection": "r" * 5001},
        ),
    ],
)
def test_a_field_over_its_maximum_is_refused_before_the_route(
    observation_api: RunningService, method: str, path: str, body: dict[str, Any]
) -> None:
    p = observation_api.people
    response = httpx.request(
        method,
        observation_api.url + path.format(guru=p.guru),
        json=body,
        headers=observation_api.headers("guru"),
        timeout=10,
    )

    assert (response.status_code, response.json()["code"]) == (422, "VALIDATION_ERROR")
    assert response.json()["errors"], response.text
