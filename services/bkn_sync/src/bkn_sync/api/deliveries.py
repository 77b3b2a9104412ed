"""Where each delivery stands: the listing (keyset pages) and one teacher's deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from kinerja_shared import access
from kinerja_shared.events.bkn_sync import DeliveryState, RecordKind
from kinerja_shared.http import CurrentPrincipal, Db, error_responses

from .. import repository
from .deps import MAX_ROWS, cursor_of, scope_of
from .views import DeliveryView, delivery_view

router = APIRouter()


@router.get("/deliveries", responses=error_responses(403))
async def list_deliveries(
    principal: CurrentPrincipal,
    pool: Db,
    state: DeliveryState | None = None,
    nip: Annotated[str | None, Query(pattern=r"^\d{18}$")] = None,
    npsn: str | None = None,
    period_id: str | None = None,
    kind: RecordKind | None = None,
    reason_code: str | None = None,
    school: Annotated[
        str | None, Query(max_length=100, description="Part of the school's name.")
    ] = None,
    after: Annotated[
        str | None,
        Query(max_length=200, description="The ``cursor`` of the last row of the page before."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 100,
) -> list[DeliveryView]:
    """Newest change first; page on with ``after``."""
    rows = await repository.find(
        pool,
        limit=limit,
        school=school,
        after=cursor_of(after),
        nip=nip,
        states=[state.value] if state else None,
        reason_codes=[reason_code] if reason_code else None,
        npsn=npsn,
        period_id=period_id,
        kind=kind.value if kind else None,
        **scope_of(principal),
    )
    return [delivery_view(r) for r in rows]


@router.get("/deliveries/{nip}", responses=error_responses(403, 404))
async def teacher_deliveries(nip: str, principal: CurrentPrincipal, pool: Db) -> list[DeliveryView]:
    """Every delivery of one teacher: "where is this teacher's predikat?"."""
    await access.authorize_read(pool, principal, nip)
    rows = await repository.find(pool, nip=nip, limit=MAX_ROWS)
    return [delivery_view(r) for r in rows]
