from __future__ import annotations

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from ekinerja_sim.app import create_app
from ekinerja_sim.serving import running_simulator
from ekinerja_sim.settings import SimSettings
from ekinerja_sim.telemetry import exporter_from_env

from .conftest import NIP

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_record_request_continues_the_callers_trace_with_the_nip() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(SimSettings(), tracer_provider=provider)

    async with running_simulator(app=app) as sim, httpx.AsyncClient(base_url=sim.url) as client:
        await client.put(
            f"/skp/{NIP}/2025",
            json={"version": 1},
            headers={
                "Idempotency-Key": "k",
                "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
            },
        )

    [server_span] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert format(server_span.context.trace_id, "032x") == TRACE_ID
    assert server_span.attributes is not None
    assert server_span.attributes["kinerja.nip"] == NIP


def test_zipkin_exporter_is_chosen_by_otel_traces_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    monkeypatch.setenv("OTEL_EXPORTER_ZIPKIN_ENDPOINT", "http://127.0.0.1:9/api/v2/spans")

    exporter = exporter_from_env()

    assert type(exporter).__name__ == "ZipkinExporter"


def test_tracing_is_off_without_otel_traces_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)

    assert exporter_from_env() is None
