"""HTTP routes: read one assessment; the Kepala Sekolah rates it and gets the recommendation."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from kinerja_shared import access, outbox
from kinerja_shared.errors import DomainError
from kinerja_shared.events.assessment import AssessmentRecommended
from kinerja_shared.http import CurrentPrincipal, Db, error_responses
from kinerja_shared.topics import ASSESSMENT_RECOMMENDED

from . import repository
from .domain.assessment import EvidenceKind, with_rating
from .domain.rating_rules import (
    LOCKED,
    NOT_AGREED,
    NOT_OBSERVED,
    RatingInput,
    RatingRefused,
    rate,
)
from .domain.ratings import BERAKHLAK, BERAKHLAK_LABELS, Rating
from .views import AssessmentView, assessment_view

router = APIRouter(prefix="/assessments", tags=["assessment"])


def refused(exc: RatingRefused) -> DomainError:
    return DomainError(exc.code, exc.message, exc.status, **exc.detail)


class HkAdjustment(BaseModel):
    rating: Rating
    reason: str = Field(description="Why HK moves one step (at least 50 characters).")


class RatingRequest(BaseModel):
    behaviours: dict[str, Rating] = Field(
        description="Exactly the seven BerAKHLAK behaviour codes as keys: "
        + ", ".join(f"{code} ({label})" for code, label in BERAKHLAK_LABELS.items())
        + ".",
        examples=[dict.fromkeys(BERAKHLAK, Rating.SESUAI_EKSPEKTASI.value)],
    )
    reflection_quality: Rating = Field(
        default=Rating.SESUAI_EKSPEKTASI,
        description="The KS's rating of the teacher's follow-up reflection (HK aspect).",
    )
    allow_missing_followup: bool = Field(
        default=False,
        description="Rate although the teacher sent no follow-up reflection; the follow-up "
        "effort aspect then counts as DI_BAWAH_EKSPEKTASI.",
    )
    hk_adjustment: HkAdjustment | None = None


@router.get("/{nip}/{period_id}", responses=error_responses(403, 404))
async def get_assessment(
    nip: str, period_id: str, principal: CurrentPrincipal, pool: Db
) -> AssessmentView:
    await access.authorize_read(pool, principal, nip)
    row = await repository.get(pool, nip, period_id)
    if row is None:
        raise refused(NOT_AGREED)
    a = repository.to_domain(row, await repository.evidence_of(pool, nip, period_id))
    # Opens when there is something to rate; until then the school summary lists what is missing.
    if not a.ever_agreed:
        raise refused(NOT_AGREED)
    if EvidenceKind.OBSERVATION not in a.evidence:
        raise refused(NOT_OBSERVED)
    return assessment_view(row, a)


@router.put("/{nip}/{period_id}/rating", responses=error_responses(403, 404, 409, 422))
async def rate_assessment(
    nip: str, period_id: str, body: RatingRequest, principal: CurrentPrincipal, pool: Db
) -> AssessmentView:
    async with pool.acquire() as conn, conn.transaction():
        teacher = await access.authorize_atasan(conn, principal, nip)
        row, current = await repository.load(conn, nip, period_id)
        npsn = current.plan.npsn if current.plan else teacher["npsn"]
        # Excluded teachers are locked too: the school's submission closed them.
        if await repository.get_submission(conn, npsn, period_id, principal.nip or ""):
            raise refused(LOCKED)
        adj = body.hk_adjustment
        try:
            outcome = rate(
                current,
                RatingInput(
                    behaviours=body.behaviours,
                    reflection_quality=body.reflection_quality,
                    allow_missing_followup=body.allow_missing_followup,
                    hk_adjusted_to=adj.rating if adj else None,
                    hk_reason=adj.reason if adj else None,
                ),
            )
        except RatingRefused as exc:
            raise refused(exc) from exc
        rated = with_rating(current)
        await repository.save_rating(
            conn,
            nip,
            period_id,
            rated,
            outcome,
            by=principal.nip or "",
            hk_reason=adj.reason if adj else None,
        )
        await outbox.add_event(
            conn,
            ASSESSMENT_RECOMMENDED,
            nip,
            AssessmentRecommended(
                assessment_id=f"{nip}:{period_id}",
                nip=nip,
                npsn=npsn,
                period_id=period_id,
                atasan_nip=principal.nip or "",
                hasil_kerja=outcome.hasil_kerja.value,
                perilaku_kerja=outcome.perilaku_kerja.value,
                recommended_predikat=outcome.predikat.value,
            ),
        )
        row = await repository.get(conn, nip, period_id)
    return assessment_view(row, rated)
