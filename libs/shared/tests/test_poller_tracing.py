"""Pollers start no traces; a real flow keeps every span, also the ones a poller makes for it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from crash_harness import Probe, probe_topic
from faststream.kafka import KafkaBroker
from kafka_support import create_topic, read_all
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision

from kinerja_shared import db, outbox, telemetry
from kinerja_shared.broker_telemetry import KafkaTelemetry
from kinerja_shared.outbox import OutboxRelay
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.stack import Stack


class _WhileActive(SpanProcessor):
    """Hands spans to ``inner`` only during one test: the process's tracer provider is global
    and outlives it."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner
        self.active = True

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if self.active:
            self.inner.on_end(span)


@pytest.fixture
def exported() -> Iterator[tuple[InMemorySpanExporter, TracerProvider]]:
    provider = telemetry.setup_tracing("poller-test")
    AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]
    memory = InMemorySpanExporter()
    processor = _WhileActive(SimpleSpanProcessor(memory))
    provider.add_span_processor(processor)
    yield memory, provider
    processor.active = False


def test_a_root_query_or_a_root_span_in_a_poller_is_dropped_and_a_child_is_not() -> None:
    sampler = telemetry.FlowSampler(ALWAYS_ON)
    query = {"db.system": "postgresql"}

    def decision(attributes: dict[str, str] | None = None) -> Decision:
        return sampler.should_sample(None, 1, "SELECT", attributes=attributes).decision

    assert decision(query) is Decision.DROP
    assert decision() is Decision.RECORD_AND_SAMPLE
    with telemetry.poller():
        assert decision() is Decision.DROP
        parent = trace.NonRecordingSpan(
            trace.SpanContext(7, 8, is_remote=True, trace_flags=trace.TraceFlags(1))
        )
        with trace.use_span(parent):
            assert decision(query) is Decision.RECORD_AND_SAMPLE
    assert "FlowSampler" in sampler.get_description()


@pytest.mark.parametrize(
    ("traceparent", "unsampled"),
    [
        ("00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-00", True),
        ("00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-02", True),  # other flags only
        ("00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01", False),
        ("00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-03", False),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-00", False),  # invalid: no trace
        ("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-00", False),
        ("00-0AF7651916CD43DD8448EB211C80319C-00f067aa0ba902b7-00", False),  # W3C: lowercase
        ("00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-00-x", False),
        ("", False),
    ],
)
def test_unsampled_headers_are_told_as_extracting_them_would(
    traceparent: str, unsampled: bool
) -> None:
    headers = {"traceparent": traceparent} if traceparent else {}
    assert telemetry.carries_unsampled_trace(headers) is unsampled
    token = telemetry.attach_headers(headers)
    try:
        assert telemetry.in_unsampled_trace() is unsampled
    finally:
        telemetry.detach(token)


@pytest.mark.infra
async def test_relay_rounds_make_no_spans_and_a_published_event_keeps_its_trace(
    stack: Stack, fresh_schema: str, exported: tuple[InMemorySpanExporter, TracerProvider]
) -> None:
    memory, provider = exported
    topic = probe_topic(await create_topic(stack.kafka_bootstrap))
    pool = await db.create_pool(stack.pg_admin_dsn, fresh_schema)
    broker = KafkaBroker(
        stack.kafka_bootstrap,
        enable_idempotence=True,
        acks="all",
        middlewares=(KafkaTelemetry(tracer_provider=provider),),
    )
    await broker.start()
    relay = OutboxRelay(pool, broker, fresh_schema, poll_seconds=0.05)
    try:
        run = asyncio.create_task(relay.run())
        # Idle rounds: the lock, the polls, their transactions.
        await wait_for(lambda: _async(relay.status.last_round_at is not None), what="a relay round")
        idle_rounds_done = relay.status.last_round_at
        await wait_for(
            lambda: _async(relay.status.last_round_at != idle_rounds_done),
            what="another relay round",
        )
        assert memory.get_finished_spans() == ()

        # A real flow: a request writes an event; the relay publishes it.
        tracer = provider.get_tracer("test")
        with tracer.start_as_current_span("POST /probe") as request:
            async with pool.acquire() as conn, conn.transaction():
                await outbox.add_event(conn, topic, "a", Probe(n=1))
        trace_id = request.get_span_context().trace_id
        records = await read_all(stack.kafka_bootstrap, topic.name, at_least=1)
        assert len(records) == 1

        def of_flow() -> list[ReadableSpan]:
            return [s for s in memory.get_finished_spans() if s.context.trace_id == trace_id]

        await wait_for(
            lambda: _async(any(s.kind is trace.SpanKind.PRODUCER for s in of_flow())),
            what="the relay's producer span in the request's trace",
        )
        flow = of_flow()
        names = [s.name for s in flow]
        assert "POST /probe" in names
        # The request's own queries: its transaction and the statement that writes the row.
        assert {"BEGIN;", "COMMIT;"} <= set(names)
        queries = [s for s in flow if (s.attributes or {}).get("db.system")]
        assert len(queries) >= 3
        # The relay published it inside the request's trace (FastStream's own span names).
        assert any(s.kind is trace.SpanKind.PRODUCER and topic.name in s.name for s in flow)
        sampled = next(r for r in records if r.key == b"a")
        _, in_trace, parent, _ = _traceparent(sampled).split("-")
        producers = {s.context.span_id for s in flow if s.kind is trace.SpanKind.PRODUCER}
        assert (int(in_trace, 16), int(parent, 16) in producers) == (trace_id, True)

        # A flow the sampler dropped: its record leaves with the context it was stored with,
        # no producer span in between (FastStream's would give it a new parent id).
        dropped = trace.SpanContext(
            0x5EED << 64 | 1, 0xD0, is_remote=True, trace_flags=trace.TraceFlags(0)
        )
        with trace.use_span(trace.NonRecordingSpan(dropped)):
            async with pool.acquire() as conn, conn.transaction():
                await outbox.add_event(conn, topic, "b", Probe(n=2))
        records = await read_all(stack.kafka_bootstrap, topic.name, at_least=2)
        unsampled = next(r for r in records if r.key == b"b")
        assert _traceparent(unsampled) == f"00-{dropped.trace_id:032x}-{dropped.span_id:016x}-00"

        # Nothing else: every exported span belongs to the request's trace.
        assert {s.context.trace_id for s in memory.get_finished_spans()} == {trace_id}
    finally:
        relay.stop()
        await run
        await broker.stop()
        await pool.close()


def _traceparent(record: Any) -> str:
    return dict(record.headers)["traceparent"].decode()


async def _async(value: bool) -> bool:
    return value
