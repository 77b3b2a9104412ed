"""The request limits keep every event a request can cause well under Kafka's 1 MB.

Each event that carries text a person typed is built at its worst: every list at its maxItems,
every string at its maxLength, every character one that JSON escapes to six bytes. The maxima
are read from the services' OpenAPI documents, so raising a limit there is checked here.
docs/security.md ("Largest event per service") lists the figures this computes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from apifuzz import openapi_document
from pydantic import BaseModel

from kinerja_shared.envelope import Envelope
from kinerja_shared.events.observation import (
    CompetencyReported,
    DutyReported,
    FollowupReflected,
    ObservationConducted,
    ObservationRescheduled,
)
from kinerja_shared.events.planning import PlanAgreed, PlanReturned, PlanRevised
from kinerja_shared.events.predikat import PredikatDitetapkan

# A quarter of Kafka's default message.max.bytes: room for headers, batching and growth.
BUDGET = 256 * 1024
WORST = "\x01"  # JSON writes it as \u0001: six bytes for one character
NIP = "198609262015051001"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
ID = "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"


def _schema(service: str, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = openapi_document(service)["components"]["schemas"][name]
    return schema


def _string(schema: dict[str, Any]) -> dict[str, Any]:
    """The string branch of a property (``str | None`` is an anyOf)."""
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "string":
            return dict(branch)
    raise AssertionError(f"no string in {schema}")


def text(service: str, model: str, field: str) -> str:
    return WORST * _string(_schema(service, model)["properties"][field])["maxLength"]


def items(service: str, model: str, field: str) -> tuple[int, str]:
    """(maxItems, the longest item) of a list of strings."""
    prop = _schema(service, model)["properties"][field]
    return prop["maxItems"], WORST * _string(prop["items"])["maxLength"]


def _size(producer: str, payload: BaseModel) -> int:
    envelope = Envelope[type(payload)](  # type: ignore[misc]
        type="t", schema_version=1, producer=producer, subject=NIP, payload=payload
    )
    return len(envelope.model_dump_json().encode())


def plan_agreed() -> BaseModel:
    n_pokok, pokok = items("planning", "CreatePlan", "tugas_pokok")
    n_tambahan = _schema("planning", "CreatePlan")["properties"]["tugas_tambahan"]["maxItems"]
    nama = text("planning", "TugasTambahanIn", "nama")
    deskripsi = text("planning", "TugasTambahanIn", "deskripsi")
    n_fokus, fokus = items("planning", "CreatePlan", "perilaku_fokus")
    return PlanAgreed(
        plan_id=ID,
        nip=NIP,
        npsn="20100001",
        period_id=text("planning", "CreatePlan", "period_id"),
        version=999_999_999,
        atasan_nip=NIP,
        sub_indikator=fokus,
        indikator_kompetensi=fokus,
        tugas_pokok=[pokok] * n_pokok,
        tugas_tambahan=[f"{nama}: {deskripsi}"] * n_tambahan,
        perilaku_fokus=[fokus] * n_fokus,
        agreed_at=NOW,
    )


def _plan_facts() -> dict[str, Any]:
    return {
        "plan_id": ID,
        "nip": NIP,
        "npsn": "20100001",
        "period_id": "2026",
        "version": 1,
        "atasan_nip": NIP,
    }


def _observation_facts() -> dict[str, Any]:
    return {
        "observation_id": ID,
        "plan_id": ID,
        "nip": NIP,
        "npsn": "20100001",
        "period_id": "2026",
    }


def competency_reported() -> BaseModel:
    n = _schema("observation", "CompetencyRequest")["properties"]["activities"]["maxItems"]
    activity = text("observation", "ActivityIn", "text")
    return CompetencyReported(
        nip=NIP,
        npsn="20100001",
        period_id="2026",
        activities=[activity] * n,
        reflection=text("observation", "CompetencyRequest", "reflection"),
        reported_at=NOW,
    )


def duty_reported() -> BaseModel:
    n, tugas = items("observation", "DutiesRequest", "tugas")
    return DutyReported(
        nip=NIP, npsn="20100001", period_id="2026", tugas=[tugas] * n, reported_at=NOW
    )


def observation_conducted() -> BaseModel:
    scores = _schema("observation", "ConductRequest")["properties"]["rubric_scores"]
    key = WORST * scores["propertyNames"]["maxLength"]
    return ObservationConducted(
        **_observation_facts(),
        observer_nip=NIP,
        conducted_at=NOW,
        rubric_scores={f"{key[:-3]}{i:03d}": 4 for i in range(scores["maxProperties"])},
        practice_rating="SESUAI_EKSPEKTASI",
    )


WORST_EVENTS = {
    "planning.plan-agreed": ("planning", plan_agreed),
    "planning.plan-returned": (
        "planning",
        lambda: PlanReturned(**_plan_facts(), note=text("planning", "ReturnPlan", "note")),
    ),
    "planning.plan-revised": (
        "planning",
        lambda: PlanRevised(**_plan_facts(), reason=text("planning", "RevisePlan", "reason")),
    ),
    "observation.rescheduled": (
        "observation",
        lambda: ObservationRescheduled(
            **_observation_facts(),
            scheduled_at=NOW,
            previous_at=NOW,
            reason=text("observation", "RescheduleRequest", "reason"),
            observer_nip=NIP,
            revision=999_999,
        ),
    ),
    "observation.conducted": ("observation", observation_conducted),
    "observation.followup-reflected": (
        "observation",
        lambda: FollowupReflected(
            **_observation_facts(),
            actions=999_999,
            reflection=text("observation", "ReflectionRequest", "reflection"),
            reflected_at=NOW,
        ),
    ),
    "observation.competency-reported": ("observation", competency_reported),
    "observation.duty-reported": ("observation", duty_reported),
    "predikat.ditetapkan": (
        "predikat",
        lambda: PredikatDitetapkan(
            nip=NIP,
            npsn="20100001",
            period_id="2026",
            version=999_999,
            predikat="BUTUH_PERBAIKAN",
            hasil_kerja="DI_BAWAH_EKSPEKTASI",
            perilaku_kerja="DI_BAWAH_EKSPEKTASI",
            predikat_organisasi="BUTUH_PERBAIKAN",
            penilai_nip=NIP,
            ditetapkan_at=NOW,
            correction_reason=text("predikat", "CorrectionRequest", "reason"),
        ),
    ),
}


def largest_events() -> dict[str, int]:
    """Bytes of the worst-case envelope of each event that carries typed text."""
    return {name: _size(service, build()) for name, (service, build) in WORST_EVENTS.items()}


@pytest.mark.parametrize("event", sorted(WORST_EVENTS))
def test_the_largest_event_a_request_can_cause_stays_within_budget(event: str) -> None:
    service, build = WORST_EVENTS[event]

    size = _size(service, build())

    assert size <= BUDGET, f"{event}: {size} bytes at worst"


def test_worst_case_text_really_is_six_bytes_a_character() -> None:
    payload = DutyReported(
        nip=NIP, npsn="20100001", period_id="2026", tugas=[WORST * 1000], reported_at=NOW
    )

    assert _size("observation", payload) > 6000
