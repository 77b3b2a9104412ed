"""Plain SQL over this service's schema: deliveries loaded as ``Delivery`` and saved with the
events their transitions caused, in the caller's transaction. Here, and only here, those events
become outbox records: status events, and the raw records staged for the retry tiers and the DLQ.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from kinerja_shared import inbox, outbox, telemetry
from kinerja_shared.events.bkn_sync import DeliveryState, DeliveryStatus, RecordKind
from kinerja_shared.topics import BKN_DELIVERY_STATUS, BKN_RETRY_TIERS

from .domain.classify import SKP_MISSING, WAITS_FOR_ATASAN_SKP
from .domain.delivery import (
    NO_REASON,
    DeadLettered,
    Delivery,
    Event,
    Reason,
    RetryScheduled,
    SourceVersion,
)

Row = asyncpg.Record
# What a pool hands out behaves as a connection.
Conn = asyncpg.Connection | PoolConnectionProxy

H = "kinerja-"  # prefix of every header this service writes


def now() -> datetime:
    return datetime.now(UTC)


# --- rows and deliveries ----------------------------------------------------------------------


def to_delivery(row: Row) -> Delivery:
    reason = Reason(row["reason_code"], row["reason"], row["remedy"], row["actor"])
    return Delivery(
        current=SourceVersion(
            kind=row["kind"],
            nip=row["nip"],
            npsn=row["npsn"],
            period_id=row["period_id"],
            version=row["version"],
            body=row["body"],
            record=bytes(row["source_record"]),
            topic=row["source_topic"],
            partition=row["source_partition"],
            offset=row["source_offset"],
            trace=row["trace_context"] or {},
        ),
        idempotency_key=row["idempotency_key"],
        state=DeliveryState(row["state"]),
        attempts=row["attempts"],
        retry_seq=row["retry_seq"],
        retry_tier=row["retry_tier"],
        next_attempt_at=row["next_attempt_at"],
        reason=None if reason == NO_REASON else reason,
        first_error=row["first_error"],
        last_error=row["last_error"],
        first_attempt_at=row["first_attempt_at"],
        last_attempt_at=row["last_attempt_at"],
        delivered_at=row["delivered_at"],
        parked_at=row["parked_at"],
        recheck_at=row["recheck_at"],
    )


def _reason(d: Delivery) -> Reason:
    return d.reason or NO_REASON


# Each column of a delivery's row (``delivery_id`` is its delivery key), read only when written:
# an outcome writes a dozen small ones, not the body, the source record or the trace context.
_COLUMNS: dict[str, Callable[[Delivery], Any]] = {
    "delivery_id": lambda d: d.delivery_key,
    "kind": lambda d: d.kind,
    "nip": lambda d: d.nip,
    "period_id": lambda d: d.period_id,
    "state": lambda d: d.state,
    "attempts": lambda d: d.attempts,
    "retry_seq": lambda d: d.retry_seq,
    "retry_tier": lambda d: d.retry_tier,
    "next_attempt_at": lambda d: d.next_attempt_at,
    "reason_code": lambda d: _reason(d).code,
    "reason": lambda d: _reason(d).text,
    "remedy": lambda d: _reason(d).remedy,
    "actor": lambda d: _reason(d).actor,
    "first_error": lambda d: d.first_error,
    "last_error": lambda d: d.last_error,
    "first_attempt_at": lambda d: d.first_attempt_at,
    "last_attempt_at": lambda d: d.last_attempt_at,
    "delivered_at": lambda d: d.delivered_at,
    "parked_at": lambda d: d.parked_at,
    "recheck_at": lambda d: d.recheck_at,
    "npsn": lambda d: d.current.npsn,
    "version": lambda d: d.current.version,
    "idempotency_key": lambda d: d.idempotency_key,
    "body": lambda d: d.current.body,
    "source_record": lambda d: d.current.record,
    "source_topic": lambda d: d.current.topic,
    "source_partition": lambda d: d.current.partition,
    "source_offset": lambda d: d.current.offset,
    "trace_context": lambda d: telemetry.trace_headers_of(d.current.trace),
}


def columns_of(d: Delivery) -> dict[str, Any]:
    """The delivery as the columns of its row."""
    return {column: value(d) for column, value in _COLUMNS.items()}


async def get(conn: Conn | asyncpg.Pool, delivery_key: str) -> Delivery | None:
    row: Row | None = await conn.fetchrow(
        "SELECT * FROM deliveries WHERE delivery_id = $1", delivery_key
    )
    return to_delivery(row) if row is not None else None


async def lock(conn: Conn, delivery_key: str) -> Delivery | None:
    row: Row | None = await conn.fetchrow(
        "SELECT * FROM deliveries WHERE delivery_id = $1 FOR UPDATE", delivery_key
    )
    return to_delivery(row) if row is not None else None


async def lock_many(conn: Conn, delivery_keys: Iterable[str]) -> dict[str, Delivery]:
    """Lock the rows that exist, in delivery-key order (two batches never deadlock)."""
    rows: list[Row] = await conn.fetch(
        "SELECT * FROM deliveries WHERE delivery_id = ANY($1::text[]) "
        "ORDER BY delivery_id FOR UPDATE",
        sorted(set(delivery_keys)),
    )
    return {r["delivery_id"]: to_delivery(r) for r in rows}


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
    "parked_at",
    "recheck_at",
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
    "trace_context",
]
# What a claim changes.
CLAIM = ["state", "next_attempt_at"]
# What taking a parked delivery for its scheduled check changes.
RECHECK = ["retry_seq", "recheck_at"]


def _json_value(value: Any) -> Any:
    """A column value as ``jsonb_populate_recordset`` reads it back into the column's type."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    return value


