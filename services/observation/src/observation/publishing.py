"""The payloads this service publishes, built from domain objects (DOMAIN.md §2.11)."""

from __future__ import annotations

from kinerja_shared.events.observation import (
    CompetencyReported,
    DutyReported,
    FollowupReflected,
    ObservationConducted,
    ObservationRescheduled,
    ObservationScheduled,
)

from .domain.followup import Followup
from .domain.observation import Observation, ScheduleChange
from .domain.reports import CompetencyReport, DutyReport


def _facts(obs: Observation) -> dict[str, str]:
    return {
        "observation_id": obs.observation_id,
        "plan_id": obs.plan_id,
        "nip": obs.nip,
        "npsn": obs.npsn,
        "period_id": obs.period_id,
    }


def scheduled(obs: Observation) -> ObservationScheduled:
    assert obs.scheduled_at is not None
    assert obs.observer_nip is not None
    return ObservationScheduled(
        **_facts(obs),
        scheduled_at=obs.scheduled_at,
        observer_nip=obs.observer_nip,
        revision=obs.revision,
    )


def rescheduled(obs: Observation, change: ScheduleChange) -> ObservationRescheduled:
    assert obs.scheduled_at is not None
    assert obs.observer_nip is not None
    assert change.previous_at is not None
    return ObservationRescheduled(
        **_facts(obs),
        scheduled_at=obs.scheduled_at,
        previous_at=change.previous_at,
        reason=change.reason or "",
        observer_nip=obs.observer_nip,
        revision=obs.revision,
    )


def conducted(obs: Observation) -> ObservationConducted:
    assert obs.conducted_at is not None
    assert obs.practice_rating is not None
    return ObservationConducted(
        **_facts(obs),
        observer_nip=str(obs.observer_nip),
        conducted_at=obs.conducted_at,
        rubric_scores=dict(obs.rubric_scores),
        practice_rating=obs.practice_rating,
    )


def followup_reflected(obs: Observation, f: Followup) -> FollowupReflected:
    assert f.reflection is not None
    assert f.reflected_at is not None
    return FollowupReflected(
        **_facts(obs),
        actions=len(f.actions),
        reflection=f.reflection,
        reflected_at=f.reflected_at,
    )


def competency_reported(obs: Observation, r: CompetencyReport) -> CompetencyReported:
    assert r.reflection is not None
    assert r.reported_at is not None
    return CompetencyReported(
        nip=r.nip,
        npsn=obs.npsn,
        period_id=r.period_id,
        activities=[a.text for a in r.activities],
        reflection=r.reflection,
        reported_at=r.reported_at,
    )


def duty_reported(obs: Observation, r: DutyReport) -> DutyReported:
    assert r.reported_at is not None
    return DutyReported(
        nip=r.nip,
        npsn=obs.npsn,
        period_id=r.period_id,
        tugas=list(r.tugas),
        reported_at=r.reported_at,
    )
