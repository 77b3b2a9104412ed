"""The shared HTTP doors, in process: size limits act before authentication and parsing, the
access line names the route and never the path, exported spans carry no NIP, and the API
documentation and metrics are served only where the settings say."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Header, Request
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from kinerja_shared import pii, tracing_attrs
from kinerja_shared.errors import install_error_handlers
from kinerja_shared.middleware import AccessLog, RequestLimits
from kinerja_shared.service import create_service_app
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.telemetry import RedactingExporter

NIP = "198609262015051001"
LIMIT = 4096
parsed: list[str] = []


class Body(BaseModel):
    text: str


def _needs_token(authorization: Annotated[str | None, Header()] = None) -> None:
    if authorization != "Bearer ok":
        raise PermissionError


def build_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.exception_handler(PermissionError)
    async def _unauthenticated(_: Request, __: PermissionError) -> Any:
        from fastapi.responses import JSONResponse

        return JSONResponse({"code": "AUTH_MISSING", "message": "m"}, status_code=401)

    @app.post("/teachers/{nip}/notes", dependencies=[Depends(_needs_token)])
    async def note(nip: str, body: Body) -> dict[str, str]:
        parsed.append(body.text)
        tracing_attrs.annotate(nip=nip)
        return {"ok": "yes"}

    app.add_middleware(RequestLimits, max_body_bytes=LIMIT)
    app.add_middleware(AccessLog, router=app.router)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    parsed.clear()
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


def _refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert body["message"]
    assert "correlation_id" in body


async def test_a_body_over_the_limit_is_refused_before_authentication_and_parsing(
    client: httpx.AsyncClient,
) -> None:
    big = b'{"text": "' + b"x" * (LIMIT + 1) + b'"}'

    response = await client.post(f"/teachers/{NIP}/notes", content=big)

    _refused(response, 413, "REQUEST_TOO_LARGE")
    assert parsed == []


async def test_a_chunked_body_is_counted_as_it_arrives(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(10):
            yield b"y" * 1024
        yield b'"}'

    response = await client.post(
        f"/teachers/{NIP}/notes", content=chunks(), headers={"Authorization": "Bearer ok"}
    )

    _refused(response, 413, "REQUEST_TOO_LARGE")
    assert parsed == []


async def test_a_chunked_body_under_the_limit_reaches_the_route_whole(
    client: httpx.AsyncClient,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        yield b"z" * 100
        yield b'"}'

    response = await client.post(
        f"/teachers/{NIP}/notes",
        content=chunks(),
        headers={"Authorization": "Bearer ok", "Content-Type": "application/json"},
    )

    assert response.status_code == 200, response.text
    assert parsed == ["z" * 100]


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("If-Match", "1" * 4300),
        ("Idempotency-Key", "k" * 300),
        ("Authorization", "Bearer " + "a" * 20_000),
    ],
)
async def test_an_overlong_header_we_parse_is_431_with_a_code(
    client: httpx.AsyncClient, header: str, value: str
) -> None:
    response = await client.post(
        f"/teachers/{NIP}/notes", json={"text": "t"}, headers={header: value}
    )

    _refused(response, 431, "HEADER_TOO_LARGE")


@pytest.mark.parametrize(
    "url",
    [f"/teachers/{'1' * 3000}/notes", f"/teachers/{NIP}/notes?nip={'9' * 3000}"],
)
async def test_an_overlong_path_or_query_is_414_with_a_code_before_any_parsing(
    client: httpx.AsyncClient, url: str
) -> None:
    response = await client.post(url, json={"text": "t"}, headers={"Authorization": "Bearer ok"})

    _refused(response, 414, "URI_TOO_LONG")
    assert parsed == []


async def test_the_access_line_names_the_route_never_the_path(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="kinerja.access"):
        await client.post(
            f"/teachers/{NIP}/notes?nip={NIP}",
            json={"text": "t"},
            headers={"Authorization": "Bearer ok"},
        )
        await client.post(f"/teachers/{NIP}/notes", content=b"x" * (LIMIT + 10))

    lines = [r for r in caplog.records if r.name == "kinerja.access"]
    assert [(r.getMessage(), r.__dict__["http_status"]) for r in lines] == [
        ("POST /teachers/{nip}/notes 200", 200),
        # Refused before routing, yet logged under the route it was meant for.
        ("POST /teachers/{nip}/notes 413", 413),
    ]
    assert all(NIP not in repr(r.__dict__) for r in lines)


@pytest.fixture
def exported() -> Iterator[tuple[InMemorySpanExporter, FastAPI]]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(RedactingExporter(memory)))
    app = build_app()
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    yield memory, app
    FastAPIInstrumentor.uninstrument_app(app)


async def test_exported_spans_carry_the_token_never_the_nip(
    exported: tuple[InMemorySpanExporter, FastAPI],
) -> None:
    memory, app = exported
    pii.configure(None, dev=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.post(
            f"/teachers/{NIP}/notes?nip={NIP}",
            json={"text": "t"},
            headers={"Authorization": "Bearer ok"},
        )
    assert response.status_code == 200

    spans = memory.get_finished_spans()
    assert spans
    dumped = repr([(s.name, dict(s.attributes or {}), s.events) for s in spans])
    assert NIP not in dumped
    server = [s for s in spans if (s.attributes or {}).get(tracing_attrs.NIP)]
    assert [(s.attributes or {})[tracing_attrs.NIP] for s in server] == [pii.nip_token(NIP)]
    assert pii.nip_token(NIP) in dumped  # also in the URL attributes, searchable alike


class _Settings(ServiceSettings):
    database_url: str = "postgresql://u:p@127.0.0.1:9/x"
    db_schema: str = "doors"
    consumer_group: str = "doors"
    jwt_jwks_url: str = "file:///nonexistent/jwks.json"


def _service(**values: Any) -> FastAPI:
    return create_service_app(
        "doors", _Settings(**values), routers=[], register=lambda _: None, title="doors"
    )


@pytest.mark.parametrize(
    ("values", "served"),
    [
        ({}, True),  # dev: documentation on
        ({"api_docs": False}, False),
        ({"env": "prod", "jwt_jwks_url": "https://idp/jwks", "jwt_issuer": "https://idp"}, False),
        (
            {
                "env": "prod",
                "jwt_jwks_url": "https://idp/jwks",
                "jwt_issuer": "https://idp",
                "api_docs": True,
            },
            True,
        ),
    ],
)
async def test_api_documentation_is_served_only_where_the_settings_say(
    values: dict[str, Any], served: bool
) -> None:
    transport = httpx.ASGITransport(app=_service(**values))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        statuses = {p: (await http.get(p)).status_code for p in ("/docs", "/openapi.json")}

    assert statuses == dict.fromkeys(statuses, 200 if served else 404)


@pytest.mark.parametrize(("metrics_port", "status"), [(None, 200), (19464, 404)])
async def test_metrics_leave_the_api_port_when_they_have_their_own(
    metrics_port: int | None, status: int
) -> None:
    transport = httpx.ASGITransport(app=_service(metrics_port=metrics_port))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/metrics")).status_code == status