def _as_json(deliveries: Sequence[Delivery], columns: Sequence[str]) -> str:
    # Many rows as one parameter, typed by the table itself: one statement for a whole batch.
    values = [(c, _COLUMNS[c]) for c in columns]
    return json.dumps([{c: _json_value(value(d)) for c, value in values} for d in deliveries])


async def insert_many(conn: Conn, deliveries: Sequence[Delivery]) -> None:
    """Insert the first versions of slots, in one statement."""
    if not deliveries:
        return
    columns = ["delivery_id", "kind", "nip", "period_id", *ALL_WRITABLE]
    names = ", ".join(columns)
    await conn.execute(
        f"INSERT INTO deliveries ({names}) SELECT {names} "
        "FROM jsonb_populate_recordset(NULL::deliveries, $1::text::jsonb)",
        _as_json(deliveries, columns),
    )


async def write_many(
    conn: Conn,
    deliveries: Sequence[Delivery],
    columns: Sequence[str] = ALL_WRITABLE,
    *,
    returning: bool = False,
) -> list[Row]:
    """Write deliveries back (each read under its lock, then changed) in one statement, the
    given columns of each (those that may have changed: the body and source record are the bulk
    of a row); with ``returning``, the rows as stored."""
    if not deliveries:
        return []
    sets = ", ".join(f"{c} = x.{c}" for c in columns)
    sql = (
        f"UPDATE deliveries d SET {sets}, updated_at = now() "
        "FROM jsonb_populate_recordset(NULL::deliveries, $1::text::jsonb) x "
        "WHERE d.delivery_id = x.delivery_id"
    )
    payload = _as_json(deliveries, ["delivery_id", *columns])
    if not returning:
        await conn.execute(sql, payload)
        return []
    stored: list[Row] = await conn.fetch(f"{sql} RETURNING d.*", payload)
    return stored


async def save(
    conn: Conn,
    *,
    inserted: Sequence[Delivery] = (),
    updated: Sequence[Delivery] = (),
    columns: Sequence[str] = ALL_WRITABLE,
    events: Sequence[tuple[Event, Mapping[str, str]]] = (),
    dead_letters: DeadLetters | None = None,
    returning: bool = False,
) -> list[Row]:
    """Store new and changed deliveries and stage the events their transitions caused (each
    with the trace context of what caused it): at most three statements, whatever the number
    of deliveries. With ``returning``, the updated rows as stored."""
    await insert_many(conn, inserted)
    stored = await write_many(conn, updated, columns, returning=returning)
    await stage(conn, [outbound(event, trace, dead_letters) for event, trace in events])
    return stored


# --- events as outbox records -------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetters:
    """Where a consumer's dead deliveries go, and the consumer their headers name."""

    topic: str
    group: str


def outbound(
    event: Event, trace: Mapping[str, str], dead_letters: DeadLetters | None = None
) -> outbox.Staged:
    """An event of the delivery lifecycle as the record to stage, carrying the trace context of
    the record (or request) that caused it."""
    if isinstance(event, DeliveryStatus):
        return status_record(event, trace)
    if isinstance(event, RetryScheduled):
        headers = retry_headers(event.delivery, event.tier, event.due_at)
        return _copy(event.delivery, tier_topic(event.tier), {**trace, **headers})
    if dead_letters is None:
        raise ValueError(f"no dead-letter topic for {event.delivery.delivery_key}")
    return _dead_record(event, dead_letters, trace)


def status_record(status: DeliveryStatus, trace: Mapping[str, str]) -> outbox.Staged:
    return outbox.Staged.of(
        BKN_DELIVERY_STATUS, BKN_DELIVERY_STATUS.envelope(status.nip, status), trace
    )


