"""HTTP routes: where each delivery to e-Kinerja stands, and the operator's redrive."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from kinerja_shared import access
from kinerja_shared.auth import Principal, Role
from kinerja_shared.events.bkn_sync import DeliveryState, RecordKind
from kinerja_shared.http import CurrentPrincipal, Db, error_responses
from kinerja_shared.refusal import Kind, Refusal

from . import pipeline, repository
from .breaker import BreakerView
from .domain.classify import DROPPED
from .sender import Sender

router = APIRouter(tags=["bkn-sync"])

MAX_ROWS = 500


class DeliveryView(BaseModel):
    delivery_id: str
    kind: RecordKind
    nip: str
    npsn: str
    period_id: str
    version: int
    idempotency_key: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    reason_code: str | None
    reason: str | None
    remedy: str | None
    actor: str | None
    first_error: str | None
    last_error: str | None
    first_attempt_at: datetime | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    updated_at: datetime
    school_name: str | None = Field(
        default=None, description="The school's name as the roster knows it, if it does."
    )
    trace_id: str | None = Field(
        default=None,
        description="The trace of the record that brought the current version (W3C trace id).",
    )
    cursor: str = Field(
        default="",
        description="Pass as ``after`` to list the rows that follow this one (keyset).",
    )


def _trace_id(context: Any) -> str | None:
    if isinstance(context, str):  # a pool without the json codec hands jsonb over as text
        context = json.loads(context)
    parts = str((context or {}).get("traceparent", "")).split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


def _view(row: Any) -> DeliveryView:
    derived = {"school_name", "trace_id", "cursor"}
    fields = {k: row[k] for k in DeliveryView.model_fields if k not in derived}
    fields["idempotency_key"] = str(row["idempotency_key"])
    keys = set(row.keys())
    fields["school_name"] = row["school_name"] if "school_name" in keys else None
    fields["trace_id"] = _trace_id(row["trace_context"]) if "trace_context" in keys else None
    fields["cursor"] = f"{row['updated_at'].isoformat()}|{row['delivery_id']}"
    return DeliveryView(**fields)


def _cursor(after: str | None) -> tuple[datetime, str] | None:
    if after is None:
        return None
    at, sep, delivery_id = after.partition("|")
    try:
        if not sep or not delivery_id:
            raise ValueError(after)
        return datetime.fromisoformat(at), delivery_id
    except ValueError:
        raise Refusal(
            "VALIDATION_ERROR", "Kursor halaman tidak valid.", Kind.INVALID, after=after
        ) from None


class Count(BaseModel):
    state: DeliveryState
    reason_code: str | None
    count: int


class Counts(BaseModel):
    counts: list[Count]
    breaker: BreakerView = Field(
        description="Whether deliveries are flowing: while OPEN they wait without spending "
        "their attempts (BKN-T04)."
    )


def _breaker(request: Request) -> BreakerView:
    sender: Sender = request.app.state.runtime.extras["sender"]
    return sender.gate.view()


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


class RedriveResult(BaseModel):
    dry_run: bool
    count: int
    deliveries: list[DeliveryView]


def _scope(principal: Principal) -> dict[str, Any]:
    """Operators see everything; a Dinas only the schools of its area."""
    access.require_role(principal, Role.OPERATOR, Role.DINAS)
    return {"area": principal.area} if principal.role is Role.DINAS else {}


@router.get("/deliveries/counts", responses=error_responses(403))
async def delivery_counts(
    principal: CurrentPrincipal,
    pool: Db,
    request: Request,
    npsn: str | None = None,
    period_id: str | None = None,
    kind: RecordKind | None = None,
    since: Annotated[
        datetime | None, Query(description="Only deliveries that changed since then.")
    ] = None,
) -> Counts:
    rows = await repository.counts(
        pool,
        npsn=npsn,
        period_id=period_id,
        kind=kind.value if kind else None,
        updated_since=since,
        **_scope(principal),
    )
    return Counts(
        counts=[Count(state=r["state"], reason_code=r["reason_code"], count=r["n"]) for r in rows],
        breaker=_breaker(request),
    )


@router.get("/breaker", responses=error_responses(403))
async def breaker_state(principal: CurrentPrincipal, request: Request) -> BreakerView:
    """The e-Kinerja circuit breaker of this instance."""
    access.require_role(principal, Role.OPERATOR, Role.DINAS)
    return _breaker(request)


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
        after=_cursor(after),
        nip=nip,
        states=[state.value] if state else None,
        reason_codes=[reason_code] if reason_code else None,
        npsn=npsn,
        period_id=period_id,
        kind=kind.value if kind else None,
        **_scope(principal),
    )
    return [_view(r) for r in rows]


@router.get("/deliveries/{nip}", responses=error_responses(403, 404))
async def teacher_deliveries(nip: str, principal: CurrentPrincipal, pool: Db) -> list[DeliveryView]:
    """Every delivery of one teacher: "where is this teacher's predikat?"."""
    await access.authorize_read(pool, principal, nip)
    rows = await repository.find(pool, nip=nip, limit=MAX_ROWS)
    return [_view(r) for r in rows]


@router.post("/redrive", responses=error_responses(403))
async def redrive(body: RedriveRequest, principal: CurrentPrincipal, pool: Db) -> RedriveResult:
    access.require_role(principal, Role.OPERATOR)
    f = body.filters
    async with pool.acquire() as conn, conn.transaction():
        rows = await repository.find(
            conn,
            limit=MAX_ROWS,
            for_update=not body.dry_run,
            nip=f.nip,
            npsn=f.npsn,
            period_id=f.period_id,
            kind=f.kind.value if f.kind else None,
            states=[s.value for s in f.states],
            reason_codes=f.reason_codes,
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
    return RedriveResult(dry_run=body.dry_run, count=len(done), deliveries=[_view(r) for r in done])
