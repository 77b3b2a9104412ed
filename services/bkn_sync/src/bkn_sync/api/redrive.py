"""The redrive: an operator's of any parked or dead deliveries, a Dinas's of its own area's
roster-fixable ones; who and why in the answer and the log."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from kinerja_shared import access
from kinerja_shared.auth import Principal, Role
from kinerja_shared.events.bkn_sync import DeliveryState, RecordKind
from kinerja_shared.http import CurrentPrincipal, Db, error_responses
from kinerja_shared.refusal import Refusal

from .. import pipeline, repository
from ..domain.classify import DROPPED, ROSTER_FIXABLE
from .deps import MAX_ROWS
from .views import Actor, RedriveResult, delivery_view

router = APIRouter()
log = logging.getLogger(__name__)


class Filters(BaseModel):
    nip: str | None = Field(default=None, max_length=18, pattern=r"^\d{18}$")
    npsn: str | None = Field(default=None, max_length=8)
    period_id: str | None = Field(default=None, max_length=32)
    kind: RecordKind | None = None
    states: list[DeliveryState] = Field(
        default_factory=lambda: [DeliveryState.PARKED, DeliveryState.DEAD],
        max_length=len(DeliveryState),
        description="Only PARKED and DEAD deliveries are ever redriven.",
    )
    reason_codes: list[Annotated[str, Field(max_length=32)]] | None = Field(
        default=None,
        max_length=50,
        description="E.g. BKN-E01. Kemenag drops (BKN-E07) and predikat held for their SKP "
        "(PARKED BKN-E08) are redriven only when named here.",
    )


class RedriveRequest(BaseModel):
    filters: Filters = Field(default_factory=Filters)
    dry_run: bool = Field(default=True, description="List what would be redriven, change nothing.")
    reason: str | None = Field(
        default=None,
        max_length=500,
        description='Why (e.g. "NIP diperbaiki di Verval PTK"): logged with who redrove and '
        "returned in the answer.",
    )


def _reason_not_roster_fixable(named: list[str]) -> Refusal:
    return access.forbidden(
        "REDRIVE_REASON_FORBIDDEN",
        "Dinas hanya dapat mengirim ulang pengiriman yang tertahan karena data Dapodik "
        f"({', '.join(sorted(ROSTER_FIXABLE))}); alasan lain ditangani operator: "
        f"{', '.join(sorted(named))}.",
    )


async def _dinas_scope(conn: Any, principal: Principal, f: Filters) -> dict[str, Any]:
    """What a Dinas may redrive: its area's schools, roster-fixable reasons only. A named
    school, teacher or reason beyond that is refused (so the dry run it sees is exactly what
    applying would redrive); unnamed ones are narrowed to what it may touch."""
    if f.reason_codes:
        beyond = set(f.reason_codes) - ROSTER_FIXABLE
        if beyond:
            raise _reason_not_roster_fixable(sorted(beyond))
    if f.npsn is not None:
        await access.authorize_school_read(conn, principal, f.npsn)
    if f.nip is not None:
        await access.authorize_read(conn, principal, f.nip)
    return {"area": principal.area, "reason_codes": f.reason_codes or sorted(ROSTER_FIXABLE)}


@router.post("/redrive", responses=error_responses(403, 404))
async def redrive(body: RedriveRequest, principal: CurrentPrincipal, pool: Db) -> RedriveResult:
    """Parked and dead deliveries back to QUEUED with a fresh budget. An operator redrives any;
    a Dinas only its area's deliveries parked for a roster-fixable reason (BKN-E01–E06)."""
    access.require_role(principal, Role.OPERATOR, Role.DINAS)
    f = body.filters
    async with pool.acquire() as conn, conn.transaction():
        scope: dict[str, Any] = {"reason_codes": f.reason_codes}
        if principal.role is Role.DINAS:
            scope = await _dinas_scope(conn, principal, f)
        rows = await repository.find(
            conn,
            limit=MAX_ROWS,
            for_update=not body.dry_run,
            nip=f.nip,
            npsn=f.npsn,
            period_id=f.period_id,
            kind=f.kind.value if f.kind else None,
            states=[s.value for s in f.states],
            **scope,
        )
        if not f.reason_codes:
            # Kemenag drops, and predikat held for their SKP (released when it is delivered:
            # sent now, e-Kinerja would only refuse them), are redriven only when named.
            rows = [
                r
                for r in rows
                if r["reason_code"] not in DROPPED and not repository.to_delivery(r).waiting_for_skp
            ]
        done = await pipeline.redrive(conn, rows, dry_run=body.dry_run)
    actor = Actor(subject=principal.subject, role=principal.role, area=principal.area)
    if not body.dry_run:
        # The log is the redrive's record in bkn-sync (the console keeps its own audit):
        # who, why, and which deliveries, so a later question "who sent these again?" has an
        # answer here too.
        log.info(
            "redrive",
            extra={
                "redrive_actor": actor.subject,
                "redrive_role": actor.role.value,
                "redrive_area": actor.area,
                "redrive_reason": body.reason,
                "redrive_count": len(done),
                "redrive_deliveries": [r["delivery_id"] for r in done],
            },
        )
    return RedriveResult(
        dry_run=body.dry_run,
        count=len(done),
        deliveries=[delivery_view(r) for r in done],
        actor=actor,
        reason=body.reason,
    )
