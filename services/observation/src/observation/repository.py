"""Plain SQL over this service's schema; rows in and out as domain objects."""

from __future__ import annotations

from datetime import datetime
from types import MappingProxyType
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from .domain.followup import CLOSED, Action, Followup, FollowupState
from .domain.observation import SLOT, Observation, ScheduleChange, State

# A bare connection, or one borrowed from the pool.
Conn = asyncpg.Connection | PoolConnectionProxy

_COLUMNS = (
    "nip", "period_id", "observation_id", "npsn", "plan_id", "plan_version", "sub_indikator",
    "observer_nip", "state", "revision", "scheduled_at", "rubric_scores", "notes",
    "practice_rating", "conducted_at", "feedback", "feedback_at",
)  # fmt: skip


def _from_row(row: asyncpg.Record) -> Observation:
    values = {k: row[k] for k in _COLUMNS}
    values["state"] = State(values["state"])
    values["rubric_scores"] = MappingProxyType(dict(values["rubric_scores"] or {}))
    return Observation(**values)


async def get(
    conn: Conn | asyncpg.Pool, nip: str, period_id: str, *, lock: bool = False
) -> Observation | None:
    sql = "SELECT * FROM observations WHERE nip = $1 AND period_id = $2"
    row = await conn.fetchrow(sql + (" FOR UPDATE" if lock else ""), nip, period_id)
    return None if row is None else _from_row(row)


async def save(conn: Conn, obs: Observation) -> None:
    values: list[Any] = [getattr(obs, k) for k in _COLUMNS]
    values[_COLUMNS.index("state")] = obs.state.value
    values[_COLUMNS.index("rubric_scores")] = dict(obs.rubric_scores)
    placeholders = ", ".join(f"${i}" for i in range(1, len(_COLUMNS) + 1))
    updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[2:])
    await conn.execute(
        f"INSERT INTO observations ({', '.join(_COLUMNS)}) VALUES ({placeholders}) "
        f"ON CONFLICT (nip, period_id) DO UPDATE SET {updates}, updated_at = now()",
        *values,
    )


async def lock_observer(conn: Conn, observer_nip: str) -> None:
    """Serialise bookings of one observer, so two teachers cannot take one slot at once."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"observer:{observer_nip}")


async def busy_slots(
    conn: Conn, observer_nip: str, at: datetime, *, except_nip: str
) -> list[datetime]:
    rows = await conn.fetch(
        """SELECT scheduled_at FROM observations
           WHERE observer_nip = $1 AND state = 'DIJADWALKAN' AND nip <> $2
             AND scheduled_at > $3 AND scheduled_at < $4""",
        observer_nip, except_nip, at - SLOT, at + SLOT,
    )  # fmt: skip
    return [r["scheduled_at"] for r in rows]


async def add_history(conn: Conn, obs: Observation, change: ScheduleChange) -> None:
    await conn.execute(
        """INSERT INTO observation_schedule_history (nip, period_id, revision, kind,
               scheduled_at, previous_at, reason, by_nip, recorded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        obs.nip, obs.period_id, change.revision, change.kind.value, change.scheduled_at,
        change.previous_at, change.reason, change.by_nip, change.recorded_at,
    )  # fmt: skip


async def history(conn: Conn | asyncpg.Pool, nip: str, period_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT revision, kind, scheduled_at, previous_at, reason, by_nip, recorded_at
           FROM observation_schedule_history WHERE nip = $1 AND period_id = $2 ORDER BY id""",
        nip, period_id,
    )  # fmt: skip
    return rows


async def get_followup(
    conn: Conn | asyncpg.Pool, nip: str, period_id: str, *, lock: bool = False
) -> Followup | None:
    sql = "SELECT * FROM followups WHERE nip = $1 AND period_id = $2"
    row = await conn.fetchrow(sql + (" FOR UPDATE" if lock else ""), nip, period_id)
    if row is None:
        return None
    return Followup(
        nip=row["nip"],
        period_id=row["period_id"],
        state=FollowupState(row["state"]),
        revision=row["revision"],
        actions=tuple(Action(a["text"], datetime.fromisoformat(a["at"])) for a in row["actions"]),
        reflection=row["reflection"],
        reflected_at=row["reflected_at"],
        review_comment=row["review_comment"],
        reviewed_by=row["reviewed_by"],
        reviewed_at=row["reviewed_at"],
    )


async def save_followup(conn: Conn, f: Followup) -> None:
    await conn.execute(
        """INSERT INTO followups (nip, period_id, state, revision, actions, reflection,
               reflected_at, review_comment, reviewed_by, reviewed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (nip, period_id) DO UPDATE SET state = excluded.state,
               revision = excluded.revision, actions = excluded.actions,
               reflection = excluded.reflection, reflected_at = excluded.reflected_at,
               review_comment = excluded.review_comment, reviewed_by = excluded.reviewed_by,
               reviewed_at = excluded.reviewed_at, updated_at = now()""",
        f.nip, f.period_id, f.state.value, f.revision,
        [{"text": a.text, "at": a.at.isoformat()} for a in f.actions],
        f.reflection, f.reflected_at, f.review_comment, f.reviewed_by, f.reviewed_at,
    )  # fmt: skip


async def open_followup(conn: Conn, nip: str, period_id: str) -> None:
    await conn.execute(
        "INSERT INTO followups (nip, period_id, state, revision) VALUES ($1, $2, $3, 0) "
        "ON CONFLICT DO NOTHING",
        nip, period_id, FollowupState.BELUM_MULAI.value,
    )  # fmt: skip


async def open_observations(conn: Conn, nip: str) -> list[Observation]:
    """Every observation of ``nip`` that has not happened and is not cancelled, locked."""
    rows = await conn.fetch(
        "SELECT * FROM observations WHERE nip = $1 AND state = ANY($2::text[]) "
        "ORDER BY period_id FOR UPDATE",
        nip, [State.BELUM_DIJADWALKAN.value, State.DIJADWALKAN.value],
    )  # fmt: skip
    return [_from_row(r) for r in rows]


async def open_followup_periods(conn: Conn, nip: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT period_id FROM followups WHERE nip = $1 AND NOT (state = ANY($2::text[]))",
        nip, [s.value for s in CLOSED],
    )  # fmt: skip
    return [r["period_id"] for r in rows]
