"""The observation of one teacher in one period (docs/domain.md §2.3), as pure transitions.

BELUM_DIJADWALKAN → DIJADWALKAN (→ DIJADWALKAN_ULANG → DIJADWALKAN)* → DILAKSANAKAN →
UMPAN_BALIK_DIBERIKAN; before it is conducted the Kepala Sekolah (or a transfer out on the roster)
may cancel it: DIBATALKAN frees the observer's slot and can be scheduled again later, e.g. when
the cancellation was a mistake or the teacher returns.

Each function takes the current observation and returns the next one, or the same object when
the command repeats what already happened (a retried request changes nothing and publishes
nothing). ``revision`` grows with every change; a caller that read an older
revision is refused with V-15 rather than overwriting a change it never saw.

There is one row per (teacher, period), so a teacher never has two live schedules; an observer
(the Kepala Sekolah) is never booked twice within ``SLOT`` of one time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from kinerja_shared.events.base import Payload
from kinerja_shared.events.observation import (
    ObservationConducted,
    ObservationRescheduled,
    ObservationScheduled,
)
from kinerja_shared.refusal import Kind, Refusal

from .calendar import Period, PeriodCalendar, local_day
from .refusals import (
    already_conducted,
    date_outside_period,
    slot_taken,
    stale_revision,
    unknown_period,
    unknown_sub_indikator,
    wrong_state,
)
from .rubric import Rubrics, check_scores, practice_rating

SLOT = timedelta(hours=1)
MIN_REASON_CHARS = 5


class State(StrEnum):
    BELUM_DIJADWALKAN = "BELUM_DIJADWALKAN"
    DIJADWALKAN = "DIJADWALKAN"
    DILAKSANAKAN = "DILAKSANAKAN"
    UMPAN_BALIK_DIBERIKAN = "UMPAN_BALIK_DIBERIKAN"
    DIBATALKAN = "DIBATALKAN"


DONE = frozenset({State.DILAKSANAKAN, State.UMPAN_BALIK_DIBERIKAN})


class ScheduleKind(StrEnum):
    DIJADWALKAN = "DIJADWALKAN"
    DIJADWALKAN_ULANG = "DIJADWALKAN_ULANG"
    DIBATALKAN = "DIBATALKAN"


@dataclass(frozen=True)
class AgreedPlan:
    plan_id: str
    plan_version: int
    nip: str
    npsn: str
    period_id: str
    sub_indikator: str
    atasan_nip: str | None


@dataclass(frozen=True)
class Observation:
    observation_id: str
    nip: str
    npsn: str
    period_id: str
    plan_id: str
    plan_version: int
    sub_indikator: str
    observer_nip: str | None
    state: State = State.BELUM_DIJADWALKAN
    revision: int = 0
    scheduled_at: datetime | None = None
    rubric_scores: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    notes: str | None = None
    practice_rating: str | None = None
    conducted_at: datetime | None = None
    feedback: str | None = None
    feedback_at: datetime | None = None

    def _next(self, **changes: object) -> Observation:
        return replace(self, revision=self.revision + 1, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ScheduleChange:
    """One line of the schedule history: every schedule, reschedule and cancellation is kept.

    A cancellation has no ``scheduled_at``; ``previous_at`` is the date it freed, if any.
    """

    kind: ScheduleKind
    revision: int
    scheduled_at: datetime | None
    previous_at: datetime | None
    reason: str | None
    by_nip: str
    recorded_at: datetime


def observation_id(nip: str, period_id: str) -> str:
    return f"OBS-{nip}-{period_id}"


def on_plan_agreed(
    current: Observation | None,
    plan: AgreedPlan,
    *,
    calendar: PeriodCalendar,
    rubrics: Rubrics,
) -> Observation | None:
    """The observation after ``plan`` was agreed, or None when nothing changes.

    A later plan version moves the focus only while the observation has not happened: a
    conducted observation was scored against the focus of its day.
    """
    if calendar.period(plan.period_id) is None:
        raise unknown_period(plan.period_id)
    if plan.sub_indikator not in rubrics:
        raise unknown_sub_indikator(plan.sub_indikator)
    if current is None:
        return Observation(
            observation_id=observation_id(plan.nip, plan.period_id),
            nip=plan.nip,
            npsn=plan.npsn,
            period_id=plan.period_id,
            plan_id=plan.plan_id,
            plan_version=plan.plan_version,
            sub_indikator=plan.sub_indikator,
            observer_nip=plan.atasan_nip,
        )
    if plan.plan_version <= current.plan_version or current.state in DONE:
        return None
    return current._next(
        plan_id=plan.plan_id,
        plan_version=plan.plan_version,
        sub_indikator=plan.sub_indikator,
        npsn=plan.npsn,
        observer_nip=plan.atasan_nip or current.observer_nip,
    )


def slot_clashes(at: datetime, busy: Iterable[datetime]) -> bool:
    """True when a one-hour observation at ``at`` overlaps one starting at any of ``busy``."""
    return any(abs(at - other) < SLOT for other in busy)


def _period(obs: Observation, calendar: PeriodCalendar) -> Period:
    period = calendar.period(obs.period_id)
    if period is None:
        raise unknown_period(obs.period_id)
    return period


def _check_time(
    obs: Observation,
    at: datetime,
    now: datetime,
    busy: Iterable[datetime],
    calendar: PeriodCalendar,
) -> None:
    if at.tzinfo is None:
        raise Refusal("VALIDATION_ERROR", "Waktu observasi harus menyertakan zona waktu.")
    if at < now or not _period(obs, calendar).contains(at):
        raise date_outside_period()
    if slot_clashes(at, busy):
        raise slot_taken()


def _check_revision(obs: Observation, expected: int | None) -> None:
    if expected is not None and expected != obs.revision:
        raise stale_revision(obs.revision)


def schedule(
    obs: Observation,
    at: datetime,
    *,
    calendar: PeriodCalendar,
    observer_nip: str,
    by_nip: str,
    now: datetime,
    busy: Iterable[datetime] = (),
    expected_revision: int | None = None,
) -> tuple[Observation, ScheduleChange | None]:
    """First date of the observation. ``busy``: the observer's other live schedules."""
    if obs.state in DONE:
        raise already_conducted()
    if obs.state is State.DIJADWALKAN:
        if obs.scheduled_at == at:
            return obs, None
        raise Refusal(
            "ALREADY_SCHEDULED",
            "Observasi sudah dijadwalkan. Gunakan jadwal ulang dan tuliskan alasannya.",
            Kind.CONFLICT,
            revision=obs.revision,
        )
    _check_revision(obs, expected_revision)
    _check_time(obs, at, now, busy, calendar)
    new = obs._next(state=State.DIJADWALKAN, scheduled_at=at, observer_nip=observer_nip)
    change = ScheduleChange(ScheduleKind.DIJADWALKAN, new.revision, at, None, None, by_nip, now)
    return new, change


