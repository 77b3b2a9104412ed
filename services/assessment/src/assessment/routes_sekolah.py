"""A school at once: the summary, and *Kirim ke Dinas* (DOMAIN.md §2.6, V-20)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from kinerja_shared import outbox
from kinerja_shared.access import NOT_ATASAN, forbidden
from kinerja_shared.auth import Principal, Role
from kinerja_shared.db import Executor
from kinerja_shared.errors import DomainError
from kinerja_shared.events.assessment import SchoolSubmitted
from kinerja_shared.http import CurrentPrincipal, Db, error_responses
from kinerja_shared.roster.projection import get_sekolah
from kinerja_shared.topics import SCHOOL_SUBMITTED

from . import repository
from .api import refused
from .domain.assessment import AssessmentState
from .domain.rating_rules import RatingRefused
from .domain.submission import ALREADY_SUBMITTED, TeacherStatus, check_submission
from .views import SchoolSummary, submission_view, teacher_summary

router = APIRouter(prefix="/sekolah", tags=["sekolah"])


class KirimRequest(BaseModel):
    exclusions: dict[str, str] = Field(
        default_factory=dict,
        description="Teachers left out of this submission, NIP -> reason (at least 20 chars).",
    )


class KirimResult(BaseModel):
    npsn: str
    period_id: str
    assessed: list[str]
    exclusions: dict[str, str]


async def _school(conn: Executor, npsn: str) -> Any:
    row = await get_sekolah(conn, npsn)
    if row is None:
        raise DomainError(
            "SEKOLAH_NOT_FOUND", "Satuan pendidikan tidak ditemukan pada data Dapodik.", 404
        )
    return row


async def _authorize_read(conn: Executor, principal: Principal, npsn: str) -> str | None:
    """The atasan whose teachers the caller may see (None = all of the school)."""
    school = await _school(conn, npsn)
    if principal.role is Role.OPERATOR:
        return None
    if principal.role is Role.DINAS:
        if principal.area is None or not school["kode_wilayah"].startswith(principal.area):
            raise forbidden("OUTSIDE_AREA", "Satuan pendidikan ini di luar wilayah Dinas Anda.")
        return None
    if principal.role is Role.KEPALA_SEKOLAH and principal.npsn == npsn:
        return principal.nip
    raise forbidden("ROLE_FORBIDDEN", "Anda tidak berwenang melihat data satuan pendidikan ini.")


@router.get("/{npsn}/{period_id}", responses=error_responses(403, 404))
async def school_summary(
    npsn: str, period_id: str, principal: CurrentPrincipal, pool: Db
) -> SchoolSummary:
    atasan = await _authorize_read(pool, principal, npsn)
    teachers = [
        teacher_summary(r) for r in await repository.school_teachers(pool, npsn, period_id, atasan)
    ]
    submissions = [
        submission_view(r)
        for r in await repository.submissions_of(pool, npsn, period_id)
        if atasan is None or r["atasan_nip"] == atasan
    ]
    counts = Counter(t.state for t in teachers)
    return SchoolSummary(
        npsn=npsn,
        period_id=period_id,
        counts={s.value: counts.get(s.value, 0) for s in AssessmentState},
        belum_dinilai=sum(
            1 for t in teachers if t.plan_agreed and t.state == AssessmentState.BELUM_DINILAI
        ),
        submissions=submissions,
        teachers=teachers,
    )


@router.post("/{npsn}/{period_id}/kirim-ke-dinas", responses=error_responses(403, 404, 409, 422))
async def kirim_ke_dinas(
    npsn: str, period_id: str, body: KirimRequest, principal: CurrentPrincipal, pool: Db
) -> KirimResult:
    if principal.role is not Role.KEPALA_SEKOLAH or principal.nip is None:
        raise forbidden("ROLE_FORBIDDEN", "Hanya Kepala Sekolah (atasan) yang dapat melakukan ini.")
    ks = principal.nip
    async with pool.acquire() as conn, conn.transaction():
        await _school(conn, npsn)
        # One submission per KS, school and period at a time.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{npsn}:{period_id}:{ks}")
        rows = await repository.school_teachers(conn, npsn, period_id, ks)
        if not rows:
            raise NOT_ATASAN
        if await repository.get_submission(conn, npsn, period_id, ks):
            raise refused(ALREADY_SUBMITTED)
        due = [
            TeacherStatus(r["nip"], AssessmentState(r["state"])) for r in rows if r["ever_agreed"]
        ]
        try:
            done = check_submission(due, body.exclusions)
        except RatingRefused as exc:
            raise refused(exc) from exc
        await repository.record_submission(conn, npsn, period_id, ks, done.assessed, done.excluded)
        await outbox.add_event(
            conn,
            SCHOOL_SUBMITTED,
            npsn,
            SchoolSubmitted(
                npsn=npsn,
                period_id=period_id,
                atasan_nip=ks,
                assessed=len(done.assessed),
                excluded=len(done.excluded),
            ),
        )
    return KirimResult(
        npsn=npsn,
        period_id=period_id,
        assessed=list(done.assessed),
        exclusions=dict(done.excluded),
    )