def retry_headers(d: Delivery, tier: int, due: datetime) -> dict[str, str]:
    """Where the record came from and how its delivery has gone so far."""
    return {
        f"{H}original-topic": d.current.topic,
        f"{H}original-partition": str(d.current.partition),
        f"{H}original-offset": str(d.current.offset),
        f"{H}original-key": d.nip,
        f"{H}delivery-id": d.delivery_key,
        f"{H}delivery-version": str(d.version),
        f"{H}retry-seq": str(d.retry_seq),
        f"{H}retry-tier": str(tier),
        f"{H}attempts": str(d.attempts),
        f"{H}first-error": (d.first_error or "")[:1000],
        f"{H}last-error": (d.last_error or "")[:1000],
        f"{H}first-attempt-at": d.first_attempt_at.isoformat() if d.first_attempt_at else "",
        f"{H}last-attempt-at": d.last_attempt_at.isoformat() if d.last_attempt_at else "",
        f"{H}due-at": due.isoformat(),
    }


def tier_topic(tier: int) -> str:
    # Tier 0 (a redrive) rides the first tier topic with no wait.
    return BKN_RETRY_TIERS[max(tier, 1) - 1].name


def _copy(d: Delivery, topic: str, headers: Mapping[str, str]) -> outbox.Staged:
    """The source record, unchanged, for a retry tier or the DLQ."""
    return outbox.Staged(topic, d.nip, d.current.record, headers)


def _dead_record(
    event: DeadLettered, dead_letters: DeadLetters, trace: Mapping[str, str]
) -> outbox.Staged:
    d = event.delivery
    headers = retry_headers(d, d.retry_tier, event.at)
    headers |= {
        f"{H}dlq-consumer": dead_letters.group,
        f"{H}error-code": (d.reason.code if d.reason else None) or "",
        f"{H}error": (d.last_error or "")[:1000],
        f"{H}dead-lettered-at": event.at.isoformat(),
    }
    # A record of its own each time, with an id of its own: dead-lettered again after a
    # redrive, it is a second record, never a duplicate of the first.
    value, named = inbox.as_dead_letter(d.current.record)
    assert value is not None
    return outbox.Staged(
        dead_letters.topic,
        d.nip,
        value,
        {**trace, **headers, **named},
        uuid.UUID(named[inbox.DEAD_LETTER_ID]),
    )


async def stage(conn: Conn, records: Sequence[outbox.Staged]) -> None:
    """Stage status events and retry-tier or DLQ copies of source records in the outbox, in
    order, so they are published if and only if the state change commits."""
    await outbox.add_many(conn, records)


# --- queries ----------------------------------------------------------------------------------


