"""The org predikat: set by the Dinas of the school's area (DOMAIN.md §2.7)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from kinerja_shared import outbox
from kinerja_shared.events.predikat import OrganisasiDitetapkan
from kinerja_shared.http import CurrentPrincipal, Db, error_responses
from kinerja_shared.topics import ORGANISASI_DITETAPKAN

from . import authz, repository
from .domain.curve import OrgPredikat
from .domain.penetapan import OrgState, RuleViolation, may_revise_org

router = APIRouter(prefix="/organisasi", tags=["organisasi"])


class OrgRequest(BaseModel):
    predikat_organisasi: OrgPredikat


class OrgView(BaseModel):
    npsn: str
    period_id: str
    state: OrgState
    predikat_organisasi: OrgPredikat | None = None
    revision: int = 0
    ditetapkan_by: str | None = None
    ditetapkan_at: datetime | None = None


def _view(npsn: str, period_id: str, row: object | None) -> OrgView:
    if row is None:
        return OrgView(npsn=npsn, period_id=period_id, state=OrgState.MENUNGGU_DATA)
    return OrgView(**{k: row[k] for k in OrgView.model_fields})  # type: ignore[index]


@router.put("/{npsn}/{period_id}", responses=error_responses(403, 404, 409, 422))
async def set_org(
    npsn: str, period_id: str, body: OrgRequest, principal: CurrentPrincipal, pool: Db
) -> OrgView:
    async with pool.acquire() as conn, conn.transaction():
        await authz.dinas_of(conn, principal, npsn)
        current = await repository.get_org(conn, npsn, period_id, lock=True)
        value = body.predikat_organisasi
        if current is not None and current["predikat_organisasi"] == value.value:
            return _view(npsn, period_id, current)
        state = OrgState.DITETAPKAN
        if current is not None:
            try:
                may_revise_org(await repository.any_sent(conn, npsn, period_id))
            except RuleViolation as exc:
                raise authz.as_domain(exc) from exc
            state = OrgState.DIREVISI
            await repository.reopen_unsent(conn, npsn, period_id)
        by = principal.nip or principal.subject
        row = await repository.save_org(conn, npsn, period_id, value.value, state.value, by)
        await outbox.add_event(
            conn,
            ORGANISASI_DITETAPKAN,
            npsn,
            OrganisasiDitetapkan(
                npsn=npsn,
                period_id=period_id,
                predikat_organisasi=value.value,
                ditetapkan_by=by,
                ditetapkan_at=row["ditetapkan_at"],
            ),
        )
    return _view(npsn, period_id, row)


@router.get("/{npsn}/{period_id}", responses=error_responses(403, 404))
async def get_org(npsn: str, period_id: str, principal: CurrentPrincipal, pool: Db) -> OrgView:
    await authz.read_school(pool, principal, npsn)
    return _view(npsn, period_id, await repository.get_org(pool, npsn, period_id))
