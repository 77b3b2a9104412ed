"""Subscribers: the roster projection, the agreed plan, and the evidence that feeds HK.

Each effect locks the teacher's row, folds the fact in with the pure rules of
``domain.assessment`` (order-independent, latest wins) and saves the result, in the inbox's
transaction. Evidence for a plan not seen yet is stored and waits; nothing is dead-lettered for
arriving early.
"""

from __future__ import annotations

from typing import Any

from kinerja_shared import inbox, telemetry
from kinerja_shared.db import Conn
from kinerja_shared.envelope import Envelope
from kinerja_shared.roster.projection import subscribe_roster
from kinerja_shared.service import Runtime
from kinerja_shared.topics import (
    COMPETENCY_REPORTED,
    DUTY_REPORTED,
    FOLLOWUP_REFLECTED,
    OBSERVATION_CONDUCTED,
    PLAN_AGREED,
    PLAN_REVISED,
)

from . import repository
from .config import Settings
from .domain.assessment import Evidence, EvidenceKind, PlanFact, UpstreamFact, apply


def register(runtime: Runtime[Settings, None]) -> None:
    group = runtime.settings.consumer_group
    subscribe_roster(runtime.broker, group=group, pool=runtime.db)
    for topic, effect in (
        (PLAN_AGREED, on_plan_agreed),
        (PLAN_REVISED, on_plan_revised),
        (OBSERVATION_CONDUCTED, on_observation_conducted),
        (FOLLOWUP_REFLECTED, on_followup_reflected),
        (COMPETENCY_REPORTED, on_competency_reported),
        (DUTY_REPORTED, on_duty_reported),
    ):
        inbox.subscribe(runtime.broker, topic, group=group, pool=runtime.db, effect=effect)


async def _fold(conn: Conn, nip: str, period_id: str, fact: UpstreamFact) -> bool:
    """Apply ``fact``; whether it changed the assessment (an older or repeated one does not)."""
    _, current = await repository.load(conn, nip, period_id)
    folded = apply(current, fact)
    if folded == current:
        return False
    await repository.save(conn, nip, period_id, folded)
    return True


def _plan(event: Envelope[Any], *, agreed: bool) -> PlanFact:
    p = event.payload
    return PlanFact(
        plan_id=p.plan_id,
        version=p.version,
        agreed=agreed,
        npsn=p.npsn,
        atasan_nip=p.atasan_nip,
        occurred_at=event.occurred_at,
    )


def _evidence(event: Envelope[Any], kind: EvidenceKind, data: dict[str, Any]) -> Evidence:
    return Evidence(
        kind=kind, occurred_at=event.occurred_at, event_id=str(event.event_id), data=data
    )


async def on_plan_agreed(conn: Conn, event: Envelope[Any]) -> None:
    p = event.payload
    if await _fold(conn, p.nip, p.period_id, _plan(event, agreed=True)):
        # Handled inside the record's own trace: its context is the plan's flow.
        traceparent = telemetry.current_trace_headers().get("traceparent")
        await repository.remember_plan_trace(conn, p.nip, p.period_id, traceparent)


async def on_plan_revised(conn: Conn, event: Envelope[Any]) -> None:
    p = event.payload
    await _fold(conn, p.nip, p.period_id, _plan(event, agreed=False))


async def on_observation_conducted(conn: Conn, event: Envelope[Any]) -> None:
    o = event.payload
    data = {
        "observation_id": o.observation_id,
        "observer_nip": o.observer_nip,
        "practice_rating": o.practice_rating,
        "conducted_at": o.conducted_at.isoformat(),
    }
    await _fold(conn, o.nip, o.period_id, _evidence(event, EvidenceKind.OBSERVATION, data))


async def on_followup_reflected(conn: Conn, event: Envelope[Any]) -> None:
    f = event.payload
    data = {
        "actions": f.actions,
        "reflection": f.reflection,
        "reflected_at": f.reflected_at.isoformat(),
    }
    await _fold(conn, f.nip, f.period_id, _evidence(event, EvidenceKind.FOLLOWUP, data))


async def on_competency_reported(conn: Conn, event: Envelope[Any]) -> None:
    c = event.payload
    data = {
        "activities": list(c.activities),
        "reflection": c.reflection,
        "reported_at": c.reported_at.isoformat(),
    }
    await _fold(conn, c.nip, c.period_id, _evidence(event, EvidenceKind.COMPETENCY, data))


async def on_duty_reported(conn: Conn, event: Envelope[Any]) -> None:
    d = event.payload
    data = {"tugas": list(d.tugas), "reported_at": d.reported_at.isoformat()}
    await _fold(conn, d.nip, d.period_id, _evidence(event, EvidenceKind.DUTY, data))
