"""HTTP routes: read an assessment; the Kepala Sekolah rates it and gets the recommendation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from kinerja_shared import access, outbox
from kinerja_shared.errors import DomainError
from kinerja_shared.events.assessment import AssessmentRecommended
from kinerja_shared.http import CurrentPrincipal, Db, error_responses
from kinerja_shared.topics import ASSESSMENT_RECOMMENDED

from . import repository
from .domain.ratings import (
    BERAKHLAK,
    InvalidBehaviourRatings,
    Rating,
    RatingRuleViolation,
    adjust_hk,
    derive_pk,
    recommend_predikat,
)

router = APIRouter(prefix="/assessments", tags=["assessment"])

NOT_OPEN = DomainError(
    "ASSESSMENT_NOT_OPEN",
    "Penilaian belum dapat dilakukan: observasi kelas belum dilaksanakan.",
    404,
)


class HkAdjustment(BaseModel):
    rating: Rating
    reason: str = Field(description="Why HK moves one step (at least 50 characters).")


class RatingRequest(BaseModel):
    behaviours: dict[str, Rating] = Field(
        description=f"All seven BerAKHLAK behaviours: {', '.join(BERAKHLAK)}."
    )
    hk_adjustment: HkAdjustment | None = None


class AssessmentView(BaseModel):
    nip: str
    period_id: str
    state: str
    practice_rating: str
    hasil_kerja: str | None
    perilaku_kerja: str | None
    recommended_predikat: str | None


def _view(row: Any) -> AssessmentView:
    return AssessmentView(**{k: row[k] for k in AssessmentView.model_fields})


@router.get("/{nip}/{period_id}", responses=error_responses(403, 404))
async def get_assessment(
    nip: str, period_id: str, principal: CurrentPrincipal, pool: Db
) -> AssessmentView:
    await access.authorize_read(pool, principal, nip)
    row = await repository.get(pool, nip, period_id)
    if row is None:
        raise NOT_OPEN
    return _view(row)


@router.put("/{nip}/{period_id}/rating", responses=error_responses(403, 404, 422))
async def rate(
    nip: str, period_id: str, body: RatingRequest, principal: CurrentPrincipal, pool: Db
) -> AssessmentView:
    async with pool.acquire() as conn, conn.transaction():
        await access.authorize_atasan(conn, principal, nip)
        row = await conn.fetchrow(
            "SELECT * FROM assessments WHERE nip = $1 AND period_id = $2 FOR UPDATE",
            nip,
            period_id,
        )
        if row is None:
            raise NOT_OPEN
        try:
            pk = derive_pk(body.behaviours)
            hk = Rating(row["practice_rating"])
            if body.hk_adjustment is not None:
                hk = adjust_hk(hk, body.hk_adjustment.rating, body.hk_adjustment.reason)
        except RatingRuleViolation as exc:
            raise DomainError(exc.code, exc.message) from exc
        except InvalidBehaviourRatings as exc:
            raise DomainError("PK_INCOMPLETE", str(exc)) from exc
        predikat = recommend_predikat(hk, pk)
        await repository.save_rating(
            conn,
            nip=nip,
            period_id=period_id,
            hasil_kerja=hk.value,
            perilaku_kerja=pk.value,
            recommended=predikat.value,
            behaviours={k: v.value for k, v in body.behaviours.items()},
        )
        await outbox.add_event(
            conn,
            ASSESSMENT_RECOMMENDED,
            nip,
            AssessmentRecommended(
                assessment_id=f"{nip}:{period_id}",
                nip=nip,
                npsn=row["npsn"],
                period_id=period_id,
                atasan_nip=row["atasan_nip"],
                hasil_kerja=hk.value,
                perilaku_kerja=pk.value,
                recommended_predikat=predikat.value,
            ),
        )
        updated = await repository.get(conn, nip, period_id)
    return _view(updated)
