"""OpenTelemetry bootstrap, configured by the standard ``OTEL_*`` variables.

``OTEL_TRACES_EXPORTER`` picks the exporter (``zipkin``, ``otlp``, ``console`` or ``none``),
``OTEL_SERVICE_NAME`` names the service, ``OTEL_TRACES_SAMPLER`` samples: the SDK reads those
itself. Trace context crosses Kafka in W3C ``traceparent`` headers, written by FastStream's
telemetry middleware and, for events that wait in the outbox, stored with the row.

Every exporter is wrapped in ``RedactingExporter``: on the way out of the process, each NIP in a
span (its name, attributes, events, links and status; ``kinerja.nip``, but also the URL
attributes of a server span and the Kafka message key) becomes its keyed token
(``kinerja_shared.pii``). Spans inside the process keep the NIP, so tests and span processors
see what the code set. Production exports over TLS (``OTEL_EXPORTER_OTLP_ENDPOINT`` https in
deploy/k8s/overlays/prod); docs/security.md says why and how to follow a teacher.

Traces are users' flows. What a process does by itself on a timer (the outbox relay's polls,
scheduled checks, samplers) starts no trace: ``FlowSampler`` drops a root span opened inside
``poller()``, and any root span of a database query (a query outside every request and record
is a poller's). A span with a parent is decided by the parent as before, so the records a poller
publishes, which carry the context of the request that caused them, keep their spans.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import (
    Decision,
    Sampler,
    SamplingResult,
    _get_from_env_or_default,
)
from opentelemetry.trace import Link, SpanKind, Status
from opentelemetry.util import types

from . import pii

_provider: TracerProvider | None = None
_POLLER = context.create_key("kinerja-poller")
# Set by the database instrumentation before the span starts, so a sampler can see them.
_QUERY_ATTRIBUTES = ("db.system", "db.system.name")


@contextmanager
def poller() -> Iterator[None]:
    """Work done on a timer, for no request or record: it opens no trace of its own."""
    token = context.attach(context.set_value(_POLLER, True))
    try:
        yield
    finally:
        context.detach(token)


class FlowSampler(Sampler):
    """``inner``'s decisions, except that a poller's root spans are dropped (module doc)."""

    def __init__(self, inner: Sampler) -> None:
        self.inner = inner

    def should_sample(
        self,
        parent_context: context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if not parent.is_valid and (
            context.get_value(_POLLER, parent_context)
            or (attributes and any(a in attributes for a in _QUERY_ATTRIBUTES))
        ):
            return SamplingResult(Decision.DROP)
        return self.inner.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"FlowSampler{{{self.inner.get_description()}}}"


def _redacted_attributes(attributes: types.Attributes) -> types.Attributes:
    if not attributes:
        return attributes
    out: dict[str, types.AttributeValue] = {}
    for key, value in attributes.items():
        out[key] = pii.redact_value(value)
    return out


def redact_span(span: ReadableSpan) -> ReadableSpan:
    """A copy of ``span`` with every NIP replaced by its token."""
    status = span.status
    if status.description and pii.contains_nip(status.description):
        status = Status(status.status_code, pii.redact(status.description))
    return ReadableSpan(
        name=pii.redact(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_redacted_attributes(span.attributes),
        events=[
            Event(e.name, _redacted_attributes(e.attributes), e.timestamp) for e in span.events
        ],
        links=[Link(link.context, _redacted_attributes(link.attributes)) for link in span.links],
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class RedactingExporter(SpanExporter):
    """Hands ``inner`` copies of the spans without NIPs."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([redact_span(s) for s in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _exporter(name: str) -> SpanExporter | None:
    if name == "zipkin":
        from opentelemetry.exporter.zipkin.json import ZipkinExporter

        return ZipkinExporter()  # endpoint from OTEL_EXPORTER_ZIPKIN_ENDPOINT
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()  # endpoint from OTEL_EXPORTER_OTLP_ENDPOINT
    if name == "console":
        return ConsoleSpanExporter()
    return None


def setup_tracing(default_service_name: str) -> TracerProvider:
    """Install the global tracer provider once per process and return it."""
    global _provider
    if _provider is not None:
        return _provider
    os.environ.setdefault("OTEL_SERVICE_NAME", default_service_name)
    provider = TracerProvider(
        resource=Resource.create(),
        sampler=FlowSampler(_get_from_env_or_default()),  # OTEL_TRACES_SAMPLER, as the SDK reads it
    )
    exporter = _exporter(os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower())
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(RedactingExporter(exporter)))
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def shutdown_tracing() -> None:
    if _provider is not None:
        _provider.force_flush()


def current_trace_headers() -> dict[str, str]:
    """The W3C context of the current span, as Kafka/HTTP headers."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def trace_headers_of(headers: Mapping[str, str]) -> dict[str, str]:
    """The W3C context that ``headers`` (e.g. a consumed record's) carry, as headers again:
    what ``current_trace_headers`` gives inside ``attach_headers(headers)``, without attaching."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=propagate.extract(dict(headers)))
    return carrier


def attach_headers(headers: Mapping[str, str]) -> object:
    """Make the context carried by ``headers`` current; pass the token to ``detach``. A record
    is a flow even when a poller handles it, so the poller's mark is left behind."""
    return context.attach(propagate.extract(dict(headers), context.set_value(_POLLER, False)))


def detach(token: object) -> None:
    context.detach(token)  # type: ignore[arg-type]


def in_unsampled_trace() -> bool:
    """Whether the current context belongs to a trace the sampler dropped: a span opened now
    would be exported by nothing. False with no context at all (the sampler decides then)."""
    parent = trace.get_current_span().get_span_context()
    return parent.is_valid and not parent.trace_flags.sampled


# W3C trace context version 00: trace id, parent id, flags (bit 0: sampled); ids not all zeros.
_TRACEPARENT = re.compile(r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-([0-9a-f]{2})")


def carries_unsampled_trace(headers: Mapping[str, str]) -> bool:
    """Whether ``headers`` carry a valid ``traceparent`` of a trace the sampler dropped: what
    ``attach_headers`` then ``in_unsampled_trace`` would say, without building the context."""
    found = _TRACEPARENT.fullmatch(headers.get("traceparent", ""))
    return found is not None and not int(found.group(1), 16) & 1


def trace_id_hex() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


# Zipkin's model has no span links: the linked trace ids also go into this attribute, so the
# trace viewer shows where to walk next.
LINKED_TRACES = "kinerja.linked_traces"


@contextmanager
def linked_span(name: str, traceparents: Iterable[str | None]) -> Iterator[trace.Span]:
    """A span, current inside the block, linked to the flows whose W3C ``traceparent`` values
    are given (None and unreadable values skipped, each span once): work that acts on many
    earlier flows at once, such as a school's Kirim ke guru, belongs to none of them but points
    at each."""
    links: dict[tuple[int, int], Link] = {}
    for value in traceparents:
        if not value:
            continue
        ctx = trace.get_current_span(propagate.extract({"traceparent": value})).get_span_context()
        if ctx.is_valid:
            links.setdefault((ctx.trace_id, ctx.span_id), Link(ctx))
    traces = sorted({format(link.context.trace_id, "032x") for link in links.values()})
    tracer = trace.get_tracer("kinerja_shared.telemetry")
    with tracer.start_as_current_span(
        name, links=list(links.values()), attributes={LINKED_TRACES: ",".join(traces)}
    ) as span:
        yield span
