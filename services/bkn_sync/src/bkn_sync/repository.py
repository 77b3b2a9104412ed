"""Plain SQL over this service's schema: the deliveries, their status events and the raw
records staged for the retry tiers and the DLQ (through the outbox, in the caller's transaction).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from kinerja_shared import outbox, telemetry
from kinerja_shared.events.bkn_sync import DeliveryState, DeliveryStatus, RecordKind
from kinerja_shared.topics import BKN_DELIVERY_STATUS

Row = asyncpg.Record
# A row as read, or as the pipeline changed it before writing it back.
RowLike = Row | Mapping[str, Any]
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


async def lock_many(conn: Conn, delivery_ids: Iterable[str]) -> dict[str, Row]:
    """Lock the rows that exist, in delivery-id order (two batches never deadlock)."""
    rows: list[Row] = await conn.fetch(
        "SELECT * FROM deliveries WHERE delivery_id = ANY($1::text[]) "
        "ORDER BY delivery_id FOR UPDATE",
        sorted(set(delivery_ids)),
    )
    return {r["delivery_id"]: r for r in rows}


# What an attempt's outcome or a redrive changes; a new version changes ALL_WRITABLE. The slot
# (kind, NIP, period) and created_at never change.
PROGRESS = [
    "state",
    "attempts",
    "retry_seq",
    "retry_tier",
    "next_attempt_at",
    "reason_code",
    "reason",
    "remedy",
    "actor",
    "first_error",
    "last_error",
    "first_attempt_at",
    "last_attempt_at",
    "delivered_at",
]
ALL_WRITABLE = [
    *PROGRESS,
    "npsn",
    "version",
    "idempotency_key",
    "body",
    "source_record",
    "source_topic",
    "source_partition",
    "source_offset",
]


def _json_value(value: Any) -> Any:
    """A column value as ``jsonb_populate_recordset`` reads it back into the column's type."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    return value


def _as_json(rows: Sequence[RowLike], columns: Sequence[str]) -> str:
    # Many rows as one parameter, typed by the table itself: one statement for a whole batch.
    return json.dumps([{c: _json_value(r[c]) for c in columns} for r in rows])


async def insert_many(conn: Conn, rows: Sequence[RowLike]) -> list[Row]:
    """Insert rows that all have the same columns; the stored rows, in no particular order."""
    if not rows:
        return []
    columns = list(rows[0])
    names = ", ".join(columns)
    stored: list[Row] = await conn.fetch(
        f"INSERT INTO deliveries ({names}) SELECT {names} "
        "FROM jsonb_populate_recordset(NULL::deliveries, $1::text::jsonb) RETURNING *",
        _as_json(rows, columns),
    )
    return stored


async def write_many(
    conn: Conn, rows: Sequence[RowLike], columns: Sequence[str] = ALL_WRITABLE
) -> list[Row]:
    """Write rows back (each as read under its lock, then changed), the given columns of each
    (those that may have changed: the body and source record are the bulk of a row)."""
    if not rows:
        return []
    sets = ", ".join(f"{c} = x.{c}" for c in columns)
    stored: list[Row] = await conn.fetch(
        f"UPDATE deliveries d SET {sets}, updated_at = now() "
        "FROM jsonb_populate_recordset(NULL::deliveries, $1::text::jsonb) x "
        "WHERE d.delivery_id = x.delivery_id RETURNING d.*",
        _as_json(rows, ["delivery_id", *columns]),
    )
    return stored


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


def status_of(
    row: RowLike, *, state: str | None = None, version: int | None = None
) -> DeliveryStatus:
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


def status_record(status: DeliveryStatus, trace: Mapping[str, str]) -> outbox.Staged:
    """A status event to stage, carrying the trace context of the record that caused it."""
    return outbox.Staged.of(
        BKN_DELIVERY_STATUS, BKN_DELIVERY_STATUS.envelope(status.nip, status), trace
    )


async def publish_status(conn: Conn, status: DeliveryStatus) -> None:
    await stage(conn, [status_record(status, telemetry.current_trace_headers())])


async def stage(conn: Conn, records: Sequence[outbox.Staged]) -> None:
    """Stage status events and retry-tier or DLQ copies of source records in the outbox, in
    order, so they are published if and only if the state change commits."""
    await outbox.add_many(conn, records)


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


async def parked_waiting_for_atasan_skp(conn: Conn, atasan_nips: Sequence[str]) -> list[Row]:
    """Deliveries parked because their Kepala Sekolah had no SKP in e-Kinerja (BKN-E05)."""
    rows: list[Row] = await conn.fetch(
        "SELECT d.* FROM deliveries d JOIN roster_pegawai p ON p.nip = d.nip "
        "WHERE p.atasan_nip = ANY($1::text[]) AND d.state = 'PARKED' "
        "AND d.reason_code = 'BKN-E05' ORDER BY d.delivery_id FOR UPDATE OF d",
        list(atasan_nips),
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
