"""One teacher's predikat: set by the KS (atasan), sent, corrected, read.

See docs/domain.md §2.8–§2.9.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field

from kinerja_shared import access
from kinerja_shared.auth import Role
from kinerja_shared.fields import Reason
from kinerja_shared.http import CurrentPrincipal, Db, error_responses

from .. import repository
from ..domain.curve import TeacherPredikat
from ..domain.penetapan import (
    PredikatState,
    check_correction,
    choose_predikat,
    correction_before_sent,
    may_edit,
    not_decided,
)
from .deps import locked_row, not_yet_sent, org_predikat, predikat_not_found, send
from .views import Accepted, PredikatView, guru_view, predikat_view

router = APIRouter(prefix="/predikat", tags=["predikat"])


class SetRequest(BaseModel):
    predikat: TeacherPredikat | None = None
    reason: Reason | None = Field(
        default=None, description="Needed when leaving the recommendation."
    )


class CorrectionRequest(BaseModel):
    predikat: TeacherPredikat
    reason: Reason = Field(
        description="Why the sent predikat is corrected (at least 20 characters)."
    )


@router.get("/{nip}/{period_id}", responses=error_responses(403, 404))
async def get_predikat(
    nip: str, period_id: str, principal: CurrentPrincipal, pool: Db
) -> PredikatView:
    await access.authorize_read(pool, principal, nip)
    row = await repository.get_teacher(pool, nip, period_id)
    if principal.role is Role.GURU:
        if row is None or row["delivered_version"] is None:
            raise not_yet_sent()
        return guru_view(row)
    if row is None:
        raise predikat_not_found()
    return predikat_view(row)


@router.put("/{nip}/{period_id}", responses=error_responses(403, 404, 409, 422))
async def set_predikat(
    nip: str, period_id: str, body: SetRequest, principal: CurrentPrincipal, pool: Db
) -> PredikatView:
    async with pool.acquire() as conn, conn.transaction():
        await access.authorize_atasan(conn, principal, nip)
        row = await locked_row(conn, nip, period_id)
        may_edit(PredikatState(row["state"]), row["version"])
        value, reason = choose_predikat(
            TeacherPredikat(row["recommended_predikat"]), body.predikat, body.reason
        )
        # A changed teacher changes the school's curve, so it must be decided again.
        await repository.set_draft_predikat(conn, nip, period_id, value.value, reason)
        updated = await repository.get_teacher(conn, nip, period_id)
    return predikat_view(updated)


@router.post(
    "/{nip}/{period_id}/kirim",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(403, 404, 422),
)
async def kirim(
    nip: str, period_id: str, principal: CurrentPrincipal, pool: Db, request: Request
) -> Accepted:
    async with pool.acquire() as conn, conn.transaction():
        await access.authorize_atasan(conn, principal, nip)
        row = await locked_row(conn, nip, period_id)
        if row["version"] >= 1:
            # Sent already and only a correction changes it: the same click names the same
            # delivery, and no second event goes out.
            return Accepted(delivery_ids={nip: row["delivery_id"]})
        if row["state"] != PredikatState.DITETAPKAN:
            raise not_decided()
        org = await org_predikat(conn, row["npsn"], period_id)
        assert principal.nip is not None
        did = await send(conn, row, org, principal.nip)
    return Accepted(delivery_ids={nip: did})


@router.post(
    "/{nip}/{period_id}/koreksi",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(403, 404, 409, 422),
)
async def koreksi(
    nip: str,
    period_id: str,
    body: CorrectionRequest,
    principal: CurrentPrincipal,
    pool: Db,
    request: Request,
) -> Accepted:
    async with pool.acquire() as conn, conn.transaction():
        await access.authorize_atasan(conn, principal, nip)
        row = await locked_row(conn, nip, period_id)
        if row["version"] < 1:
            raise correction_before_sent()
        reason = check_correction(TeacherPredikat(row["predikat"]), body.predikat, body.reason)
        org = await org_predikat(conn, row["npsn"], period_id)
        assert principal.nip is not None
        did = await send(
            conn,
            row,
            org,
            principal.nip,
            predikat=body.predikat.value,
            correction_reason=reason,
        )
    return Accepted(delivery_ids={nip: did})
