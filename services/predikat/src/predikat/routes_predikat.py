"""One teacher's predikat: set by the KS (atasan), sent, corrected, read (DOMAIN.md §2.8–§2.9)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field

from kinerja_shared import access
from kinerja_shared.auth import Role
from kinerja_shared.errors import DomainError
from kinerja_shared.http import CurrentPrincipal, Db, error_responses

from . import authz, repository, sending
from .domain.curve import TeacherPredikat
from .domain.penetapan import (
    V19,
    PredikatState,
    RuleViolation,
    check_correction,
    choose_predikat,
    may_edit,
)
from .views import PredikatView, guru_view, predikat_view

router = APIRouter(prefix="/predikat", tags=["predikat"])

NOT_FOUND = DomainError(
    "PREDIKAT_NOT_FOUND",
    "Predikat kinerja untuk periode ini belum tersedia: penilaian belum direkomendasikan.",
    404,
)
NOT_YET_SENT = DomainError(
    "PREDIKAT_BELUM_TERKIRIM",
    "Predikat kinerja Anda belum dikirim oleh Kepala Sekolah atau masih dalam proses pengiriman.",
    404,
)
NOT_DECIDED = DomainError(
    "PREDIKAT_BELUM_DITETAPKAN",
    "Predikat belum ditetapkan; tetapkan predikat sekolah terlebih dahulu.",
    422,
)


class SetRequest(BaseModel):
    predikat: TeacherPredikat | None = None
    reason: str | None = Field(default=None, description="Needed when leaving the recommendation.")


class CorrectionRequest(BaseModel):
    predikat: TeacherPredikat
    reason: str = Field(description="Why the sent predikat is corrected (at least 20 characters).")


class Accepted(BaseModel):
    delivery_ids: dict[str, str]
    belum_ditetapkan: list[str] = Field(default_factory=list)


async def locked_row(conn: repository.Tx, nip: str, period_id: str) -> Any:
    row = await repository.get_teacher(conn, nip, period_id, lock=True)
    if row is None:
        raise NOT_FOUND
    return row


@router.get("/{nip}/{period_id}", responses=error_responses(403, 404))
async def get_predikat(
    nip: str, period_id: str, principal: CurrentPrincipal, pool: Db
) -> PredikatView:
    await access.authorize_read(pool, principal, nip)
    row = await repository.get_teacher(pool, nip, period_id)
    if principal.role is Role.GURU:
        if row is None or row["delivered_version"] is None:
            raise NOT_YET_SENT
        return guru_view(row)
    if row is None:
        raise NOT_FOUND
    return predikat_view(row)


@router.put("/{nip}/{period_id}", responses=error_responses(403, 404, 409, 422))
async def set_predikat(
    nip: str, period_id: str, body: SetRequest, principal: CurrentPrincipal, pool: Db
) -> PredikatView:
    async with pool.acquire() as conn, conn.transaction():
        await access.authorize_atasan(conn, principal, nip)
        row = await locked_row(conn, nip, period_id)
        try:
            may_edit(PredikatState(row["state"]), row["version"])
            value, reason = choose_predikat(
                TeacherPredikat(row["recommended_predikat"]), body.predikat, body.reason
            )
        except RuleViolation as exc:
            raise authz.as_domain(exc) from exc
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
            raise NOT_DECIDED
        org = await repository.get_org(conn, row["npsn"], period_id)
        if org is None:
            raise authz.as_domain(V19)
        assert principal.nip is not None
        did = await sending.send(
            conn,
            row,
            org["predikat_organisasi"],
            principal.nip,
        )
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
            raise DomainError(
                "KOREKSI_BELUM_DIKIRIM",
                "Predikat belum dikirim; ubah predikat lalu tetapkan kembali.",
                409,
            )
        try:
            reason = check_correction(TeacherPredikat(row["predikat"]), body.predikat, body.reason)
        except RuleViolation as exc:
            raise authz.as_domain(exc) from exc
        org = await repository.get_org(conn, row["npsn"], period_id)
        if org is None:
            raise authz.as_domain(V19)
        assert principal.nip is not None
        did = await sending.send(
            conn,
            row,
            org["predikat_organisasi"],
            principal.nip,
            predikat=body.predikat.value,
            correction_reason=reason,
        )
    return Accepted(delivery_ids={nip: did})
