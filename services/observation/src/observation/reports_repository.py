"""Plain SQL for the §2.5 reports: one row per (nip, period, kind), created on first fill."""

from __future__ import annotations

from typing import Any

import asyncpg

from .domain.reports import (
    Activity,
    CompetencyReport,
    DutyReport,
    Report,
    ReportKind,
    ReportState,
)
from .repository import Conn


async def _row(
    conn: Conn | asyncpg.Pool, kind: ReportKind, nip: str, period_id: str, lock: bool
) -> asyncpg.Record | None:
    sql = "SELECT * FROM reports WHERE nip = $1 AND period_id = $2 AND kind = $3"
    row: asyncpg.Record | None = await conn.fetchrow(
        sql + (" FOR UPDATE" if lock else ""), nip, period_id, kind.value
    )
    return row


def _common(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "nip": row["nip"],
        "period_id": row["period_id"],
        "state": ReportState(row["state"]),
        "revision": row["revision"],
        "reported_at": row["reported_at"],
        "verified_by": row["verified_by"],
        "verified_at": row["verified_at"],
    }


async def get_competency(
    conn: Conn | asyncpg.Pool, nip: str, period_id: str, *, lock: bool = False
) -> CompetencyReport:
    """The stored report, or an empty (KOSONG) one."""
    row = await _row(conn, ReportKind.KOMPETENSI, nip, period_id, lock)
    if row is None:
        return CompetencyReport(nip=nip, period_id=period_id)
    activities = tuple(Activity(a["text"], a.get("bukti")) for a in row["items"])
    return CompetencyReport(**_common(row), activities=activities, reflection=row["reflection"])


async def get_duties(
    conn: Conn | asyncpg.Pool, nip: str, period_id: str, *, lock: bool = False
) -> DutyReport:
    row = await _row(conn, ReportKind.TUGAS_POKOK, nip, period_id, lock)
    if row is None:
        return DutyReport(nip=nip, period_id=period_id)
    return DutyReport(**_common(row), tugas=tuple(str(t) for t in row["items"]))


async def save(conn: Conn, report: Report) -> None:
    items: list[Any]
    if isinstance(report, CompetencyReport):
        kind, reflection = ReportKind.KOMPETENSI, report.reflection
        items = [{"text": a.text, "bukti": a.bukti} for a in report.activities]
    elif isinstance(report, DutyReport):
        kind, reflection, items = ReportKind.TUGAS_POKOK, None, list(report.tugas)
    else:
        raise TypeError(f"not a report: {report!r}")
    await conn.execute(
        """INSERT INTO reports (nip, period_id, kind, state, revision, items, reflection,
               reported_at, verified_by, verified_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (nip, period_id, kind) DO UPDATE SET state = excluded.state,
               revision = excluded.revision, items = excluded.items,
               reflection = excluded.reflection, reported_at = excluded.reported_at,
               verified_by = excluded.verified_by, verified_at = excluded.verified_at,
               updated_at = now()""",
        report.nip, report.period_id, kind.value, report.state.value, report.revision, items,
        reflection, report.reported_at, report.verified_by, report.verified_at,
    )  # fmt: skip
