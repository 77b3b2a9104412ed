"""The spans this process finishes while a test looks, from the process's own tracer provider."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kinerja_shared import telemetry


class _WhileActive(SpanProcessor):
    """The SDK cannot remove a processor: this one stops passing spans on afterwards."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner, self.active = inner, True

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if self.active:
            self.inner.on_end(span)


@contextmanager
def captured_spans() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    processor = _WhileActive(SimpleSpanProcessor(memory))
    telemetry.setup_tracing("kinerja-test").add_span_processor(processor)
    try:
        yield memory
    finally:
        processor.active = False


def trace_id_of(span: object) -> str:
    """A span's (or a link's) trace id as the 32 hex digits W3C headers and Zipkin show."""
    context = getattr(span, "context", None) or span.get_span_context()  # type: ignore[attr-defined]
    return format(context.trace_id, "032x")