def _filters(
    *,
    nip: str | None = None,
    states: Sequence[str] | None = None,
    reason_codes: Sequence[str] | None = None,
    npsn: str | None = None,
    period_id: str | None = None,
    kind: str | None = None,
    area: str | None = None,
    school: str | None = None,
    updated_since: datetime | None = None,
    after: tuple[datetime, str] | None = None,
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
    if school is not None:
        # The school's name as the roster projection knows it, any part of it.
        add(
            "EXISTS (SELECT 1 FROM roster_sekolah s WHERE s.npsn = d.npsn "
            "AND s.nama ILIKE '%' || {} || '%')",
            school.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"),
        )
    if updated_since is not None:
        add("d.updated_at >= {}", updated_since)
    if after is not None:
        # Keyset: the rows after the last one of the previous page, in the listing's order.
        args.append(after[0])
        add(f"(d.updated_at, d.delivery_id) < (${len(args)}, {{}})", after[1])
    return (" AND ".join(clauses) or "true"), args


async def parked_waiting_for_atasan_skp(conn: Conn, atasan_nips: Sequence[str]) -> list[Delivery]:
    """Deliveries parked because their Kepala Sekolah had no SKP in e-Kinerja (BKN-E05)."""
    rows: list[Row] = await conn.fetch(
        "SELECT d.* FROM deliveries d JOIN roster_pegawai p ON p.nip = d.nip "
        "WHERE p.atasan_nip = ANY($1::text[]) AND d.state = $2 AND d.reason_code = $3 "
        "ORDER BY d.delivery_id FOR UPDATE OF d",
        list(atasan_nips),
        DeliveryState.PARKED.value,
        WAITS_FOR_ATASAN_SKP,
    )
    return [to_delivery(r) for r in rows]


Slot = tuple[str, str]  # a teacher's NIP and a period


async def lock_skp_slots(conn: Conn, slots: Iterable[Slot]) -> None:
    """Serialise, per teacher and period, deciding whether a predikat waits for its SKP with
    recording that SKP's delivery: whichever commits second sees what the first did, so a
    predikat is never held after its SKP's release went by. Taken before any row lock (and
    in one order) by both sides, held to the end of the transaction."""
    keys = sorted({f"{nip}:{period}" for nip, period in slots})
    if keys:
        await conn.execute(
            "SELECT pg_advisory_xact_lock(k) FROM ("
            " SELECT DISTINCT hashtextextended(current_schema() || ':skp:' || s, 0) AS k"
            " FROM unnest($1::text[]) AS s ORDER BY k) AS ordered",
            keys,
        )


async def skp_states(conn: Conn, slots: Iterable[Slot]) -> dict[Slot, DeliveryState]:
    """Where each teacher's SKP delivery of the period stands, for those that have one."""
    wanted = sorted(set(slots))
    rows: list[Row] = await conn.fetch(
        "SELECT d.nip, d.period_id, d.state FROM deliveries d "
        "JOIN unnest($1::text[], $2::text[]) AS w(nip, period_id) "
        "ON d.nip = w.nip AND d.period_id = w.period_id WHERE d.kind = $3",
        [nip for nip, _ in wanted],
        [period for _, period in wanted],
        RecordKind.SKP.value,
    )
    return {(r["nip"], r["period_id"]): DeliveryState(r["state"]) for r in rows}


async def predikat_waiting_for_skp(conn: Conn, slots: Iterable[Slot]) -> list[Delivery]:
    """Predikat deliveries held until these teachers' SKPs were at e-Kinerja, locked."""
    wanted = sorted(set(slots))
    rows: list[Row] = await conn.fetch(
        "SELECT d.* FROM deliveries d "
        "JOIN unnest($1::text[], $2::text[]) AS w(nip, period_id) "
        "ON d.nip = w.nip AND d.period_id = w.period_id "
        "WHERE d.kind = $3 AND d.state = $4 AND d.reason_code = $5 "
        "ORDER BY d.delivery_id FOR UPDATE OF d",
        [nip for nip, _ in wanted],
        [period for _, period in wanted],
        RecordKind.PREDIKAT.value,
        DeliveryState.PARKED.value,
        SKP_MISSING,
    )
    return [to_delivery(r) for r in rows]


async def lock_due_checks(conn: Conn, at: datetime, limit: int) -> list[Delivery]:
    """Parked deliveries whose scheduled check is due, the longest due first, locked; rows
    another instance is taking right now are skipped, not waited for."""
    rows: list[Row] = await conn.fetch(
        "SELECT * FROM deliveries WHERE state = $1 AND recheck_at <= $2 "
        "ORDER BY recheck_at LIMIT $3 FOR UPDATE SKIP LOCKED",
        DeliveryState.PARKED.value,
        at,
        limit,
    )
    return [to_delivery(r) for r in rows]


async def waiting_on_tiers(
    conn: Conn | asyncpg.Pool,
    codes: Iterable[str],
    *,
    not_due_at: datetime,
    failed_by: datetime | None,
    limit: int,
) -> list[tuple[str, int]]:
    """Deliveries on a retry tier for one of ``codes`` and not due yet at ``not_due_at``
    (whose last attempt was no later than ``failed_by``, if given), the longest untried first:
    their delivery keys and retry sequences."""
    rows: list[Row] = await conn.fetch(
        "SELECT delivery_id, retry_seq FROM deliveries "
        "WHERE state = $1 AND reason_code = ANY($2::text[]) AND next_attempt_at > $3 "
        "AND ($4::timestamptz IS NULL OR last_attempt_at <= $4) "
        "ORDER BY last_attempt_at LIMIT $5",
        DeliveryState.RETRYING.value,
        sorted(codes),
        not_due_at,
        failed_by,
        limit,
    )
    return [(r["delivery_id"], r["retry_seq"]) for r in rows]


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
        "SELECT d.*, (SELECT s.nama FROM roster_sekolah s WHERE s.npsn = d.npsn) AS school_name "
        f"FROM deliveries d WHERE {where} "
        f"ORDER BY d.updated_at DESC, d.delivery_id DESC LIMIT ${len(args)}{lock_clause}",
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


async def counts_by_kind(conn: Conn | asyncpg.Pool, **filters: Any) -> list[Row]:
    """As ``counts``, per kind too (the live answer of a window the kept counts cannot give)."""
    where, args = _filters(**filters)
    rows: list[Row] = await conn.fetch(
        f"SELECT d.kind, d.state, d.reason_code, count(*) AS n FROM deliveries d WHERE {where} "
        "GROUP BY d.kind, d.state, d.reason_code ORDER BY d.kind, d.state, d.reason_code",
        *args,
    )
    return rows