def reschedule(
    obs: Observation,
    at: datetime,
    reason: str,
    *,
    calendar: PeriodCalendar,
    observer_nip: str,
    by_nip: str,
    now: datetime,
    expected_revision: int,
    busy: Iterable[datetime] = (),
) -> tuple[Observation, ScheduleChange | None]:
    """A new date for a scheduled observation; allowed any number of times until conducted."""
    if obs.state in DONE:
        raise already_conducted()
    if obs.state is not State.DIJADWALKAN:
        raise wrong_state(obs.state.value, "dijadwalkan ulang")
    reason = reason.strip()
    if len(reason) < MIN_REASON_CHARS:
        raise Refusal("RESCHEDULE_REASON_REQUIRED", "Tuliskan alasan penjadwalan ulang.")
    if obs.scheduled_at == at:
        # The same move again (a retry after a lost response): already done.
        return obs, None
    _check_revision(obs, expected_revision)
    _check_time(obs, at, now, busy, calendar)
    new = obs._next(scheduled_at=at, observer_nip=observer_nip)
    change = ScheduleChange(
        ScheduleKind.DIJADWALKAN_ULANG, new.revision, at, obs.scheduled_at, reason, by_nip, now
    )
    return new, change


def cancel(
    obs: Observation,
    reason: str,
    *,
    by_nip: str,
    now: datetime,
    expected_revision: int | None = None,
) -> tuple[Observation, ScheduleChange | None]:
    """The observation will not happen (e.g. the teacher transferred out); frees the slot.

    A conducted observation already counts towards the assessment, so it cannot be cancelled.
    """
    if obs.state is State.DIBATALKAN:
        return obs, None
    if obs.state in DONE:
        raise wrong_state(obs.state.value, "dibatalkan")
    reason = reason.strip()
    if len(reason) < MIN_REASON_CHARS:
        raise Refusal("CANCEL_REASON_REQUIRED", "Tuliskan alasan pembatalan observasi.")
    _check_revision(obs, expected_revision)
    new = obs._next(state=State.DIBATALKAN, scheduled_at=None)
    change = ScheduleChange(
        ScheduleKind.DIBATALKAN, new.revision, None, obs.scheduled_at, reason, by_nip, now
    )
    return new, change


