"""One teacher's observation: read, schedule, reschedule, cancel, conduct, feedback.

Each command runs in one transaction: lock the row, call the pure rule, save, record the
schedule history and stage the events the rule returns in the outbox.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

import asyncpg
from fastapi import APIRouter, Request
from pydantic import AwareDatetime, BaseModel, Field

from kinerja_shared import access, outbox
from kinerja_shared.auth import Principal
from kinerja_shared.fields import Code, Reason, Reflection
from kinerja_shared.http import CurrentPrincipal, Db, error_responses

from .. import repository
from ..domain import observation as domain
from ..domain.observation import Observation
from ..domain.refusals import no_atasan
from ..rules import ObservationRules
from .deps import Rules, authorize_owner_or_atasan, load_for_write, now_of, readable
from .views import ObservationView, ScheduleHistoryEntry, observation_view

router = APIRouter(prefix="/observations", tags=["observation"])


class ScheduleRequest(BaseModel):
    scheduled_at: AwareDatetime = Field(description="Start of the one-hour observation.")
    expected_revision: int | None = Field(
        default=None, description="The revision the caller last read; stale → 409 V-15."
    )


# The rubric of a sub-indicator has a handful of items; unknown codes are refused (V-16).
RUBRIC_ITEMS_MAX = 50


class RescheduleRequest(BaseModel):
    scheduled_at: AwareDatetime
    reason: Reason = Field(description="Why the date moves (kept in the schedule history).")
    expected_revision: int


class CancelRequest(BaseModel):
    reason: Reason = Field(description="Why the observation will not happen (kept in the history).")
    expected_revision: int | None = None


class ConductRequest(BaseModel):
    rubric_scores: dict[Code, int] = Field(
        max_length=RUBRIC_ITEMS_MAX, description="Every rubric item code → score 1..4."
    )
    notes: Reflection = ""


class FeedbackRequest(BaseModel):
    feedback: Reflection


def _observer(teacher: asyncpg.Record, obs: Observation) -> str:
    # The roster is the current truth on who the atasan is; the plan's atasan is the fallback.
    observer: str | None = teacher["atasan_nip"] or obs.observer_nip
    if observer is None:
        raise no_atasan()
    return observer


async def _record_schedule(
    conn: repository.Conn, obs: Observation, change: domain.ScheduleChange | None
) -> None:
    if change is None:
        return
    await repository.save(conn, obs)
    await repository.add_history(conn, obs, change)
    await outbox.add_events(conn, domain.schedule_events(obs, change))


@router.get("/{nip}/{period_id}", responses=error_responses(403, 404, 422))
async def get_observation(
    nip: str, period_id: str, principal: CurrentPrincipal, pool: Db
) -> ObservationView:
    return observation_view(await readable(pool, principal, nip, period_id))


@router.get("/{nip}/{period_id}/history", responses=error_responses(403, 404, 422))
async def get_schedule_history(
    nip: str, period_id: str, principal: CurrentPrincipal, pool: Db
) -> list[ScheduleHistoryEntry]:
    await readable(pool, principal, nip, period_id)
    rows = await repository.history(pool, nip, period_id)
    return [ScheduleHistoryEntry(**dict(r)) for r in rows]


async def _book(
    pool: asyncpg.Pool,
    rules: ObservationRules,
    principal: Principal,
    nip: str,
    period_id: str,
    now: datetime,
    at: datetime,
    expected_revision: int | None,
    move: Callable[..., tuple[Observation, domain.ScheduleChange | None]],
) -> Observation:
    """Date the observation at ``at`` with ``move`` (``domain.schedule`` or a reschedule with
    its reason): by the teacher or their atasan, one booking of an observer at a time."""
    async with pool.acquire() as conn, conn.transaction():
        teacher = await authorize_owner_or_atasan(conn, principal, nip)
        obs = await load_for_write(conn, rules, nip, period_id, now)
        observer = _observer(teacher, obs)
        await repository.lock_observer(conn, observer)
        busy = await repository.busy_slots(conn, observer, at, except_nip=nip)
        obs, change = move(
            obs,
            at,
            calendar=rules.calendar,
            observer_nip=observer,
            by_nip=str(principal.nip),
            now=now,
            busy=busy,
            expected_revision=expected_revision,
        )
        await _record_schedule(conn, obs, change)
    return obs


@router.post("/{nip}/{period_id}/schedule", responses=error_responses(403, 404, 409, 422))
async def schedule(
    nip: str,
    period_id: str,
    body: ScheduleRequest,
    principal: CurrentPrincipal,
    pool: Db,
    rules: Rules,
    request: Request,
) -> ObservationView:
    at, expected = body.scheduled_at, body.expected_revision
    now = now_of(request)
    obs = await _book(pool, rules, principal, nip, period_id, now, at, expected, domain.schedule)
    return observation_view(obs)


@router.post("/{nip}/{period_id}/reschedule", responses=error_responses(403, 404, 409, 422))
async def reschedule(
    nip: str,
    period_id: str,
    body: RescheduleRequest,
    principal: CurrentPrincipal,
    pool: Db,
    rules: Rules,
    request: Request,
) -> ObservationView:
    at, expected = body.scheduled_at, body.expected_revision
    move = partial(domain.reschedule, reason=body.reason)
    obs = await _book(pool, rules, principal, nip, period_id, now_of(request), at, expected, move)
    return observation_view(obs)


@router.post("/{nip}/{period_id}/cancel", responses=error_responses(403, 404, 409, 422))
async def cancel(
    nip: str,
    period_id: str,
    body: CancelRequest,
    principal: CurrentPrincipal,
    pool: Db,
    rules: Rules,
    request: Request,
) -> ObservationView:
    """The atasan cancels an observation that will not happen; its slot is free again."""
    now = now_of(request)
    async with pool.acquire() as conn, conn.transaction():
        await access.authorize_atasan(conn, principal, nip)
        current = await load_for_write(conn, rules, nip, period_id, now)
        obs, change = domain.cancel(
            current,
            body.reason,
            by_nip=str(principal.nip),
            now=now,
            expected_revision=body.expected_revision,
        )
        await _record_schedule(conn, obs, change)
    return observation_view(obs)


@router.post("/{nip}/{period_id}/conduct", responses=error_responses(403, 404, 409, 422))
async def conduct(
    nip: str,
    period_id: str,
    body: ConductRequest,
    principal: CurrentPrincipal,
    pool: Db,
    rules: Rules,
    request: Request,
) -> ObservationView:
    now = now_of(request)
    async with pool.acquire() as conn, conn.transaction():
        await access.authorize_atasan(conn, principal, nip)
        current = await load_for_write(conn, rules, nip, period_id, now)
        obs = domain.conduct(
            current,
            body.rubric_scores,
            body.notes,
            rubrics=rules.rubrics,
            observer_nip=str(principal.nip),
            now=now,
        )
        if obs is not current:
            await repository.save(conn, obs)
            await outbox.add_events(conn, [domain.conducted_event(obs)])
    return observation_view(obs)


@router.post("/{nip}/{period_id}/feedback", responses=error_responses(403, 404, 409, 422))
async def feedback(
    nip: str,
    period_id: str,
    body: FeedbackRequest,
    principal: CurrentPrincipal,
    pool: Db,
    rules: Rules,
    request: Request,
) -> ObservationView:
    now = now_of(request)
    async with pool.acquire() as conn, conn.transaction():
        await access.authorize_atasan(conn, principal, nip)
        current = await load_for_write(conn, rules, nip, period_id, now)
        obs = domain.give_feedback(current, body.feedback, now=now)
        if obs is not current:
            await repository.save(conn, obs)
            await repository.open_followup(conn, nip, period_id)
    return observation_view(obs)
