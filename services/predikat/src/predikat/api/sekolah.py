"""A school at once: list, decide (*Penetapan*) and send (*Kirim ke guru*).

See docs/domain.md §2.8–§2.9.
"""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field

from kinerja_shared import access
from kinerja_shared.auth import Role
from kinerja_shared.fields import Reason
from kinerja_shared.http import CurrentPrincipal, Db, error_responses

from .. import repository
from ..domain.curve import OrgPredikat, TeacherPredikat
from ..domain.penetapan import PredikatState, check_tetapkan
from .deps import atasan_of_any, org_predikat, send_many
from .views import Accepted, OverrideView, SchoolView, TetapkanResult, predikat_view
from .wilayah import is_strict

router = APIRouter(prefix="/sekolah", tags=["sekolah"])


class TetapkanRequest(BaseModel):
    distribution_reason: Reason | None = Field(
        default=None,
        description="Needed (at least 20 characters) to pass a distribution-curve warning (V-21).",
    )


@router.get("/{npsn}/{period_id}", responses=error_responses(403, 404))
async def get_school(
    npsn: str, period_id: str, principal: CurrentPrincipal, pool: Db
) -> SchoolView:
    await access.authorize_school_read(pool, principal, npsn)
    rows = await repository.school_rows(pool, npsn, period_id)
    if principal.role is Role.KEPALA_SEKOLAH:
        mine = set(await repository.teachers_of_atasan(pool, principal.nip or "", npsn))
        rows = [r for r in rows if r["nip"] in mine]
    org = await repository.get_org(pool, npsn, period_id)
    return SchoolView(
        npsn=npsn,
        period_id=period_id,
        predikat_organisasi=org["predikat_organisasi"] if org else None,
        teachers=[predikat_view(r) for r in rows],
        distribution_overrides=[
            OverrideView(**dict(r)) for r in await repository.overrides(pool, npsn, period_id)
        ],
    )


@router.post("/{npsn}/{period_id}/tetapkan", responses=error_responses(403, 404, 422))
async def tetapkan(
    npsn: str,
    period_id: str,
    body: TetapkanRequest,
    principal: CurrentPrincipal,
    pool: Db,
    request: Request,
) -> TetapkanResult:
    ks = access.require_kepala_sekolah(principal)
    async with pool.acquire() as conn, conn.transaction():
        school = await access.school_on_roster(conn, npsn)
        mine = await repository.teachers_of_atasan(conn, ks, npsn)
        atasan_of_any(mine)
        org = await repository.get_org(conn, npsn, period_id, lock=True)
        await repository.school_rows(conn, npsn, period_id, lock=True)
        counted = await repository.school_counted_rows(conn, npsn, period_id)
        counts = Counter(TeacherPredikat(r["predikat"]) for r in counted if r["nip"] != ks)
        outcome = check_tetapkan(
            OrgPredikat(org["predikat_organisasi"]) if org else None,
            dict(counts),
            body.distribution_reason,
            strict=await is_strict(conn, request, school["kode_wilayah"]),
        )
        if outcome.reason is not None:
            await repository.record_override(
                conn,
                npsn,
                period_id,
                outcome.reason,
                [
                    {"clause": v.clause.value, "actual": v.actual, "limit": v.limit, "text": v.text}
                    for v in outcome.violations
                ],
                {p.value: c for p, c in counts.items()},
                ks,
            )
        rows = await repository.school_rows(conn, npsn, period_id)
        drafts = [r["nip"] for r in rows if r["nip"] in set(mine) and r["state"] == "DRAF"]
        await repository.mark_ditetapkan(conn, drafts, period_id, ks, outcome.reason)
    return TetapkanResult(ditetapkan=drafts, distribution_reason=outcome.reason)


@router.post(
    "/{npsn}/{period_id}/kirim",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(403, 404, 422),
)
async def kirim_school(
    npsn: str, period_id: str, principal: CurrentPrincipal, pool: Db, request: Request
) -> Accepted:
    ks = access.require_kepala_sekolah(principal)
    result = Accepted(delivery_ids={})
    async with pool.acquire() as conn, conn.transaction():
        await access.school_on_roster(conn, npsn)
        mine = set(await repository.teachers_of_atasan(conn, ks, npsn))
        atasan_of_any(list(mine))
        org = await org_predikat(conn, npsn, period_id)
        to_send = []
        for row in await repository.school_rows(conn, npsn, period_id, lock=True):
            if row["nip"] not in mine:
                continue
            if row["version"] >= 1:
                result.delivery_ids[row["nip"]] = row["delivery_id"]
            elif row["state"] == PredikatState.DITETAPKAN:
                to_send.append(row)
            else:
                result.belum_ditetapkan.append(row["nip"])
        sent = await send_many(conn, to_send, org, ks)
    result.delivery_ids = dict(sorted({**result.delivery_ids, **sent}.items()))
    return result
