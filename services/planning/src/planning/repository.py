"""Plain SQL over this service's schema: plans, their audit trail, and reads scoped by role."""

from __future__ import annotations

from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from kinerja_shared.auth import Principal, Role
from kinerja_shared.events.planning import ApprovedBy

from .domain.plan import Plan, PlanContent, PlanState, Transition

_COLUMNS = (
    "plan_id, nip, npsn, period_id, rules_version, state, version, content, atasan_nip, "
    "return_note, approved_by, submitted_at, approved_at, agreed_at, revision, revision_reason"
)


Conn = asyncpg.Connection | PoolConnectionProxy


class DuplicatePlan(Exception):
    pass


class StaleWrite(Exception):
    pass


def to_plan(row: asyncpg.Record) -> Plan:
    return Plan(
        plan_id=row["plan_id"],
        nip=row["nip"],
        npsn=row["npsn"],
        period_id=row["period_id"],
        rules_version=row["rules_version"],
        state=PlanState(row["state"]),
        version=row["version"],
        content=PlanContent.from_dict(row["content"]),
        atasan_nip=row["atasan_nip"],
        return_note=row["return_note"],
        approved_by=ApprovedBy(row["approved_by"]) if row["approved_by"] else None,
        submitted_at=row["submitted_at"],
        approved_at=row["approved_at"],
        agreed_at=row["agreed_at"],
        revision=row["revision"],
        revision_reason=row["revision_reason"],
    )


def _values(p: Plan) -> tuple[Any, ...]:
    return (
        p.plan_id,
        p.nip,
        p.npsn,
        p.period_id,
        p.rules_version,
        p.state.value,
        p.version,
        p.content.to_dict(),
        p.atasan_nip,
        p.return_note,
        p.approved_by.value if p.approved_by else None,
        p.submitted_at,
        p.approved_at,
        p.agreed_at,
        p.revision,
        p.revision_reason,
    )


async def insert(conn: Conn, plan: Plan, actor: str) -> None:
    try:
        async with conn.transaction():
            await conn.execute(
                f"INSERT INTO plans ({_COLUMNS}) "
                "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)",
                *_values(plan),
            )
    except asyncpg.UniqueViolationError as exc:
        raise DuplicatePlan from exc
    await _audit(conn, plan, actor, None)


async def update(
    conn: Conn,
    plan: Plan,
    *,
    previous_version: int,
    actor: str,
    note: str | None = None,
) -> None:
    """Write ``plan`` only over the version it was derived from."""
    v = _values(plan)
    done = await conn.fetchval(
        """UPDATE plans SET state = $2, version = $3, content = $4, atasan_nip = $5,
               return_note = $6, approved_by = $7, submitted_at = $8, approved_at = $9,
               agreed_at = $10, revision = $11, revision_reason = $12, updated_at = now(),
               submit_waiting_version = NULL, submit_waiting_since = NULL
           WHERE plan_id = $1 AND version = $13
           RETURNING true""",
        plan.plan_id,
        *v[5:],
        previous_version,
    )
    if not done:
        raise StaleWrite
    await _audit(conn, plan, actor, note)


async def _audit(conn: Conn, plan: Plan, actor: str, note: str | None) -> None:
    await conn.execute(
        "INSERT INTO plan_transitions (plan_id, version, state, actor, note, revision, content) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        plan.plan_id,
        plan.version,
        plan.state.value,
        actor,
        note,
        plan.revision,
        plan.content.to_dict(),
    )


async def history(conn: Conn | asyncpg.Pool, plan_id: str) -> list[asyncpg.Record]:
    """Every version of the plan, oldest first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT version, revision, state, actor, note, content, at FROM plan_transitions "
        "WHERE plan_id = $1 ORDER BY version",
        plan_id,
    )
    return rows


async def get(conn: Conn | asyncpg.Pool, plan_id: str) -> Plan | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM plans WHERE plan_id = $1", plan_id)
    return to_plan(row) if row is not None else None


async def get_for_update(conn: Conn, plan_id: str) -> Plan | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM plans WHERE plan_id = $1 FOR UPDATE", plan_id
    )
    return to_plan(row) if row is not None else None


async def wait_for_atasan(conn: Conn, plan_id: str, version: int) -> None:
    """Remember a submission refused for want of an atasan (V-03), at the version refused."""
    await conn.execute(
        "UPDATE plans SET submit_waiting_version = $2, submit_waiting_since = now() "
        "WHERE plan_id = $1 AND version = $2",
        plan_id,
        version,
    )


async def waiting_for_atasan(conn: Conn, nip: str) -> list[tuple[Plan, Any]]:
    """The teacher's plans whose submission waits for an atasan and is unchanged since, with
    when it was refused."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS}, submit_waiting_since FROM plans WHERE nip = $1"
        " AND submit_waiting_version = version FOR UPDATE",
        nip,
    )
    return [(to_plan(r), r["submit_waiting_since"]) for r in rows]


async def pending_for_teacher(conn: Conn, nip: str) -> list[Plan]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM plans WHERE nip = $1 AND state = $2 FOR UPDATE",
        nip,
        PlanState.DIAJUKAN.value,
    )
    return [to_plan(r) for r in rows]


async def list_visible(
    pool: asyncpg.Pool,
    principal: Principal,
    *,
    period_id: str | None,
    nip: str | None,
    limit: int,
) -> list[Plan]:
    """The plans ``principal`` may read (docs/domain.md §1.3), newest first."""
    where = ["($1::text IS NULL OR p.period_id = $1)", "($2::text IS NULL OR p.nip = $2)"]
    args: list[Any] = [period_id, nip]
    if principal.role is Role.GURU:
        args.append(principal.nip)
        where.append(f"p.nip = ${len(args)}")
    elif principal.role is Role.KEPALA_SEKOLAH:
        args.append(principal.nip)
        where.append(f"(p.nip = ${len(args)} OR r.atasan_nip = ${len(args)})")
    elif principal.role is Role.DINAS:
        args.append(f"{principal.area}%")
        where.append(f"COALESCE(s.kode_wilayah, r.kode_wilayah) LIKE ${len(args)}")
    args.append(limit)
    rows = await pool.fetch(
        f"""SELECT {", ".join("p." + c.strip() for c in _COLUMNS.split(","))}
            FROM plans p
            LEFT JOIN roster_pegawai r ON r.nip = p.nip
            LEFT JOIN roster_sekolah s ON s.npsn = r.npsn
            WHERE {" AND ".join(where)}
            ORDER BY p.updated_at DESC, p.plan_id
            LIMIT ${len(args)}""",
        *args,
    )
    return [to_plan(r) for r in rows]


async def save_transition(
    conn: Conn,
    before: Plan,
    transition: Transition,
    *,
    actor: str,
    note: str | None = None,
) -> None:
    """The plan's new state, over the version it was decided on; its events are the caller's
    to stage in the same transaction."""
    if transition.plan == before:
        return
    await update(
        conn,
        transition.plan,
        previous_version=before.version,
        actor=transition.actor(actor),
        note=transition.note(actor, note),
    )
