"""The §2.5 reports: the Guru fills, the atasan verifies, readers read.

Both reports need the agreed plan (the observation row, else V-12) and the pelaksanaan stage open
(V-28); locking the observation row also serialises writes to one teacher's reports. Each fill
that changes a report publishes its event in the same transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

import asyncpg
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from kinerja_shared import access, outbox
from kinerja_shared.auth import Principal
from kinerja_shared.fields import LIST_MAX, Item, Reference, Reflection
from kinerja_shared.http import CurrentPrincipal, Db, error_responses

from .. import reports_repository as reports
from ..domain import reports as domain
from ..domain.reports import Activity, R
from ..repository import Conn
from ..rules import ObservationRules
from .deps import Rules, load_for_write, now_of, readable, require_self
from .views import CompetencyView, DutiesView, competency_view, duties_view

router = APIRouter(prefix="/observations", tags=["reports"])


class ActivityIn(BaseModel):
    text: Item = Field(description="The activity, free text (course, community of practice ...).")
    bukti: Reference | None = Field(
        default=None, description="Evidence reference (bukti dukung); required by 2024 rules only."
    )


class CompetencyRequest(BaseModel):
    activities: list[ActivityIn] = Field(default_factory=list, max_length=LIST_MAX)
    reflection: Reflection = ""
    expected_revision: int | None = None


class DutiesRequest(BaseModel):
    tugas: list[Item] = Field(max_length=LIST_MAX)
    expected_revision: int | None = None


# Only the teacher reports their own work; the atasan verifies it (docs/domain.md §1.3).
_require_owner = partial(
    require_self,
    not_own="Anda hanya dapat mengisi laporan Anda sendiri.",
    not_a_teacher="Laporan diisi oleh guru yang bersangkutan.",
)


@router.get("/{nip}/{period_id}/competency", responses=error_responses(403, 404, 422))
async def get_competency(
    nip: str, period_id: str, principal: CurrentPrincipal, pool: Db, rules: Rules
) -> CompetencyView:
    await readable(pool, principal, nip, period_id)
    report = await reports.get_competency(pool, nip, period_id)
    return competency_view(report, domain.rules_version(rules.calendar, period_id))


@router.get("/{nip}/{period_id}/duties", responses=error_responses(403, 404, 422))
async def get_duties(nip: str, period_id: str, principal: CurrentPrincipal, pool: Db) -> DutiesView:
    await readable(pool, principal, nip, period_id)
    return duties_view(await reports.get_duties(pool, nip, period_id))


@router.put("/{nip}/{period_id}/competency", responses=error_responses(403, 404, 409, 422))
async def put_competency(
    nip: str,
    period_id: str,
    body: CompetencyRequest,
    principal: CurrentPrincipal,
    pool: Db,
    rules: Rules,
    request: Request,
) -> CompetencyView:
    _require_owner(principal, nip)
    now = now_of(request)
    activities = [Activity(a.text, a.bukti) for a in body.activities]
    rules_version = domain.rules_version(rules.calendar, period_id)
    async with pool.acquire() as conn, conn.transaction():
        await access.teacher_on_roster(conn, nip)
        obs = await load_for_write(conn, rules, nip, period_id, now)
        current = await reports.get_competency(conn, nip, period_id, lock=True)
        report = domain.fill_competency(
            current,
            activities,
            body.reflection,
            rules_version=rules_version,
            now=now,
            expected_revision=body.expected_revision,
        )
        if report is not current:
            await reports.save(conn, report)
            await outbox.add_events(conn, [domain.competency_event(obs, report)])
    return competency_view(report, rules_version)


@router.put("/{nip}/{period_id}/duties", responses=error_responses(403, 404, 409, 422))
async def put_duties(
    nip: str,
    period_id: str,
    body: DutiesRequest,
    principal: CurrentPrincipal,
    pool: Db,
    rules: Rules,
    request: Request,
) -> DutiesView:
    _require_owner(principal, nip)
    now = now_of(request)
    async with pool.acquire() as conn, conn.transaction():
        await access.teacher_on_roster(conn, nip)
        obs = await load_for_write(conn, rules, nip, period_id, now)
        current = await reports.get_duties(conn, nip, period_id, lock=True)
        report = domain.fill_duties(
            current, body.tugas, now=now, expected_revision=body.expected_revision
        )
        if report is not current:
            await reports.save(conn, report)
            await outbox.add_events(conn, [domain.duty_event(obs, report)])
    return duties_view(report)


async def _verify(
    pool: asyncpg.Pool,
    rules: ObservationRules,
    principal: Principal,
    nip: str,
    period_id: str,
    now: datetime,
    load: Callable[[Conn], Awaitable[R]],
) -> R:
    """The atasan verifies the report ``load`` locks, in the pelaksanaan stage."""
    async with pool.acquire() as conn, conn.transaction():
        await access.authorize_atasan(conn, principal, nip)
        await load_for_write(conn, rules, nip, period_id, now)
        current = await load(conn)
        report = domain.verify(current, by_nip=str(principal.nip), now=now)
        if report is not current:
            await reports.save(conn, report)
    return report


@router.post("/{nip}/{period_id}/competency/verify", responses=error_responses(403, 404, 409, 422))
async def verify_competency(
    nip: str, period_id: str, principal: CurrentPrincipal, pool: Db, rules: Rules, request: Request
) -> CompetencyView:
    report = await _verify(
        pool,
        rules,
        principal,
        nip,
        period_id,
        now_of(request),
        lambda conn: reports.get_competency(conn, nip, period_id, lock=True),
    )
    return competency_view(report, domain.rules_version(rules.calendar, period_id))


@router.post("/{nip}/{period_id}/duties/verify", responses=error_responses(403, 404, 409, 422))
async def verify_duties(
    nip: str, period_id: str, principal: CurrentPrincipal, pool: Db, rules: Rules, request: Request
) -> DutiesView:
    report = await _verify(
        pool,
        rules,
        principal,
        nip,
        period_id,
        now_of(request),
        lambda conn: reports.get_duties(conn, nip, period_id, lock=True),
    )
    return duties_view(report)
