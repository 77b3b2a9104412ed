"""How many deliveries stand where (the console's overview), parked deliveries by reason and
school (its Tertahan), and the breaker."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from kinerja_shared import access
from kinerja_shared.auth import Role
from kinerja_shared.events.bkn_sync import RecordKind
from kinerja_shared.http import CurrentPrincipal, Db, error_responses
from kinerja_shared.refusal import Kind, Refusal

from .. import counts as kept_counts
from .. import repository
from ..breaker import BreakerView
from ..counts import Window
from .deps import breaker_of, scope_of
from .views import Count, Counts, KindCount, ParkedGroup, WindowCounts

router = APIRouter()


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
    scope = scope_of(principal)
    kind_value = kind.value if kind else None
    now = datetime.now(UTC)
    windows: list[WindowCounts] = []
    if since is None and period_id is None:
        async with pool.acquire() as conn:
            kept = await kept_counts.current(conn, kind=kind_value, npsn=npsn, **scope)
            for w in window or []:
                start = kept_counts.window_start(w, now)
                rows = (
                    kept
                    if start is None
                    else await kept_counts.entered(conn, start, kind=kind_value, npsn=npsn, **scope)
                )
                windows.append(WindowCounts(window=w, since=start, counts=_by_kind(rows)))
        return Counts(counts=_summed(kept), breaker=breaker_of(request), windows=windows)
    live = {"npsn": npsn, "period_id": period_id, "kind": kind_value, **scope}
    rows = await repository.counts(pool, updated_since=since, **live)
    for w in window or []:
        start = kept_counts.window_start(w, now)
        got = await repository.counts_by_kind(pool, updated_since=start, **live)
        windows.append(WindowCounts(window=w, since=start, counts=_by_kind(got)))
    return Counts(
        counts=_counted(rows), breaker=breaker_of(request), windows=windows, source="live"
    )


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
    skip: Annotated[
        int,
        Query(ge=0, description="Schools of each reason passed over first: the next page."),
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_GROUPS)] = 5_000,
) -> list[ParkedGroup]:
    """Parked deliveries counted per reason and school (the console's Tertahan), by reason,
    then the most first; each row carries its reason's totals over every school, so a page can
    show the first ``per_reason`` schools of each, or page through one reason's schools with
    ``skip``. A Dinas sees its area's schools."""
    rows = await kept_counts.parked_groups(
        pool,
        reason_code=reason_code or None,
        per_reason=per_reason,
        limit=limit,
        skip=skip,
        **scope_of(principal),
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
    return breaker_of(request)
