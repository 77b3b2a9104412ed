"""A school at once: the summary, and *Kirim ke Dinas* (docs/domain.md §2.6, V-20)."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter
from pydantic import BaseModel, Field

from kinerja_shared import access, outbox
from kinerja_shared.fields import Item, NipKey
from kinerja_shared.http import CurrentPrincipal, Db, error_responses

from .. import repository
from ..domain.assessment import AssessmentState
from ..domain.submission import (
    TeacherStatus,
    already_submitted,
    check_submission,
    submitted_event,
)
from .deps import visible_atasan
from .views import SchoolSummary, submission_view, teacher_summary

router = APIRouter(prefix="/sekolah", tags=["sekolah"])


# More teachers than the largest school has under one Kepala Sekolah.
EXCLUSIONS_MAX = 200


class KirimRequest(BaseModel):
    exclusions: dict[NipKey, Item] = Field(
        default_factory=dict,
        max_length=EXCLUSIONS_MAX,
        description="Teachers left out of this submission, NIP -> reason (at least 20 chars).",
    )


class KirimResult(BaseModel):
    npsn: str
    period_id: str
    assessed: list[str]
    exclusions: dict[str, str]


@router.get("/{npsn}/{period_id}", responses=error_responses(403, 404))
async def school_summary(
    npsn: str, period_id: str, principal: CurrentPrincipal, pool: Db
) -> SchoolSummary:
    atasan = await visible_atasan(pool, principal, npsn)
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
    ks = access.require_kepala_sekolah(principal)
    async with pool.acquire() as conn, conn.transaction():
        await access.school_on_roster(conn, npsn)
        # One submission per KS, school and period at a time.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{npsn}:{period_id}:{ks}")
        rows = await repository.school_teachers(conn, npsn, period_id, ks)
        if not rows:
            raise access.not_atasan()
        if await repository.get_submission(conn, npsn, period_id, ks):
            raise already_submitted()
        # Every active ASN teacher counts, with or without an agreed plan: one who never
        # started the cycle is rated or excluded by name with a reason, never silently left out.
        due = [
            TeacherStatus(r["nip"], AssessmentState(r["state"] or AssessmentState.BELUM_DINILAI))
            for r in rows
        ]
        done = check_submission(due, body.exclusions)
        await repository.record_submission(conn, npsn, period_id, ks, done.assessed, done.excluded)
        event = submitted_event(done, npsn=npsn, period_id=period_id, atasan_nip=ks)
        await outbox.add_events(conn, [event])
    return KirimResult(
        npsn=npsn,
        period_id=period_id,
        assessed=list(done.assessed),
        exclusions=dict(done.excluded),
    )
