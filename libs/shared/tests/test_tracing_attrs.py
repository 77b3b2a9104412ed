"""Business attributes on spans: kinerja.nip, period, delivery id, attempt (tracing_attrs)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from uuid import UUID

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kinerja_shared import tracing_attrs
from kinerja_shared.events.bkn_sync import DeliveryState, DeliveryStatus, RecordKind
from kinerja_shared.events.observation import ObservationConducted
from kinerja_shared.events.predikat import OrganisasiDitetapkan
from kinerja_shared.topics import (
    BKN_DELIVERY_STATUS,
    OBSERVATION_CONDUCTED,
    ORGANISASI_DITETAPKAN,
)

NIP = "198609262015051001"
NPSN = "20100001"


@pytest.fixture
def tracer() -> Iterator[tuple[trace.Tracer, InMemorySpanExporter]]:
    # A provider of our own: the global one may be set (once per process) by another test.
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("test"), exporter
    provider.shutdown()


def only(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = exporter.get_finished_spans()
    return span


def test_annotate_sets_the_four_attributes_on_the_current_span(tracer) -> None:
    t, exporter = tracer
    with t.start_as_current_span("PUT /predikat"):
        tracing_attrs.annotate(nip=NIP, period_id="2025", delivery_id="PREDIKAT:x", attempt=3)
    attrs = dict(only(exporter).attributes or {})
    assert attrs == {
        "kinerja.nip": NIP,
        "kinerja.period_id": "2025",
        "kinerja.delivery_id": "PREDIKAT:x",
        "kinerja.attempt": 3,
    }


def test_annotate_skips_none_and_prefixes_extras(tracer) -> None:
    t, exporter = tracer
    with t.start_as_current_span("handler"):
        tracing_attrs.annotate(
            nip=NIP, state=DeliveryState.PARKED, reason_code="BKN-E01", **{"kinerja.npsn": NPSN}
        )
    attrs = dict(only(exporter).attributes or {})
    assert attrs == {
        "kinerja.nip": NIP,
        "kinerja.state": "PARKED",
        "kinerja.reason_code": "BKN-E01",
        "kinerja.npsn": NPSN,
    }


def test_annotate_converts_values_otel_cannot_hold(tracer) -> None:
    t, exporter = tracer
    event_id = UUID("0190a0d6-4f2b-7cc1-8d1e-7d4a2b9f0c11")
    at = datetime(2025, 6, 30, tzinfo=UTC)
    with t.start_as_current_span("handler"):
        tracing_attrs.annotate(event=event_id, at=at, teachers=[NIP, None], mixed=[1, "a"])
    attrs = dict(only(exporter).attributes or {})
    assert attrs["kinerja.event"] == str(event_id)
    assert attrs["kinerja.at"] == at.isoformat(sep=" ")
    assert tuple(attrs["kinerja.teachers"]) == (NIP,)
    assert tuple(attrs["kinerja.mixed"]) == ("1", "a")


def test_annotate_without_a_span_or_with_tracing_off_is_a_no_op() -> None:
    # No current span: the API returns the non-recording INVALID_SPAN.
    tracing_attrs.annotate(nip=NIP, period_id="2025", delivery_id="d", attempt=1)
    tracing_attrs.annotate_envelope(object())


def conducted() -> ObservationConducted:
    return ObservationConducted(
        observation_id="obs-1",
        plan_id="plan-1",
        nip=NIP,
        npsn=NPSN,
        period_id="2025",
        observer_nip="197001012000011001",
        conducted_at=datetime(2025, 3, 3, tzinfo=UTC),
        rubric_scores={"a": 3},
        practice_rating="BAIK",
    )


def test_annotate_envelope_takes_nip_from_subject_and_period_from_payload(tracer) -> None:
    t, exporter = tracer
    envelope = OBSERVATION_CONDUCTED.envelope(NIP, conducted())
    with t.start_as_current_span("kinerja.observation.conducted.v1 process"):
        tracing_attrs.annotate_envelope(envelope)
    attrs = dict(only(exporter).attributes or {})
    assert attrs == {
        "kinerja.nip": NIP,
        "kinerja.npsn": NPSN,
        "kinerja.period_id": "2025",
        "kinerja.event_id": str(envelope.event_id),
        "kinerja.event_type": "observation.conducted",
    }


def test_annotate_envelope_carries_delivery_id_and_attempt_of_a_status(tracer) -> None:
    t, exporter = tracer
    status = DeliveryStatus(
        delivery_id="PREDIKAT:198609262015051001:2025",
        kind=RecordKind.PREDIKAT,
        nip=NIP,
        npsn=NPSN,
        period_id="2025",
        version=2,
        state=DeliveryState.RETRYING,
        attempts=4,
        at=datetime(2025, 12, 20, tzinfo=UTC),
    )
    with t.start_as_current_span("status"):
        tracing_attrs.annotate_envelope(BKN_DELIVERY_STATUS.envelope(NIP, status))
    attrs = dict(only(exporter).attributes or {})
    assert attrs["kinerja.delivery_id"] == "PREDIKAT:198609262015051001:2025"
    assert attrs["kinerja.attempt"] == 4
    assert attrs["kinerja.nip"] == NIP


def test_a_school_subject_is_an_npsn_not_a_nip(tracer) -> None:
    t, exporter = tracer
    payload = OrganisasiDitetapkan(
        npsn=NPSN,
        period_id="2025",
        predikat_organisasi="BAIK",
        ditetapkan_by="196501011990031001",
        ditetapkan_at=datetime(2025, 12, 1, tzinfo=UTC),
    )
    with t.start_as_current_span("org"):
        tracing_attrs.annotate_envelope(ORGANISASI_DITETAPKAN.envelope(NPSN, payload))
    attrs = dict(only(exporter).attributes or {})
    assert "kinerja.nip" not in attrs
    assert attrs["kinerja.npsn"] == NPSN
    assert attrs["kinerja.period_id"] == "2025"


@pytest.mark.parametrize(
    "subject",
    ["19860926201505100", "1986092620150510011", "١٩٨٦٠٩٢٦٢٠١٥٠٥١٠٠١"],
    ids=["17-digits", "19-digits", "arabic-indic-digits"],
)
def test_a_subject_that_is_not_18_ascii_digits_is_not_a_nip(tracer, subject: str) -> None:
    t, exporter = tracer
    envelope = SimpleNamespace(
        event_id="e", type="x", subject=subject, payload={"period_id": "2025"}
    )
    with t.start_as_current_span("s"):
        tracing_attrs.annotate_envelope(envelope)
    attrs = dict(only(exporter).attributes or {})
    assert "kinerja.nip" not in attrs
    assert attrs["kinerja.period_id"] == "2025"


def test_path_params_of_a_route_annotate_the_server_span(tracer) -> None:
    t, exporter = tracer
    with t.start_as_current_span("GET /predikat/{nip}/{period}"):
        tracing_attrs.annotate_path_params({"nip": NIP, "period": "2025", "npsn": NPSN})
    attrs = dict(only(exporter).attributes or {})
    assert attrs == {"kinerja.nip": NIP, "kinerja.period_id": "2025", "kinerja.npsn": NPSN}
