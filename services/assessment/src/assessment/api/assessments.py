"""One teacher's assessment: read it; the Kepala Sekolah rates it and gets the recommendation."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from kinerja_shared import access, outbox, telemetry
from kinerja_shared.fields import Code, Reason
from kinerja_shared.http import CurrentPrincipal, Db, error_responses

from .. import repository
from ..domain.assessment import with_rating
from ..domain.rating_rules import RatingInput, locked, rate, recommendation
from ..domain.ratings import BERAKHLAK, BERAKHLAK_LABELS, Rating
from .deps import readable_assessment
from .views import AssessmentView, assessment_view

router = APIRouter(prefix="/assessments", tags=["assessment"])


class HkAdjustment(BaseModel):
    rating: Rating
    reason: Reason = Field(description="Why HK moves one step (at least 50 characters).")


class RatingRequest(BaseModel):
    behaviours: dict[Code, Rating] = Field(
        # Seven are needed (PK_INCOMPLETE names the missing and unknown ones); room for a few
        # mistakes, not for an unbounded map.
        max_length=2 * len(BERAKHLAK),
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
    row, a = await readable_assessment(pool, principal, nip, period_id)
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
            raise locked()
        adj = body.hk_adjustment
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
        event = recommendation(
            outcome, nip=nip, period_id=period_id, npsn=npsn, atasan_nip=principal.nip or ""
        )
        # Published in the rating's trace, with a link back to the agreed plan's.
        with telemetry.linked_span("assessment recommend", [row["plan_traceparent"]]):
            await outbox.add_events(conn, [event])
        row = await repository.get(conn, nip, period_id)
    return assessment_view(row, rated)
