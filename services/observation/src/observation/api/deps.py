"""What observation's routes share: the loaded rules and the clock, who may act on a teacher's
records, and loading the observation a request is about."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from kinerja_shared import access
from kinerja_shared.auth import Principal, Role

from .. import repository
from ..domain.calendar import Clock, check_pelaksanaan_open
from ..domain.observation import Observation
from ..domain.refusals import plan_not_agreed
from ..rules import ObservationRules


def _rules(request: Request) -> ObservationRules:
    rules: ObservationRules = request.app.state.runtime.parts.rules
    return rules


Rules = Annotated[ObservationRules, Depends(_rules)]


def now_of(request: Request) -> datetime:
    clock: Clock = request.app.state.runtime.parts.clock
    return clock()


def require_self(principal: Principal, nip: str, *, not_own: str, not_a_teacher: str) -> None:
    """Only the teacher themself (a Guru, or a Kepala Sekolah for their own record) writes it;
    ``not_own`` refuses another Guru, ``not_a_teacher`` any other role."""
    if principal.role in (Role.GURU, Role.KEPALA_SEKOLAH) and principal.nip == nip:
        return
    if principal.role is Role.GURU:
        raise access.forbidden("NOT_OWN_RECORD", not_own)
    raise access.forbidden("ROLE_FORBIDDEN", not_a_teacher)


async def authorize_owner_or_atasan(
    conn: repository.Conn, principal: Principal, nip: str
) -> asyncpg.Record:
    """The teacher themself or their atasan may set the date (docs/domain.md §1.3)."""
    if principal.role in (Role.GURU, Role.KEPALA_SEKOLAH) and principal.nip == nip:
        return await access.teacher_on_roster(conn, nip)
    if principal.role is Role.GURU:
        raise access.forbidden(
            "NOT_OWN_RECORD", "Anda hanya dapat menjadwalkan observasi Anda sendiri."
        )
    return await access.authorize_atasan(conn, principal, nip)


async def readable(
    pool: asyncpg.Pool, principal: Principal, nip: str, period_id: str
) -> Observation:
    """The observation of ``nip`` in ``period_id`` if ``principal`` may read it; without an
    agreed plan there is none (V-12)."""
    await access.authorize_read(pool, principal, nip)
    obs = await repository.get(pool, nip, period_id)
    if obs is None:
        raise plan_not_agreed()
    return obs


async def load_for_write(
    conn: repository.Conn, rules: ObservationRules, nip: str, period_id: str, now: datetime
) -> Observation:
    """The locked observation a write may change: V-28 past the stage, V-12 without a plan."""
    check_pelaksanaan_open(rules.calendar, period_id, now)
    obs = await repository.get(conn, nip, period_id, lock=True)
    if obs is None:
        raise plan_not_agreed()
    return obs
