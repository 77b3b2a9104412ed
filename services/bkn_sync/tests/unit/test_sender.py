"""The sender's quick retries and request shape, over an in-memory transport."""

from __future__ import annotations

import uuid

import httpx
from opentelemetry import trace

from bkn_sync.config import Settings
from bkn_sync.domain.classify import Verdict
from bkn_sync.sender import Request, Sender
from kinerja_shared import telemetry

NIP = "198609262015051001"
KEY = uuid.uuid4()


def settings(**overrides: object) -> Settings:
    base: dict[str, object] = {
        "database_url": "postgresql://unused",
        "jwt_jwks_url": "file:///unused",
        "quick_attempts": 3,
        "quick_wait_max_seconds": 0.01,
    }
    return Settings(**(base | overrides))  # type: ignore[arg-type]


def sender_answering(*responses: httpx.Response, seen: list[httpx.Request]) -> Sender:
    answers = iter(responses)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(answers)

    return Sender(settings(), transport=httpx.MockTransport(handle))


REQUEST = Request("PREDIKAT", NIP, "2025", KEY, {"nip": NIP, "version": 2})


async def test_each_attempt_puts_the_same_key_and_the_trace_context() -> None:
    seen: list[httpx.Request] = []
    sender = sender_answering(httpx.Response(503), httpx.Response(201), seen=seen)
    tracer = telemetry.setup_tracing("bkn-sync-test").get_tracer("test")

    with tracer.start_as_current_span("deliver"):
        trace_id = format(trace.get_current_span().get_span_context().trace_id, "032x")
        result = await sender.deliver(REQUEST)

    assert result.outcome.verdict is Verdict.DELIVERED
    assert result.attempts == 2
    assert [r.method for r in seen] == ["PUT", "PUT"]
    assert {r.url.path for r in seen} == {f"/predikat/{NIP}/2025"}
    assert {r.headers["Idempotency-Key"] for r in seen} == {str(KEY)}
    assert all(trace_id in r.headers["traceparent"] for r in seen)
    await sender.aclose()


async def test_a_permanent_refusal_is_not_retried() -> None:
    seen: list[httpx.Request] = []
    refusal = httpx.Response(422, json={"code": "NIP_NOT_FOUND", "message": "x"})
    sender = sender_answering(refusal, seen=seen)

    result = await sender.deliver(REQUEST)

    assert (result.outcome.verdict, result.outcome.code, result.attempts) == (
        Verdict.PARK,
        "BKN-E01",
        1,
    )
    await sender.aclose()


async def test_quick_attempts_end_transient_with_every_error_kept() -> None:
    seen: list[httpx.Request] = []
    sender = sender_answering(*(httpx.Response(500) for _ in range(3)), seen=seen)

    result = await sender.deliver(REQUEST)

    assert result.outcome.verdict is Verdict.TRANSIENT
    assert result.attempts == 3
    assert len(result.errors) == 3
    await sender.aclose()


async def test_a_long_retry_after_is_left_to_the_retry_tier() -> None:
    seen: list[httpx.Request] = []
    limited = httpx.Response(429, headers={"Retry-After": "120"}, json={"code": "RATE_LIMITED"})
    sender = sender_answering(limited, seen=seen)

    result = await sender.deliver(REQUEST)

    assert (result.outcome.code, result.outcome.retry_after, result.attempts) == ("BKN-T03", 120, 1)
    await sender.aclose()


async def test_a_short_retry_after_is_honoured_in_process() -> None:
    seen: list[httpx.Request] = []
    limited = httpx.Response(429, headers={"Retry-After": "0"}, json={"code": "RATE_LIMITED"})
    sender = sender_answering(limited, httpx.Response(200), seen=seen)

    result = await sender.deliver(REQUEST)

    assert (result.outcome.verdict, result.attempts) == (Verdict.DELIVERED, 2)
    await sender.aclose()
