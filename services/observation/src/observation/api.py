"""HTTP routes of one teacher's observation: read, schedule, reschedule, conduct, feedback.

Each command runs in one transaction: lock the row, call the pure rule, save, record the
schedule history and stage the event in the outbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from fastapi import APIRouter, Request
from pydantic import AwareDatetime, BaseModel, Field

from kinerja_shared import access, outbox
from kinerja_shared.auth import Principal, Role
from kinerja_shared.errors import DomainError
from kinerja_shared.http import CurrentPrincipal, Db, error_responses
from kinerja_shared.topics import (
    OBSERVATION_CONDUCTED,
    OBSERVATION_RESCHEDULED,
    OBSERVATION_SCHEDULED,
)

from . import publishing, repository
from .domain import observation as rules
from .domain.calendar import Clock, check_pelaksanaan_open
from .domain.errors import Refusal, no_atasan, plan_not_agreed
from .domain.observation import Observation

router = APIRouter(prefix="/observations", tags=["observation"])


class ScheduleRequest(BaseModel):
    scheduled_at: AwareDatetime = Field(description="Start of the one-hour observation.")
    expected_revision: int | None = Field(
        default=None, description="The revision the caller last read; stale → 409 V-15."
    )


class RescheduleRequest(BaseModel):
    scheduled_at: AwareDatetime
    reason: str = Field(description="Why the date moves (kept in the schedule history).")
    expected_revision: int


class CancelRequest(BaseModel):
    reason: str = Field(description="Why the observation will not happen (kept in the history).")
    expected_revision: int | None = None


class ConductRequest(BaseModel):
    rubric_scores: dict[str, int] = Field(description="Every rubric item code → score 1..4.")
    notes: str = ""


class FeedbackRequest(BaseModel):
    feedback: str


class ObservationView(BaseModel):
    observation_id: str
    nip: str
    npsn: str
    period_id: str
    plan_id: str
    plan_version: int
    sub_indikator: str
    observer_nip: str | None
    state: str
    revision: int
    scheduled_at: datetime | None
    rubric_scores: dict[str, int]
    notes: str | None
    practice_rating: str | None
    conducted_at: datetime | None
    feedback: str | None
    feedback_at: datetime | None


class ScheduleHistoryEntry(BaseModel):
    revision: int
    kind: str
    scheduled_at: datetime | None
    previous_at: datetime | None
    reason: str | None
    by_nip: str
    recorded_at: datetime


def _view(obs: Observation) -> ObservationView:
    values: dict[str, Any] = {k: getattr(obs, k) for k in ObservationView.model_fields}
    values["state"] = obs.state.value
    values["rubric_scores"] = dict(obs.rubric_scores)
    return ObservationView(**values)


def now_of(request: Request) -> datetime:
    clock: Clock = request.app.state.runtime.extras["clock"]
    return clock()


def domain_error(exc: Refusal) -> DomainError:
    return DomainError(exc.code, exc.message, exc.status, **exc.detail)


async def authorize_owner_or_atasan(
    conn: repository.Conn, principal: Principal, nip: str
) -> asyncpg.Record:
    """The teacher themself or their atasan may set the date (DOMAIN.md §1.3)."""
    if principal.role in (Role.GURU, Role.KEPALA_SEKOLAH) and principal.nip == nip:
        return await access.teacher_on_roster(conn, nip)
    if principal.role is Role.GURU:
        raise access.forbidden(
            "NOT_OWN_RECORD", "Anda hanya dapat menjadwalkan observasi Anda sendiri."
        )
    return await access.authorize_atasan(conn, principal, nip)


def check_stage_open(period_id: str, now: datetime) -> None:
    try:
        check_pelaksanaan_open(period_id, now)
    except Refusal as exc:
        raise domain_error(exc) from exc


async def load_for_write(
    conn: repository.Conn, nip: str, period_id: str, now: datetime
) -> Observation:
    """The locked observation a write may change: V-28 past the stage, V-12 without a plan."""
    check_stage_open(period_id, now)
    obs = await repository.get(conn, nip, period_id, lock=True)
    if obs is None:
        raise domain_error(plan_not_agreed())
    return obs


def _observer(teacher: asyncpg.Record, obs: Observation) -> str:
    # The roster is the current truth on who the atasan is; the plan's atasan is the fallback.
    observer: str | None = teacher["atasan_nip"] or obs.observer_nip
    if observer is None:
        raise domain_error(no_atasan())
    return observer


async def _record_schedule(
    conn: repository.Conn, obs: Observation, change: rules.ScheduleChange | None
) -> None:
    if change is None:
        return
    await repository.save(conn, obs)
    await repository.add_history(conn, obs, change)
    if change.kind is rules.ScheduleKind.DIBATALKAN:
        return
    # Consumers of `scheduled` keep the live date from it alone, so a reschedule publishes both:
    # `scheduled` with the new date and revision, and `rescheduled` with what moved and why.
    await outbox.add_event(conn, OBSERVATION_SCHEDULED, obs.nip, publishing.scheduled(obs))
    if change.kind is rules.ScheduleKind.DIJADWALKAN_ULANG:
        event = publishing.rescheduled(obs, change)
        await outbox.add_event(conn, OBSERVATION_RESCHEDULED, obs.nip, event)


@router.get("/{nip}/{period_id}", responses=error_responses(403, 404, 422))
async def get_observation(
    nip: str, period_id: str, principal: CurrentPrincipal, pool: Db
) -> ObservationView:
    await access.authorize_read(pool, principal, nip)
    obs = await repository.get(pool, nip, period_id)
    if obs is None:
        raise domain_error(plan_not_agreed())
    return _view(obs)


@router.get("/{nip}/{period_id}/history", responses=error_responses(403, 404, 422))
async def get_schedule_history(
    nip: str, period_id: str, principal: CurrentPrincipal, pool: Db
) -> list[ScheduleHistoryEntry]:
    await access.authorize_read(pool, principal, nip)
    if await repository.get(pool, nip, period_id) is None:
        raise domain_error(plan_not_agreed())
    rows = await repository.history(pool, nip, period_id)
    return [ScheduleHistoryEntry(**dict(r)) for r in rows]


@router.post("/{nip}/{period_id}/schedule", responses=error_responses(403, 404, 409, 422))
async def schedule(
    nip: str,
    period_id: str,
    body: ScheduleRequest,
    principal: CurrentPrincipal,
    pool: Db,
    request: Request,
) -> ObservationView:
    now = now_of(request)
    async with pool.acquire() as conn, conn.transaction():
        teacher = await authorize_owner_or_atasan(conn, principal, nip)
        obs = await load_for_write(conn, nip, period_id, now)
        observer = _observer(teacher, obs)
        await repository.lock_observer(conn, observer)
        busy = await repository.busy_slots(conn, observer, body.scheduled_at, except_nip=nip)
        try:
            obs, change = rules.schedule(
                obs,
                body.scheduled_at,
                observer_nip=observer,
                by_nip=str(principal.nip),
                now=now,
                busy=busy,
                expected_revision=body.expected_revision,
            )
        except Refusal as exc:
            raise domain_error(exc) from exc
        await _record_schedule(conn, obs, change)
    return _view(obs)


@router.post("/{nip}/{period_id}/reschedule", responses=error_responses(403, 404, 409, 422))
async def reschedule(
    nip: str,
    period_id: str,
    body: RescheduleRequest,
    principal: CurrentPrincipal,
    pool: Db,
    request: Request,
) -> ObservationView:
    now = now_of(request)
    async with pool.acquire() as conn, conn.transaction():
        teacher = await authorize_owner_or_atasan(conn, principal, nip)
        obs = await load_for_write(conn, nip, period_id, now)
        observer = _observer(teacher, obs)
        await repository.lock_observer(conn, observer)
        busy = await repository.busy_slots(conn, observer, body.scheduled_at, except_nip=nip)
        try:
            obs, change = rules.reschedule(
                obs,
                body.scheduled_at,
                body.reason,
                observer_nip=observer,
                by_nip=str(principal.nip),
                now=now,
                busy=busy,
                expected_revision=body.expected_revision,
            )
        except Refusal as exc:
            raise domain_error(exc) from exc
        await _record_schedule(conn, obs, change)
    return _view(obs)


@router.post("/{nip}/{period_id}/cancel", responses=error_responses(403, 404, 409, 422))
async def cancel(
    nip: str,
    period_id: str,
    body: CancelRequest,
    principal: CurrentPrincipal,
    pool: Db,
    request: Request,
) -> ObservationView:
    """The atasan cancels an observation that will not happen; its slot is free again."""
    now = now_of(request)
    async with pool.acquire() as conn, conn.transaction():
        await access.authorize_atasan(conn, principal, nip)
        current = await load_for_write(conn, nip, period_id, now)
        try:
            obs, change = rules.cancel(
                current,
                body.reason,
                by_nip=str(principal.nip),
                now=now,
                expected_revision=body.expected_revision,
            )
        except Refusal as exc:
            raise domain_error(exc) from exc
        await _record_schedule(conn, obs, change)
    return _view(obs)


@router.post("/{nip}/{period_id}/conduct", responses=error_responses(403, 404, 409, 422))
async def conduct(
    nip: str,
    period_id: str,
    body: ConductRequest,
    principal: CurrentPrincipal,
    pool: Db,
    request: Request,
) -> ObservationView:
    now = now_of(request)
    async with pool.acquire() as conn, conn.transaction():
        await access.authorize_atasan(conn, principal, nip)
        current = await load_for_write(conn, nip, period_id, now)
        try:
            obs = rules.conduct(
                current, body.rubric_scores, body.notes, observer_nip=str(principal.nip), now=now
            )
        except Refusal as exc:
            raise domain_error(exc) from exc
        if obs is not current:
            await repository.save(conn, obs)
            await outbox.add_event(conn, OBSERVATION_CONDUCTED, nip, publishing.conducted(obs))
    return _view(obs)


@router.post("/{nip}/{period_id}/feedback", responses=error_responses(403, 404, 409, 422))
async def feedback(
    nip: str,
    period_id: str,
    body: FeedbackRequest,
    principal: CurrentPrincipal,
    pool: Db,
    request: Request,
) -> ObservationView:
    now = now_of(request)
    async with pool.acquire() as conn, conn.transaction():
        await access.authorize_atasan(conn, principal, nip)
        current = await load_for_write(conn, nip, period_id, now)
        try:
            obs = rules.give_feedback(current, body.feedback, now=now)
        except Refusal as exc:
            raise domain_error(exc) from exc
        if obs is not current:
            await repository.save(conn, obs)
            await repository.open_followup(conn, nip, period_id)
    return _view(obs)
