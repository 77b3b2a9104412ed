"""HTTP routes of the §2.5 reports: the Guru fills, the atasan verifies, readers read.

Both reports need the agreed plan (the observation row, else V-12) and the pelaksanaan stage open
(V-28); locking the observation row also serialises writes to one teacher's reports. Each fill
that changes a report publishes its event in the same transaction.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from kinerja_shared import access, outbox
from kinerja_shared.auth import Principal, Role
from kinerja_shared.http import CurrentPrincipal, Db, error_responses
from kinerja_shared.topics import COMPETENCY_REPORTED, DUTY_REPORTED

from . import publishing, repository
from . import reports_repository as reports
from .api import domain_error, load_for_write, now_of
from .domain import reports as rules
from .domain.calendar import find_period
from .domain.errors import Refusal, plan_not_agreed
from .domain.reports import Activity, CompetencyReport, DutyReport, R, Report

router = APIRouter(prefix="/observations", tags=["reports"])


class ActivityBody(BaseModel):
    text: str = Field(description="The activity, free text (course, community of practice ...).")
    bukti: str | None = Field(
        default=None, description="Evidence reference (bukti dukung); required by 2024 rules only."
    )


class CompetencyRequest(BaseModel):
    activities: list[ActivityBody] = Field(default_factory=list)
    reflection: str = ""
    expected_revision: int | None = None


class DutiesRequest(BaseModel):
    tugas: list[str]
    expected_revision: int | None = None


class ReportView(BaseModel):
    nip: str
    period_id: str
    state: str
    revision: int
    reported_at: datetime | None
    verified_by: str | None
    verified_at: datetime | None


class CompetencyView(ReportView):
    rules_version: int
    activities: list[ActivityBody]
    reflection: str | None


class DutiesView(ReportView):
    tugas: list[str]


def _base(r: Report) -> dict[str, object]:
    return {
        "nip": r.nip,
        "period_id": r.period_id,
        "state": r.state.value,
        "revision": r.revision,
        "reported_at": r.reported_at,
        "verified_by": r.verified_by,
        "verified_at": r.verified_at,
    }


def _rules_version(period_id: str) -> int:
    period = find_period(period_id)
    return 2025 if period is None else period.rules_version


def _competency_view(r: CompetencyReport) -> CompetencyView:
    return CompetencyView(
        **_base(r),
        rules_version=_rules_version(r.period_id),
        activities=[ActivityBody(text=a.text, bukti=a.bukti) for a in r.activities],
        reflection=r.reflection,
    )


def _duties_view(r: DutyReport) -> DutiesView:
    return DutiesView(**_base(r), tugas=list(r.tugas))


def _require_owner(principal: Principal, nip: str) -> None:
    """Only the teacher reports their own work; the atasan verifies it (DOMAIN.md §1.3)."""
    if principal.role in (Role.GURU, Role.KEPALA_SEKOLAH) and principal.nip == nip:
        return
    if principal.role is Role.GURU:
        raise access.forbidden("NOT_OWN_RECORD", "Anda hanya dapat mengisi laporan Anda sendiri.")
    raise access.forbidden("ROLE_FORBIDDEN", "Laporan diisi oleh guru yang bersangkutan.")


async def _readable(pool: Db, principal: Principal, nip: str, period_id: str) -> None:
    await access.authorize_read(pool, principal, nip)
    if await repository.get(pool, nip, period_id) is None:
        raise domain_error(plan_not_agreed())


@router.get("/{nip}/{period_id}/competency", responses=error_responses(403, 404, 422))
async def get_competency(
    nip: str, period_id: str, principal: CurrentPrincipal, pool: Db
) -> CompetencyView:
    await _readable(pool, principal, nip, period_id)
    return _competency_view(await reports.get_competency(pool, nip, period_id))


@router.get("/{nip}/{period_id}/duties", responses=error_responses(403, 404, 422))
async def get_duties(nip: str, period_id: str, principal: CurrentPrincipal, pool: Db) -> DutiesView:
    await _readable(pool, principal, nip, period_id)
    return _duties_view(await reports.get_duties(pool, nip, period_id))


@router.put("/{nip}/{period_id}/competency", responses=error_responses(403, 404, 409, 422))
async def put_competency(
    nip: str,
    period_id: str,
    body: CompetencyRequest,
    principal: CurrentPrincipal,
    pool: Db,
    request: Request,
) -> CompetencyView:
    _require_owner(principal, nip)
    now = now_of(request)
    activities = [Activity(a.text, a.bukti) for a in body.activities]
    async with pool.acquire() as conn, conn.transaction():
        await access.teacher_on_roster(conn, nip)
        obs = await load_for_write(conn, nip, period_id, now)
        current = await reports.get_competency(conn, nip, period_id, lock=True)
        try:
            report = rules.fill_competency(
                current,
                activities,
                body.reflection,
                rules_version=_rules_version(period_id),
                now=now,
                expected_revision=body.expected_revision,
            )
        except Refusal as exc:
            raise domain_error(exc) from exc
        if report is not current:
            await reports.save(conn, report)
            event = publishing.competency_reported(obs, report)
            await outbox.add_event(conn, COMPETENCY_REPORTED, nip, event)
    return _competency_view(report)


@router.put("/{nip}/{period_id}/duties", responses=error_responses(403, 404, 409, 422))
async def put_duties(
    nip: str,
    period_id: str,
    body: DutiesRequest,
    principal: CurrentPrincipal,
    pool: Db,
    request: Request,
) -> DutiesView:
    _require_owner(principal, nip)
    now = now_of(request)
    async with pool.acquire() as conn, conn.transaction():
        await access.teacher_on_roster(conn, nip)
        obs = await load_for_write(conn, nip, period_id, now)
        current = await reports.get_duties(conn, nip, period_id, lock=True)
        try:
            report = rules.fill_duties(
                current, body.tugas, now=now, expected_revision=body.expected_revision
            )
        except Refusal as exc:
            raise domain_error(exc) from exc
        if report is not current:
            await reports.save(conn, report)
            await outbox.add_event(conn, DUTY_REPORTED, nip, publishing.duty_reported(obs, report))
    return _duties_view(report)


@router.post("/{nip}/{period_id}/competency/verify", responses=error_responses(403, 404, 409, 422))
async def verify_competency(
    nip: str, period_id: str, principal: CurrentPrincipal, pool: Db, request: Request
) -> CompetencyView:
    now = now_of(request)
    async with pool.acquire() as conn, conn.transaction():
        await access.authorize_atasan(conn, principal, nip)
        await load_for_write(conn, nip, period_id, now)
        current = await reports.get_competency(conn, nip, period_id, lock=True)
        report = _verified(current, principal, now)
        if report is not current:
            await reports.save(conn, report)
    return _competency_view(report)


@router.post("/{nip}/{period_id}/duties/verify", responses=error_responses(403, 404, 409, 422))
async def verify_duties(
    nip: str, period_id: str, principal: CurrentPrincipal, pool: Db, request: Request
) -> DutiesView:
    now = now_of(request)
    async with pool.acquire() as conn, conn.transaction():
        await access.authorize_atasan(conn, principal, nip)
        await load_for_write(conn, nip, period_id, now)
        current = await reports.get_duties(conn, nip, period_id, lock=True)
        report = _verified(current, principal, now)
        if report is not current:
            await reports.save(conn, report)
    return _duties_view(report)


def _verified(report: R, principal: Principal, now: datetime) -> R:
    try:
        return rules.verify(report, by_nip=str(principal.nip), now=now)
    except Refusal as exc:
        raise domain_error(exc) from exc