def conduct(
    obs: Observation,
    scores: Mapping[str, int],
    notes: str,
    *,
    rubrics: Rubrics,
    observer_nip: str,
    now: datetime,
) -> Observation:
    """The Kepala Sekolah scored every rubric item on or after the scheduled day."""
    if obs.state in DONE:
        if dict(obs.rubric_scores) == dict(scores) and obs.notes == notes:
            return obs
        raise wrong_state(obs.state.value, "dilaksanakan lagi")
    if obs.state is not State.DIJADWALKAN or obs.scheduled_at is None:
        raise wrong_state(obs.state.value, "dilaksanakan sebelum dijadwalkan")
    if local_day(obs.scheduled_at) > local_day(now):
        raise Refusal(
            "OBSERVATION_NOT_DUE",
            "Observasi belum dapat dilaksanakan sebelum tanggal yang dijadwalkan.",
        )
    rubric = rubrics.get(obs.sub_indikator)
    if rubric is None:
        raise unknown_sub_indikator(obs.sub_indikator)
    checked = check_scores(rubric, scores)
    return obs._next(
        state=State.DILAKSANAKAN,
        rubric_scores=MappingProxyType(checked),
        notes=notes,
        practice_rating=practice_rating(checked).value,
        conducted_at=now,
        observer_nip=observer_nip,
    )


def give_feedback(obs: Observation, feedback: str, *, now: datetime) -> Observation:
    """The Kepala Sekolah records the follow-up discussion (*Diskusi Tindak Lanjut*)."""
    feedback = feedback.strip()
    if not feedback:
        raise Refusal("FEEDBACK_REQUIRED", "Tuliskan umpan balik hasil observasi.")
    if obs.state is State.UMPAN_BALIK_DIBERIKAN and obs.feedback == feedback:
        return obs
    if obs.state is not State.DILAKSANAKAN:
        raise wrong_state(obs.state.value, "diberi umpan balik")
    return obs._next(state=State.UMPAN_BALIK_DIBERIKAN, feedback=feedback, feedback_at=now)


# --- the events these transitions publish ---------------------------------------------------


def event_facts(obs: Observation) -> dict[str, str]:
    """What every event about the observation of ``obs`` says of whose and which it is."""
    return {
        "observation_id": obs.observation_id,
        "plan_id": obs.plan_id,
        "nip": obs.nip,
        "npsn": obs.npsn,
        "period_id": obs.period_id,
    }


def schedule_events(obs: Observation, change: ScheduleChange | None) -> tuple[Payload, ...]:
    """What a schedule change of ``obs`` (now its new state) publishes.

    Consumers of ``scheduled`` keep the live date from it alone, so a reschedule publishes both:
    ``scheduled`` with the new date and revision, and ``rescheduled`` with what moved and why. A
    cancellation publishes nothing: the registry has no topic for it yet.
    """
    if change is None or change.kind is ScheduleKind.DIBATALKAN:
        return ()
    assert obs.scheduled_at is not None
    assert obs.observer_nip is not None
    scheduled = ObservationScheduled(
        **event_facts(obs),
        scheduled_at=obs.scheduled_at,
        observer_nip=obs.observer_nip,
        revision=obs.revision,
    )
    if change.kind is ScheduleKind.DIJADWALKAN:
        return (scheduled,)
    assert change.previous_at is not None
    rescheduled = ObservationRescheduled(
        **event_facts(obs),
        scheduled_at=obs.scheduled_at,
        previous_at=change.previous_at,
        reason=change.reason or "",
        observer_nip=obs.observer_nip,
        revision=obs.revision,
    )
    return scheduled, rescheduled


def conducted_event(obs: Observation) -> ObservationConducted:
    assert obs.conducted_at is not None
    assert obs.practice_rating is not None
    return ObservationConducted(
        **event_facts(obs),
        observer_nip=str(obs.observer_nip),
        conducted_at=obs.conducted_at,
        rubric_scores=dict(obs.rubric_scores),
        practice_rating=obs.practice_rating,
    )
