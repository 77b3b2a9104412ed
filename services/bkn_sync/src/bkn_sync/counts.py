"""Delivery counts kept as bkn-sync writes (migration 0006), and the parked deliveries grouped by
reason and school: what the console's overview and Tertahan page show, without reading the whole
deliveries table on each view.

Triggers on ``deliveries`` append what each statement changed to ``delivery_count_deltas``;
``fold`` (every replica, every ``counts_fold_seconds``) moves those into ``delivery_counts``
(current deliveries per kind, state, reason and school) and ``delivery_flow`` (entries into a
state per hour and school). A read adds the deltas not folded yet, in the same statement (one
snapshot: a fold is seen wholly or not at all), so a count is exact right after a write.

Windows ("1h", "1d"): the deliveries that *entered* each state in the window, counted per entry
(one that went RETRYING twice in the hour counts twice there), by whole hours: a window starts
at the hour the window's length ago falls in, so "1h" at 10:20 covers 09:00 to now. The current
count ("all") is how many are in each state now. Entries are not kept by reason.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import asyncpg

from .parts import BknRuntime

log = logging.getLogger(__name__)


class Window(StrEnum):
    HOUR = "1h"
    DAY = "1d"
    ALL = "all"


LENGTH = {Window.HOUR: timedelta(hours=1), Window.DAY: timedelta(days=1)}


def window_start(window: Window, now: datetime) -> datetime | None:
    """The first hour a window covers (none: the current count)."""
    if window is Window.ALL:
        return None
    return (now - LENGTH[window]).replace(minute=0, second=0, microsecond=0)


def _scope(
    alias: str, *, kind: str | None, npsn: str | None, area: str | None
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if kind is not None:
        args.append(kind)
        clauses.append(f"{alias}.kind = ${len(args)}")
    if npsn is not None:
        args.append(npsn)
        clauses.append(f"{alias}.npsn = ${len(args)}")
    if area is not None:
        # A Dinas sees the schools of its area, as the roster projection knows them.
        args.append(area)
        clauses.append(
            f"EXISTS (SELECT 1 FROM roster_sekolah s WHERE s.npsn = {alias}.npsn "
            f"AND s.kode_wilayah LIKE ${len(args)} || '%')"
        )
    return " AND ".join(clauses) or "true", args


def current_sql(where: str) -> str:
    """Deliveries per kind, state and reason now: the folded totals plus the unfolded deltas."""
    return (
        "SELECT c.kind, c.state, nullif(c.reason_code, '') AS reason_code, sum(c.n) AS n FROM ("
        " SELECT kind, state, reason_code, npsn, n FROM delivery_counts"
        " UNION ALL"
        " SELECT kind, state, reason_code, npsn, n FROM delivery_count_deltas"
        f") c WHERE {where} GROUP BY c.kind, c.state, c.reason_code HAVING sum(c.n) <> 0 "
        "ORDER BY c.kind, c.state, c.reason_code"
    )


def entered_sql(where: str, since_arg: int) -> str:
    """Entries into each state since an hour: the folded flow plus the unfolded deltas."""
    return (
        "SELECT c.kind, c.state, NULL::text AS reason_code, sum(c.entered) AS n FROM ("
        " SELECT hour, kind, state, npsn, entered FROM delivery_flow"
        " UNION ALL"
        " SELECT hour, kind, state, npsn, entered FROM delivery_count_deltas"
        f") c WHERE c.hour >= ${since_arg} AND {where} "
        "GROUP BY c.kind, c.state HAVING sum(c.entered) <> 0 ORDER BY c.kind, c.state"
    )


Conn = asyncpg.Connection | asyncpg.Pool | Any


async def current(
    conn: Conn, *, kind: str | None = None, npsn: str | None = None, area: str | None = None
) -> list[asyncpg.Record]:
    where, args = _scope("c", kind=kind, npsn=npsn, area=area)
    rows: list[asyncpg.Record] = await conn.fetch(current_sql(where), *args)
    return rows


async def entered(
    conn: Conn,
    since: datetime,
    *,
    kind: str | None = None,
    npsn: str | None = None,
    area: str | None = None,
) -> list[asyncpg.Record]:
    where, args = _scope("c", kind=kind, npsn=npsn, area=area)
    args.append(since)
    rows: list[asyncpg.Record] = await conn.fetch(entered_sql(where, len(args)), *args)
    return rows


# --- parked deliveries by reason and school ---------------------------------------------------


def parked_groups_sql(where: str, skip_arg: int, per_reason_arg: int, limit_arg: int) -> str:
    """Parked deliveries counted per reason and school (from the partial index
    deliveries_parked): after the ``skip`` schools with the most of each reason, the next
    ``per_reason``, each row with
    its reason's totals over every school, and its text, remedy and actor read once from one of
    its rows (a parked delivery always has a reason code; one without would show no text)."""
    return (
        "WITH groups AS ("
        " SELECT d.reason_code, d.npsn, count(*) AS n FROM deliveries d"
        f" WHERE d.state = 'PARKED' AND {where}"
        " GROUP BY d.reason_code, d.npsn"
        "), ranked AS ("
        " SELECT g.*,"
        "  row_number() OVER (PARTITION BY g.reason_code ORDER BY g.n DESC, g.npsn) AS rank,"
        "  sum(g.n) OVER (PARTITION BY g.reason_code) AS reason_n,"
        "  count(*) OVER (PARTITION BY g.reason_code) AS reason_schools"
        " FROM groups g"
        "), shown AS ("
        f" SELECT * FROM ranked"
        f" WHERE rank > ${skip_arg} AND rank <= ${skip_arg} + ${per_reason_arg}"
        f" ORDER BY reason_code, rank LIMIT ${limit_arg}"
        "), reasons AS ("
        " SELECT r.reason_code, x.reason, x.remedy, x.actor"
        " FROM (SELECT DISTINCT reason_code FROM shown) r"
        " LEFT JOIN LATERAL (SELECT reason, remedy, actor FROM deliveries"
        "  WHERE state = 'PARKED' AND reason_code = r.reason_code LIMIT 1) x"
        " ON true"
        ") SELECT g.reason_code, r.reason, r.remedy, r.actor, g.npsn, s.nama AS school_name,"
        " g.n, g.reason_n, g.reason_schools FROM shown g"
        " JOIN reasons r ON r.reason_code IS NOT DISTINCT FROM g.reason_code"
        " LEFT JOIN roster_sekolah s ON s.npsn = g.npsn"
        " ORDER BY g.reason_code, g.rank"
    )


async def parked_groups(
    conn: Conn,
    *,
    reason_code: str | None = None,
    area: str | None = None,
    per_reason: int,
    limit: int,
    skip: int = 0,
) -> list[asyncpg.Record]:
    clauses: list[str] = []
    args: list[Any] = []
    if reason_code is not None:
        args.append(reason_code)
        clauses.append(f"d.reason_code = ${len(args)}")
    if area is not None:
        args.append(area)
        clauses.append(
            "EXISTS (SELECT 1 FROM roster_sekolah s WHERE s.npsn = d.npsn "
            f"AND s.kode_wilayah LIKE ${len(args)} || '%')"
        )
    args += [skip, per_reason, limit]
    n = len(args)
    sql = parked_groups_sql(" AND ".join(clauses) or "true", n - 2, n - 1, n)
    rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
    return rows


# --- the fold ---------------------------------------------------------------------------------


async def fold(conn: Conn) -> int:
    """Fold the deltas written so far into the kept counts; how many were folded."""
    folded: int = await conn.fetchval("SELECT fold_delivery_counts()")
    return folded


async def run_fold(runtime: BknRuntime, every: float) -> None:
    """Fold every ``every`` seconds until cancelled, the first ``every`` seconds after the
    start (deltas left unfolded are counted by every read meanwhile, so nothing waits for it).
    Every replica runs it: two folds at once are safe (migration 0006), and one replica down
    leaves the others folding."""
    while True:
        await asyncio.sleep(every)
        try:
            await fold(runtime.db)
        except Exception:
            # Unfolded deltas are still counted by every read; the next fold takes them.
            log.warning("delivery counts not folded", exc_info=True)
