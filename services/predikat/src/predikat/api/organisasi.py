"""The org predikat: set by the Dinas of the school's area (docs/domain.md §2.7)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from kinerja_shared import access, outbox
from kinerja_shared.http import CurrentPrincipal, Db, error_responses

from .. import repository
from ..domain.curve import OrgPredikat
from ..domain.penetapan import OrgState, may_revise_org, org_event
from .views import OrgView, org_view

router = APIRouter(prefix="/organisasi", tags=["organisasi"])


class OrgRequest(BaseModel):
    predikat_organisasi: OrgPredikat


@router.put("/{npsn}/{period_id}", responses=error_responses(403, 404, 409, 422))
async def set_org(
    npsn: str, period_id: str, body: OrgRequest, principal: CurrentPrincipal, pool: Db
) -> OrgView:
    async with pool.acquire() as conn, conn.transaction():
        await access.authorize_dinas(conn, principal, npsn)
        current = await repository.get_org(conn, npsn, period_id, lock=True)
        value = body.predikat_organisasi
        if current is not None and current["predikat_organisasi"] == value.value:
            return org_view(npsn, period_id, current)
        state = OrgState.DITETAPKAN
        if current is not None:
            may_revise_org(await repository.any_sent(conn, npsn, period_id))
            state = OrgState.DIREVISI
            await repository.reopen_unsent(conn, npsn, period_id)
        by = principal.nip or principal.subject
        row = await repository.save_org(conn, npsn, period_id, value.value, state.value, by)
        event = org_event(npsn, period_id, value, by=by, at=row["ditetapkan_at"])
        await outbox.add_events(conn, [event])
    return org_view(npsn, period_id, row)


@router.get("/{npsn}/{period_id}", responses=error_responses(403, 404))
async def get_org(npsn: str, period_id: str, principal: CurrentPrincipal, pool: Db) -> OrgView:
    await access.authorize_school_read(pool, principal, npsn)
    return org_view(npsn, period_id, await repository.get_org(pool, npsn, period_id))
