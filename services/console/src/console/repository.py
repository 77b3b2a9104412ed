"""The console's own tables: the audit log, discarded DLQ records, and delivery history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from kinerja_shared.events.bkn_sync import DeliveryStatus

from .sessions import User


async def audit(
    pool: asyncpg.Pool,
    user: User,
    action: str,
    *,
    target: dict[str, Any],
    reason: str | None,
    result: str,
    detail: dict[str, Any] | None = None,
    conn: Any = None,
) -> int:
    """Record an action; its id."""
    p = user.principal
    audit_id: int = await (conn or pool).fetchval(
        "INSERT INTO audit_log (actor_subject, actor_role, actor_scope, action, target, reason,"
        " result, detail) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8::jsonb) RETURNING id",
        p.subject,
        p.role.value,
        p.area,
        action,
        json.dumps(target, default=str),
        reason,
        result,
        json.dumps(detail or {}, default=str),
    )
    return audit_id


async def audit_rows(pool: asyncpg.Pool, *, limit: int, before: int | None) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT * FROM audit_log WHERE ($1::bigint IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
        before,
        limit,
    )
    return rows


async def discard(
    pool: asyncpg.Pool, user: User, topic: str, partition: int, offset: int, reason: str
) -> int:
    async with pool.acquire() as conn, conn.transaction():
        audit_id = await audit(
            pool,
            user,
            "dlq.discard",
            target={"topic": topic, "partition": partition, "offset": offset},
            reason=reason,
            result="discarded",
            conn=conn,
        )
        await conn.execute(
            'INSERT INTO dlq_discards (topic, partition, "offset", audit_id) '
            "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            topic,
            partition,
            offset,
            audit_id,
        )
    return audit_id


async def discarded(pool: asyncpg.Pool, topic: str) -> set[tuple[int, int]]:
    rows = await pool.fetch('SELECT partition, "offset" FROM dlq_discards WHERE topic = $1', topic)
    return {(r["partition"], r["offset"]) for r in rows}


async def record_status(
    conn: Any, event_id: Any, status: DeliveryStatus, trace_id: str | None
) -> None:
    await conn.execute(
        "INSERT INTO delivery_history (event_id, delivery_id, nip, kind, period_id, version, "
        "state, attempts, reason_code, reason, next_attempt_at, at, trace_id, http_status, "
        "error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) "
        "ON CONFLICT (event_id) DO NOTHING",
        event_id,
        status.delivery_id,
        status.nip,
        status.kind.value,
        status.period_id,
        status.version,
        status.state.value,
        status.attempts,
        status.reason_code,
        status.reason,
        status.next_attempt_at,
        status.at,
        trace_id,
        status.http_status,
        status.error,
    )


async def history(pool: asyncpg.Pool, delivery_ids: Sequence[str]) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT * FROM delivery_history WHERE delivery_id = ANY($1::text[]) "
        "ORDER BY delivery_id, at, attempts",
        list(delivery_ids),
    )
    return rows
