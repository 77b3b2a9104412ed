"""A delivery's own span: made for a sampled record's trace, and for a record without one (the
sampler decides), never for a record whose trace was left out; that record's context stays."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bkn_sync.batch import _span_if_sampled
from kinerja_shared import telemetry

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C


def record_span(sampled: bool) -> trace.NonRecordingSpan:
    """The context a record's traceparent brings (remote, sampled or not)."""
    flags = trace.TraceFlags.SAMPLED if sampled else trace.TraceFlags.DEFAULT
    return trace.NonRecordingSpan(
        trace.SpanContext(
            trace_id=TRACE_ID,
            span_id=0x00F067AA0BA902B7,
            is_remote=True,
            trace_flags=trace.TraceFlags(flags),
        )
    )


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    provider = telemetry.setup_tracing("bkn-sync-test")
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # it stays on the process's provider: keep no more spans


def delivery_spans(exporter: InMemorySpanExporter) -> list[str]:
    return [s.name for s in exporter.get_finished_spans() if s.name == "bkn-sync deliver SKP"]


def test_a_sampled_record_gets_the_deliverys_span_in_its_trace(
    exported: InMemorySpanExporter,
) -> None:
    with trace.use_span(record_span(sampled=True)), _span_if_sampled("bkn-sync deliver SKP"):
        inside = trace.get_current_span().get_span_context()
    assert inside.trace_id == TRACE_ID
    assert inside.span_id != 0x00F067AA0BA902B7
    assert delivery_spans(exported) == ["bkn-sync deliver SKP"]


def test_an_unsampled_record_keeps_its_context_and_gets_no_span(
    exported: InMemorySpanExporter,
) -> None:
    parent = record_span(sampled=False)
    with trace.use_span(parent), _span_if_sampled("bkn-sync deliver SKP"):
        inside = trace.get_current_span()
    assert inside is parent
    assert delivery_spans(exported) == []


def test_a_record_without_a_trace_lets_the_sampler_decide(
    exported: InMemorySpanExporter,
) -> None:
    with _span_if_sampled("bkn-sync deliver SKP"):
        inside = trace.get_current_span().get_span_context()
    # A new root: valid ids of its own (exported or not is the ratio sampler's choice).
    assert inside.is_valid
    assert inside.trace_id != TRACE_ID
