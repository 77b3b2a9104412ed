"""Tracing: continue the caller's W3C trace when ``OTEL_TRACES_EXPORTER`` asks for it."""

from __future__ import annotations

import os

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

DEFAULT_SERVICE_NAME = "ekinerja-sim"


def exporter_from_env() -> SpanExporter | None:
    """The span exporter named by ``OTEL_TRACES_EXPORTER``; None leaves tracing off."""
    name = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if name == "zipkin":
        # Reads OTEL_EXPORTER_ZIPKIN_ENDPOINT itself.
        from opentelemetry.exporter.zipkin.json import ZipkinExporter

        return ZipkinExporter()
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    return None


def tracer_provider_from_env() -> TracerProvider | None:
    exporter = exporter_from_env()
    if exporter is None:
        return None
    service = os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def instrument(app: FastAPI, provider: TracerProvider) -> None:
    # The instrumentation extracts `traceparent` with the global propagator (W3C by default),
    # so server spans join the bkn-sync trace that made the call.
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
