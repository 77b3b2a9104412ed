"""Plain SQL over this service's schema: the deliveries, their status events and the raw
records staged for the retry tiers and the DLQ (through the outbox, in the caller's transaction).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from kinerja_shared import outbox, telemetry
from kinerja_shared.envelope import new_event_id
from kinerja_shared.events.bkn_sync import DeliveryState, DeliveryStatus, RecordKind
from kinerja_shared.topics import BKN_DELIVERY_STATUS

Row = asyncpg.Record
# What a pool hands out behaves as a connection.
Conn = asyncpg.Connection | PoolConnectionProxy


def now() -> datetime:
    return datetime.now(UTC)


async def get(conn: Conn | asyncpg.Pool, delivery_id: str) -> Row | None:
    row: Row | None = await conn.fetchrow(
        "SELECT * FROM deliveries WHERE delivery_id = $1", delivery_id
    )
    return row


async def lock(conn: Conn, delivery_id: str) -> Row | None:
    row: Row | None = await conn.fetchrow(
        "SELECT * FROM deliveries WHERE delivery_id = $1 FOR UPDATE", delivery_id
    )
    return row


async def insert(conn: Conn, fields: Mapping[str, Any]) -> Row:
    columns = list(fields)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    row: Row | None = await conn.fetchrow(
        f"INSERT INTO deliveries ({', '.join(columns)}) VALUES ({placeholders}) RETURNING *",
        *fields.values(),
    )
    assert row is not None
    return row


async def update(conn: Conn, delivery_id: str, fields: Mapping[str, Any]) -> Row:
    # Column names come from our own code, never from a request.
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(fields, start=2))
    row: Row | None = await conn.fetchrow(
        f"UPDATE deliveries SET {sets}, updated_at = now() WHERE delivery_id = $1 RETURNING *",
        delivery_id,
        *fields.values(),
    )
    assert row is not None
    return row


def status_of(row: Row, *, state: str | None = None, version: int | None = None) -> DeliveryStatus:
    return DeliveryStatus(
        delivery_id=row["delivery_id"],
        kind=RecordKind(row["kind"]),
        nip=row["nip"],
        npsn=row["npsn"],
        period_id=row["period_id"],
        version=version if version is not None else row["version"],
        state=DeliveryState(state or row["state"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        reason_code=row["reason_code"],
        reason=row["reason"],
        remedy=row["remedy"],
        actor=row["actor"],
        at=now(),
    )


async def publish_status(conn: Conn, status: DeliveryStatus) -> None:
    await outbox.add_event(conn, BKN_DELIVERY_STATUS, status.nip, status)


async def stage_raw(
    conn: Conn, topic: str, key: str, value: bytes, headers: Mapping[str, str]
) -> None:
    """Stage a record that is not an envelope of ours (a retry-tier or DLQ copy of the source
    record) in the outbox, so it is published if and only if the state change commits."""
    stored = {**telemetry.current_trace_headers(), **headers}
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, key, value, headers) VALUES ($1, $2, $3, $4, $5)",
        new_event_id(),
        topic,
        key,
        value,
        stored,
    )
    schema = await conn.fetchval("SELECT current_schema()")
    await conn.execute("SELECT pg_notify($1, '')", f"outbox_{schema}")


def _filters(
    *,
    nip: str | None = None,
    states: Sequence[str] | None = None,
    reason_codes: Sequence[str] | None = None,
    npsn: str | None = None,
    period_id: str | None = None,
    kind: str | None = None,
    area: str | None = None,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []

    def add(sql: str, value: Any) -> None:
        args.append(value)
        clauses.append(sql.format(f"${len(args)}"))

    if nip is not None:
        add("d.nip = {}", nip)
    if states:
        add("d.state = ANY({}::text[])", list(states))
    if reason_codes:
        add("d.reason_code = ANY({}::text[])", list(reason_codes))
    if npsn is not None:
        add("d.npsn = {}", npsn)
    if period_id is not None:
        add("d.period_id = {}", period_id)
    if kind is not None:
        add("d.kind = {}", kind)
    if area is not None:
        # A Dinas sees the schools of its area, as the roster projection knows them.
        add(
            "EXISTS (SELECT 1 FROM roster_sekolah s WHERE s.npsn = d.npsn "
            "AND s.kode_wilayah LIKE {} || '%')",
            area,
        )
    return (" AND ".join(clauses) or "true"), args


async def parked_waiting_for_atasan_skp(conn: Conn, atasan_nip: str) -> list[Row]:
    """Deliveries parked because this Kepala Sekolah had no SKP in e-Kinerja (BKN-E05)."""
    rows: list[Row] = await conn.fetch(
        "SELECT d.* FROM deliveries d JOIN roster_pegawai p ON p.nip = d.nip "
        "WHERE p.atasan_nip = $1 AND d.state = 'PARKED' AND d.reason_code = 'BKN-E05' "
        "FOR UPDATE OF d",
        atasan_nip,
    )
    return rows


async def find(
    conn: Conn | asyncpg.Pool,
    *,
    limit: int = 500,
    for_update: bool = False,
    **filters: Any,
) -> list[Row]:
    where, args = _filters(**filters)
    args.append(limit)
    lock_clause = " FOR UPDATE OF d" if for_update else ""
    rows: list[Row] = await conn.fetch(
        f"SELECT d.* FROM deliveries d WHERE {where} "
        f"ORDER BY d.updated_at DESC LIMIT ${len(args)}{lock_clause}",
        *args,
    )
    return rows


async def counts(conn: Conn | asyncpg.Pool, **filters: Any) -> list[Row]:
    where, args = _filters(**filters)
    rows: list[Row] = await conn.fetch(
        f"SELECT d.state, d.reason_code, count(*) AS n FROM deliveries d WHERE {where} "
        "GROUP BY d.state, d.reason_code ORDER BY d.state, d.reason_code",
        *args,
    )
    return rows
