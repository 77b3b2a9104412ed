"""HTTP routes: where each delivery to e-Kinerja stands, and the redrive (an operator's, or a
Dinas's of its own area's roster-fixable deliveries)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from kinerja_shared import access
from kinerja_shared.auth import Principal, Role
from kinerja_shared.events.bkn_sync import DeliveryState, RecordKind
from kinerja_shared.http import CurrentPrincipal, Db, error_responses
from kinerja_shared.refusal import Kind, Refusal

from . import counts, pause, pipeline, repository
from .breaker import BreakerView
from .counts import Window
from .domain.classify import DROPPED, ROSTER_FIXABLE
from .sender import Sender

router = APIRouter(tags=["bkn-sync"])
log = logging.getLogger(__name__)

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


class KindCount(Count):
    kind: RecordKind


class WindowCounts(BaseModel):
    window: Window
    since: datetime | None = Field(
        description="The first hour the window covers (whole hours); none for ``all``."
    )
    counts: list[KindCount] = Field(
        description="``all``: deliveries in each state and reason now. ``1h``, ``1d``: entries "
        "into each state since ``since`` (per entry; reason_code none)."
    )


class Counts(BaseModel):
    counts: list[Count]
    breaker: BreakerView = Field(
        description="Whether deliveries are flowing: while OPEN they wait without spending "
        "their attempts (BKN-T04)."
    )
    windows: list[WindowCounts] = Field(
        default_factory=list, description="Per kind, for each ``window`` asked for."
    )
    source: Literal["kept", "live"] = Field(
        default="kept",
        description="kept: the counts bkn-sync keeps as it writes (exact, cheap). live: counted "
        "from the deliveries now, for a filter the kept counts cannot answer (``since``, "
        "``period_id``); a window is then the deliveries that changed in it.",
    )


def _breaker(request: Request) -> BreakerView:
    sender: Sender = request.app.state.runtime.parts.sender
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
    reason: str | None = Field(
        default=None,
        max_length=500,
        description='Why (e.g. "NIP diperbaiki di Verval PTK"): logged with who redrove and '
        "returned in the answer.",
    )


class Actor(BaseModel):
    subject: str
    role: Role
    area: str | None = None


class RedriveResult(BaseModel):
    dry_run: bool
    count: int
    deliveries: list[DeliveryView]
    actor: Actor = Field(description="Who asked for it.")
    reason: str | None = Field(default=None, description="Why, as they gave it.")


def _scope(principal: Principal) -> dict[str, Any]:
    """Operators see everything; a Dinas only the schools of its area."""
    access.require_role(principal, Role.OPERATOR, Role.DINAS)
    return {"area": principal.area} if principal.role is Role.DINAS else {}


def _counted(rows: list[Any]) -> list[Count]:
    return [Count(state=r["state"], reason_code=r["reason_code"], count=r["n"]) for r in rows]


def _by_kind(rows: list[Any]) -> list[KindCount]:
    return [
        KindCount(kind=r["kind"], state=r["state"], reason_code=r["reason_code"], count=r["n"])
        for r in rows
    ]


def _order(item: tuple[tuple[str, str | None], int]) -> tuple[str, bool, str]:
    (state, code), _ = item
    return state, code is None, code or ""  # as ORDER BY state, reason_code: none last


def _summed(rows: list[Any]) -> list[Count]:
    """Kept rows (per kind) as the answer's ``counts`` (per state and reason)."""
    summed: dict[tuple[str, str | None], int] = {}
    for r in rows:
        key = (r["state"], r["reason_code"])
        summed[key] = summed.get(key, 0) + r["n"]
    return [
        Count(state=s, reason_code=c, count=n) for (s, c), n in sorted(summed.items(), key=_order)
    ]


@router.get("/deliveries/counts", responses=error_responses(403, 422))
async def delivery_counts(
    principal: CurrentPrincipal,
    pool: Db,
    request: Request,
    npsn: str | None = None,
    period_id: str | None = None,
    kind: RecordKind | None = None,
    since: Annotated[
        datetime | None,
        Query(description="Only deliveries that changed since then (counted live)."),
    ] = None,
    window: Annotated[
        list[Window] | None,
        Query(
            max_length=len(Window),
            description="Also answer ``windows``, per kind: ``all`` the deliveries in each state "
            "now, ``1h`` and ``1d`` the entries into each state in the last hour or day (whole "
            "hours). Repeat for several.",
        ),
    ] = None,
) -> Counts:
    """Deliveries per state and reason, from the counts bkn-sync keeps as it writes; with
    ``since`` or ``period_id`` (which those counts cannot answer) counted from the deliveries."""
    if since is not None and window:
        raise Refusal(
            "VALIDATION_ERROR",
            "Gunakan since atau window, tidak keduanya.",
            Kind.INVALID,
        )
    scope = _scope(principal)
    kind_value = kind.value if kind else None
    now = datetime.now(UTC)
    windows: list[WindowCounts] = []
    if since is None and period_id is None:
        async with pool.acquire() as conn:
            kept = await counts.current(conn, kind=kind_value, npsn=npsn, **scope)
            for w in window or []:
                start = counts.window_start(w, now)
                rows = (
                    kept
                    if start is None
                    else await counts.entered(conn, start, kind=kind_value, npsn=npsn, **scope)
                )
                windows.append(WindowCounts(window=w, since=start, counts=_by_kind(rows)))
        return Counts(counts=_summed(kept), breaker=_breaker(request), windows=windows)
    live = {"npsn": npsn, "period_id": period_id, "kind": kind_value, **scope}
    rows = await repository.counts(pool, updated_since=since, **live)
    for w in window or []:
        start = counts.window_start(w, now)
        got = await repository.counts_by_kind(pool, updated_since=start, **live)
        windows.append(WindowCounts(window=w, since=start, counts=_by_kind(got)))
    return Counts(counts=_counted(rows), breaker=_breaker(request), windows=windows, source="live")


