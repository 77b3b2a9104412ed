"""The sender's quick retries, request shape and trace context, over real HTTP (an aiohttp
server on a loopback port answering from a script)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bkn_sync.config import Settings
from bkn_sync.domain.classify import Verdict
from bkn_sync.sender import Request, Sender
from kinerja_shared import telemetry

NIP = "198609262015051001"
KEY = uuid.uuid4()
REQUEST = Request(
    "PREDIKAT", NIP, "2025", KEY, {"nip": NIP, "version": 2}, f"PREDIKAT:{NIP}:2025", 4
)

Answer = Callable[[], web.StreamResponse]


def settings(url: str, **overrides: object) -> Settings:
    base: dict[str, object] = {
        "database_url": "postgresql://unused",
        "jwt_jwks_url": "file:///unused",
        "ekinerja_url": url,
        "quick_attempts": 3,
        "quick_wait_max_seconds": 0.01,
    }
    return Settings(**(base | overrides))  # type: ignore[arg-type]


@asynccontextmanager
async def sender_answering(
    *answers: Answer,
    seen: list[web.Request],
    bodies: list[bytes] | None = None,
    arrived: list[float] | None = None,
    **overrides: object,
) -> AsyncIterator[Sender]:
    script = iter(answers)

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        if arrived is not None:
            arrived.append(time.monotonic())
        if bodies is not None:
            bodies.append(await request.read())
        return next(script)()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    sender = Sender(settings(str(server.make_url("")), **overrides))
    try:
        yield sender
    finally:
        await sender.aclose()
        await server.close()


def status(http_status: int, **json: object) -> Answer:
    return lambda: web.json_response(json or None, status=http_status)


async def test_each_attempt_puts_the_same_key_body_and_trace_context() -> None:
    seen: list[web.Request] = []
    bodies: list[bytes] = []
    provider = telemetry.setup_tracing("bkn-sync-test")
    exported = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracer = provider.get_tracer("test")

    async with sender_answering(status(503), status(201), seen=seen, bodies=bodies) as sender:
        with tracer.start_as_current_span("deliver"):
            trace_id = format(trace.get_current_span().get_span_context().trace_id, "032x")
            result = await sender.deliver(REQUEST)

    assert result.outcome.verdict is Verdict.DELIVERED
    assert result.attempts == 2
    assert [r.method for r in seen] == ["PUT", "PUT"]
    assert {r.path for r in seen} == {f"/predikat/{NIP}/2025"}
    assert {r.headers["Idempotency-Key"] for r in seen} == {str(KEY)}
    assert {r.headers["Content-Type"] for r in seen} == {"application/json"}
    assert all(trace_id in r.headers["traceparent"] for r in seen)
    assert bodies == [b'{"nip": "198609262015051001", "version": 2}'] * 2
    # One client span per PUT, each saying which delivery and which attempt it was.
    # (The exporter sees every span of the process: asyncpg's are CLIENT spans as well.)
    puts = [
        s
        for s in exported.get_finished_spans()
        if s.kind is trace.SpanKind.CLIENT and s.name.startswith("PUT")
    ]
    assert [s.attributes["kinerja.attempt"] for s in puts] == [5, 6]  # after 4 earlier ones
    assert {s.attributes["kinerja.delivery_id"] for s in puts} == {REQUEST.delivery_id}
    assert {s.attributes["kinerja.nip"] for s in puts} == {NIP}
    assert {s.attributes["kinerja.period_id"] for s in puts} == {"2025"}
    assert [
        s.attributes.get("http.response.status_code", s.attributes.get("http.status_code"))
        for s in puts
    ] == [503, 201]
    exported.shutdown()  # it stays on the process's provider: keep no more spans


async def test_an_unsampled_delivery_puts_its_trace_context_without_a_client_span() -> None:
    seen: list[web.Request] = []
    provider = telemetry.setup_tracing("bkn-sync-test")
    exported = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    # A delivery whose trace the sampler left out (9 of 10 under the prod overlay's 10 %).
    parent = trace.NonRecordingSpan(
        trace.SpanContext(
            trace_id=0x0AF7651916CD43DD8448EB211C80319C,
            span_id=0x00F067AA0BA902B7,
            is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.DEFAULT),
        )
    )

    async with sender_answering(status(503), status(201), seen=seen) as sender:
        with trace.use_span(parent):
            result = await sender.deliver(REQUEST)

    assert (result.outcome.verdict, result.attempts) == (Verdict.DELIVERED, 2)
    for r in seen:
        version, trace_id, _, flags = r.headers["traceparent"].split("-")
        assert (version, trace_id, flags) == ("00", "0af7651916cd43dd8448eb211c80319c", "00")
    assert [s for s in exported.get_finished_spans() if s.name.startswith("PUT")] == []
    exported.shutdown()


async def test_a_permanent_refusal_is_not_retried() -> None:
    seen: list[web.Request] = []
    refusal = status(422, code="NIP_NOT_FOUND", message="x")

    async with sender_answering(refusal, seen=seen) as sender:
        result = await sender.deliver(REQUEST)

    assert (result.outcome.verdict, result.outcome.code, result.attempts) == (
        Verdict.PARK,
        "BKN-E01",
        1,
    )


@pytest.mark.parametrize("held", ["held_version", "current_version"])
async def test_a_conflict_is_read_by_the_version_it_says_e_kinerja_holds(held: str) -> None:
    seen: list[web.Request] = []
    # REQUEST sends version 2.
    newer = status(409, code="DATA_SUDAH_ADA", message="x", **{held: 3})
    same = status(409, code="DATA_SUDAH_ADA", message="Data sedang dikunci", **{held: 2})

    async with sender_answering(newer, same, seen=seen) as sender:
        superseded = await sender.deliver(REQUEST)
        parked = await sender.deliver(REQUEST)

    assert (superseded.outcome.verdict, superseded.outcome.code) == (Verdict.SUPERSEDE, "BKN-E11")
    assert superseded.outcome.reason == (
        "e-Kinerja sudah menyimpan versi 3 yang lebih baru dari versi 2."
    )
    assert (parked.outcome.verdict, parked.outcome.code) == (Verdict.PARK, "BKN-E12")
    assert parked.outcome.reason is not None
    assert "Data sedang dikunci" in parked.outcome.reason


async def test_quick_attempts_end_transient_with_every_error_kept() -> None:
    seen: list[web.Request] = []

    async with sender_answering(*(status(500) for _ in range(3)), seen=seen) as sender:
        result = await sender.deliver(REQUEST)

    assert result.outcome.verdict is Verdict.TRANSIENT
    assert result.attempts == 3
    assert len(result.errors) == 3


async def test_a_malformed_error_body_is_classified_by_its_status() -> None:
    seen: list[web.Request] = []
    garbage = lambda: web.Response(status=502, body=b"<html>bad gateway", content_type="text/html")  # noqa: E731

    async with sender_answering(garbage, status(200), seen=seen) as sender:
        result = await sender.deliver(REQUEST)

    assert (result.outcome.verdict, result.attempts) == (Verdict.DELIVERED, 2)
    assert "502" in result.errors[0]


async def test_a_long_retry_after_is_left_to_the_retry_tier() -> None:
    seen: list[web.Request] = []
    limited = lambda: web.json_response(  # noqa: E731
        {"code": "RATE_LIMITED"}, status=429, headers={"Retry-After": "120"}
    )

    async with sender_answering(limited, seen=seen) as sender:
        result = await sender.deliver(REQUEST)

    assert (result.outcome.code, result.outcome.retry_after, result.attempts) == ("BKN-T03", 120, 1)


async def test_a_short_retry_after_is_honoured_in_process() -> None:
    seen: list[web.Request] = []
    limited = lambda: web.json_response(  # noqa: E731
        {"code": "RATE_LIMITED"}, status=429, headers={"Retry-After": "0"}
    )

    async with sender_answering(limited, status(200), seen=seen) as sender:
        result = await sender.deliver(REQUEST)

    assert (result.outcome.verdict, result.attempts) == (Verdict.DELIVERED, 2)


async def test_nothing_listening_is_a_transient_connection_failure() -> None:
    sender = Sender(settings("http://127.0.0.1:9", quick_attempts=1))
    try:
        result = await sender.deliver(REQUEST)
    finally:
        await sender.aclose()

    assert (result.outcome.verdict, result.outcome.code) == (Verdict.TRANSIENT, "BKN-T01")