class ParkedGroup(BaseModel):
    reason_code: str | None
    reason: str | None
    remedy: str | None
    actor: str | None
    npsn: str
    school_name: str | None = Field(description="As the roster knows it, if it does.")
    count: int = Field(description="Parked deliveries of this school for this reason.")
    reason_count: int = Field(description="Parked deliveries for this reason, every school.")
    reason_schools: int = Field(description="Schools with deliveries parked for this reason.")


MAX_GROUPS = 10_000


@router.get("/deliveries/parked/groups", responses=error_responses(403))
async def parked_groups(
    principal: CurrentPrincipal,
    pool: Db,
    reason_code: Annotated[str | None, Query(max_length=32)] = None,
    per_reason: Annotated[
        int,
        Query(ge=1, le=MAX_GROUPS, description="The schools with the most, for each reason."),
    ] = MAX_GROUPS,
    limit: Annotated[int, Query(ge=1, le=MAX_GROUPS)] = 5_000,
) -> list[ParkedGroup]:
    """Parked deliveries counted per reason and school (the console's Tertahan), by reason,
    then the most first; each row carries its reason's totals over every school, so a page can
    show the first ``per_reason`` schools of each. A Dinas sees its area's schools."""
    rows = await counts.parked_groups(
        pool,
        reason_code=reason_code or None,
        per_reason=per_reason,
        limit=limit,
        **_scope(principal),
    )
    return [
        ParkedGroup(
            reason_code=r["reason_code"],
            reason=r["reason"],
            remedy=r["remedy"],
            actor=r["actor"],
            npsn=r["npsn"],
            school_name=r["school_name"],
            count=r["n"],
            reason_count=r["reason_n"],
            reason_schools=r["reason_schools"],
        )
        for r in rows
    ]


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
        deliveries=[_view(r) for r in done],
        actor=actor,
        reason=body.reason,
    )


# --- pause -------------------------------------------------------------------------------------


MAX_PAUSE = timedelta(days=30)


class PauseRequest(BaseModel):
    reason: str = Field(
        min_length=5,
        max_length=500,
        description="Why, e.g. BKN's announced maintenance window (shown to operators and logged).",
    )
    until: datetime | None = Field(
        default=None,
        description="When deliveries resume by themselves (with a time zone); none: until "
        "DELETE /pause.",
    )


class PauseView(BaseModel):
    paused: bool = Field(description="Whether deliveries to e-Kinerja are held now.")
    reason: str | None = None
    paused_by: str | None = None
    paused_at: datetime | None = None
    until: datetime | None = None


def _pause_view(record: pause.PauseRecord | None) -> PauseView:
    if record is None or not record.in_force(datetime.now(UTC)):
        return PauseView(paused=False)
    return PauseView(
        paused=True,
        reason=record.reason,
        paused_by=record.paused_by,
        paused_at=record.paused_at,
        until=record.until,
    )


def _learn(request: Request, record: pause.PauseRecord | None) -> None:
    # This replica knows at once; the others on their next read (pause_poll_seconds).
    held: pause.Pause = request.app.state.runtime.parts.pause
    held.learn(record)


@router.get("/pause", responses=error_responses(403))
async def pause_state(principal: CurrentPrincipal, pool: Db) -> PauseView:
    """Whether deliveries to e-Kinerja are paused, as every replica reads it."""
    access.require_role(principal, Role.OPERATOR)
    return _pause_view(await pause.read(pool))


@router.put("/pause", responses=error_responses(403, 422))
async def pause_deliveries(
    body: PauseRequest, principal: CurrentPrincipal, pool: Db, request: Request
) -> PauseView:
    """Hold every delivery on every replica: they wait where they are, spending no attempt, as
    under an open breaker, until DELETE /pause or ``until``."""
    access.require_role(principal, Role.OPERATOR)
    if body.until is not None:
        if body.until.tzinfo is None:
            raise Refusal(
                "PAUSE_UNTIL_INVALID",
                "Waktu akhir jeda harus menyertakan zona waktu.",
                Kind.INVALID,
            )
        now = datetime.now(UTC)
        if not now < body.until <= now + MAX_PAUSE:
            # A maintenance window lasts hours; a year typed wrong must not stop deliveries for
            # good (a pause without an end stays until DELETE /pause, on purpose).
            raise Refusal(
                "PAUSE_UNTIL_INVALID",
                f"Waktu akhir jeda harus di masa depan, paling lama {MAX_PAUSE.days} hari lagi.",
                Kind.INVALID,
                until=body.until.isoformat(),
            )
    record = await pause.write(
        pool, reason=body.reason.strip(), paused_by=principal.subject, until=body.until
    )
    _learn(request, record)
    log.info(
        "pause",
        extra={
            "pause_actor": principal.subject,
            "pause_reason": record.reason,
            "pause_until": record.until.isoformat() if record.until else None,
        },
    )
    return _pause_view(record)


@router.delete("/pause", responses=error_responses(403))
async def resume_deliveries(principal: CurrentPrincipal, pool: Db, request: Request) -> PauseView:
    """Lift the pause: every replica resumes on its next read."""
    access.require_role(principal, Role.OPERATOR)
    lifted = await pause.lift(pool)
    _learn(request, None)
    log.info(
        "resume",
        extra={"pause_actor": principal.subject, "was_paused": lifted is not None},
    )
    return PauseView(paused=False)
