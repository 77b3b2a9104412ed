"""The life of a delivery: accept a version, claim it for an attempt, record what e-Kinerja
said, move it to a retry tier, the DLQ or a parking spot, and redrive it on request.

Each step is a transaction that changes rows and stages their status events (and any retry or
DLQ record) in the outbox. The source consumers ingest, and record, a whole batch in one
(``batch.py``), set-based: one statement locks the batch's rows, one inserts, one updates, one
stages every outbox record, whatever the batch's size. The HTTP call happens between two
transactions, never inside one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from kinerja_shared import metrics, telemetry
from kinerja_shared.events.bkn_sync import DeliveryStatus
from kinerja_shared.outbox import Staged
from kinerja_shared.topics import BKN_RETRY_TIERS

from . import repository
from .domain.classify import Outcome, Verdict
from .domain.deliveries import (
    PENDING,
    REDRIVABLE,
    Arrival,
    RetrySchedule,
    delivery_id,
    idempotency_key,
    on_arrival,
)
from .repository import Conn, Row, RowLike, now
from .sender import Request, Result

H = "kinerja-"  # prefix of every header this service writes

# A row as this module changes it before writing it back: the columns of ``deliveries``.
Fields = dict[str, Any]


@dataclass(frozen=True)
class Source:
    """A delivery's record as it came off Kafka."""

    kind: str
    nip: str
    npsn: str
    period_id: str
    version: int
    body: dict[str, Any]
    record: bytes
    topic: str
    partition: int
    offset: int
    # Its Kafka headers (the W3C trace context among them): the delivery joins its trace.
    trace: Mapping[str, str] = field(default_factory=dict)

    @property
    def delivery_id(self) -> str:
        return delivery_id(self.kind, self.nip, self.period_id)


def _fresh(src: Source, *, claim: bool) -> Fields:
    """The columns a newly arrived version starts with."""
    return {
        "version": src.version,
        "idempotency_key": idempotency_key(src.kind, src.nip, src.period_id, src.version),
        "npsn": src.npsn,
        "state": "IN_FLIGHT" if claim else "QUEUED",
        "attempts": 0,
        "retry_tier": 0,
        "next_attempt_at": None,
        "reason_code": None,
        "reason": None,
        "remedy": None,
        "actor": None,
        "first_error": None,
        "last_error": None,
        "first_attempt_at": None,
        "last_attempt_at": None,
        "delivered_at": None,
        "body": src.body,
        "source_record": src.record,
        "source_topic": src.topic,
        "source_partition": src.partition,
        "source_offset": src.offset,
    }


def _older_refused(current: RowLike, version: int) -> DeliveryStatus:
    """The status of a version that arrived after a newer one: superseded on arrival."""
    return repository.status_of(current, state="SUPERSEDED", version=version).model_copy(
        update={
            "attempts": 0,
            "next_attempt_at": None,
            "reason_code": "BKN-E11",
            "reason": f"Versi {current['version']} yang lebih baru sudah diterima.",
            "remedy": None,
            "actor": None,
        }
    )


async def ingest(
    conn: Conn, sources: Sequence[Source], *, claim: bool = False
) -> list[tuple[Row, Source]]:
    """Store the versions that arrived; the rows to attempt now, each with its record.

    With ``claim`` a row to attempt is moved straight to IN_FLIGHT (one status event instead
    of QUEUED then IN_FLIGHT: predikat shows both as "menunggu"); the caller attempts it at once.
    Without it the row waits QUEUED, e.g. while the breaker is open.
    """
    ordered = ingest_order(sources)
    locked = await repository.lock_many(conn, {s.delivery_id for s in ordered})
    current: dict[str, RowLike] = dict(locked)
    inserts: dict[str, Fields] = {}
    updates: dict[str, Fields] = {}
    staged: list[Staged] = []
    due: dict[str, Source] = {}
    for src in ordered:
        did = src.delivery_id
        row = current.get(did)
        trace = telemetry.trace_headers_of(src.trace)
        arrival = on_arrival(row["version"] if row else None, src.version)
        if arrival is Arrival.OLDER:
            assert row is not None
            staged.append(repository.status_record(_older_refused(row, src.version), trace))
            continue
        if arrival is Arrival.SAME:
            assert row is not None
            # Still pending after a crash before the offset commit: attempt again, same key.
            if row["state"] not in PENDING:
                continue
            if claim and row["state"] != "IN_FLIGHT":
                row = updates[did] = {**row, "state": "IN_FLIGHT", "next_attempt_at": None}
                staged.append(repository.status_record(repository.status_of(row), trace))
            # else an IN_FLIGHT row's status was already told
        elif arrival is Arrival.NEW:
            row = inserts[did] = {
                "delivery_id": did,
                "kind": src.kind,
                "nip": src.nip,
                "period_id": src.period_id,
                **_fresh(src, claim=claim),
            }
            staged.append(repository.status_record(repository.status_of(row), trace))
        else:  # NEWER
            assert row is not None
            if row["state"] not in ("DELIVERED", "SUPERSEDED"):
                superseded = repository.status_of(row, state="SUPERSEDED")
                staged.append(repository.status_record(superseded, trace))
            # Bumping retry_seq orphans any retry-tier record of the old version.
            row = {**row, **_fresh(src, claim=claim), "retry_seq": row["retry_seq"] + 1}
            (inserts if did in inserts else updates)[did] = row
            staged.append(repository.status_record(repository.status_of(row), trace))
        current[did] = row
        due.setdefault(did, src)
    stored = {
        r["delivery_id"]: r
        for r in [
            *await repository.insert_many(conn, list(inserts.values())),
            *await repository.write_many(conn, list(updates.values())),
        ]
    }
    await repository.stage(conn, staged)
    return [(stored.get(did) or locked[did], src) for did, src in due.items()]


def ingest_order(sources: Iterable[Source]) -> list[Source]:
    """A batch's records in the order to ingest them: by slot, so two transactions lock rows in
    the same order and never deadlock; within a slot the newest version first, so the older
    ones of the same batch arrive as OLDER and are SUPERSEDED without ever being queued."""
    return sorted(sources, key=lambda s: (s.delivery_id, -s.version, s.offset))


async def claim(
    pool: asyncpg.Pool, did: str, states: Iterable[str], seq: int | None = None
) -> Row | None:
    """Move the delivery to IN_FLIGHT if it is still waiting for this attempt."""
    async with pool.acquire() as conn, conn.transaction():
        row = await repository.lock(conn, did)
        if row is None or row["state"] not in set(states):
            return None
        if seq is not None and row["retry_seq"] != seq:
            return None
        if row["state"] == "IN_FLIGHT":
            return row  # a previous attempt crashed mid-way; its status was already told
        row = await repository.update(conn, did, {"state": "IN_FLIGHT", "next_attempt_at": None})
        await repository.publish_status(conn, repository.status_of(row))
        return row


def request_of(row: Row) -> Request:
    return Request(
        kind=row["kind"],
        nip=row["nip"],
        period_id=row["period_id"],
        key=row["idempotency_key"],
        body=row["body"],
        delivery_id=row["delivery_id"],
        prior_attempts=row["attempts"],
    )


def _reason(outcome: Outcome) -> dict[str, Any]:
    return {
        "reason_code": outcome.code,
        "reason": outcome.reason,
        "remedy": outcome.remedy,
        "actor": outcome.actor,
    }


def retry_headers(row: RowLike, tier: int, due: datetime) -> dict[str, str]:
    """Where the record came from and how its delivery has gone so far."""
    return {
        f"{H}original-topic": row["source_topic"],
        f"{H}original-partition": str(row["source_partition"]),
        f"{H}original-offset": str(row["source_offset"]),
        f"{H}original-key": row["nip"],
        f"{H}delivery-id": row["delivery_id"],
        f"{H}delivery-version": str(row["version"]),
        f"{H}retry-seq": str(row["retry_seq"]),
        f"{H}retry-tier": str(tier),
        f"{H}attempts": str(row["attempts"]),
        f"{H}first-error": (row["first_error"] or "")[:1000],
        f"{H}last-error": (row["last_error"] or "")[:1000],
        f"{H}first-attempt-at": row["first_attempt_at"].isoformat()
        if row["first_attempt_at"]
        else "",
        f"{H}last-attempt-at": row["last_attempt_at"].isoformat() if row["last_attempt_at"] else "",
        f"{H}due-at": due.isoformat(),
    }


def tier_topic(tier: int) -> str:
    # Tier 0 (a redrive) rides the first tier topic with no wait.
    return BKN_RETRY_TIERS[max(tier, 1) - 1].name


def _copy(row: RowLike, topic: str, headers: Mapping[str, str]) -> Staged:
    """The source record, unchanged, for a retry tier or the DLQ."""
    return Staged(topic, row["nip"], bytes(row["source_record"]), headers)


def _retry_record(row: RowLike, tier: int, due: datetime, trace: Mapping[str, str]) -> Staged:
    return _copy(row, tier_topic(tier), {**trace, **retry_headers(row, tier, due)})


def _dead_record(row: RowLike, routing: Routing, trace: Mapping[str, str]) -> Staged:
    headers = retry_headers(row, row["retry_tier"], now())
    headers |= {
        f"{H}dlq-consumer": routing.group,
        f"{H}error-code": row["reason_code"] or "",
        f"{H}error": (row["last_error"] or "")[:1000],
        f"{H}dead-lettered-at": now().isoformat(),
    }
    return _copy(row, routing.dlq, {**trace, **headers})


@dataclass(frozen=True)
class Routing:
    schedule: RetrySchedule
    dlq: str
    group: str


# A redrive may lock some of a batch's rows in another order; PostgreSQL then aborts one side.
_DEADLOCK_RETRIES = 3


@dataclass(frozen=True)
class Attempted:
    """A claimed row and what its attempts got from e-Kinerja."""

    claimed: Row
    result: Result
    # The W3C context of the record that caused it, for its status event; empty = current.
    trace: Mapping[str, str] = field(default_factory=dict)


async def record(pool: asyncpg.Pool, claimed: Row, result: Result, routing: Routing) -> Row | None:
    """Apply the outcome of the attempts on ``claimed``; None if the delivery moved on."""
    return (await record_many(pool, [Attempted(claimed, result)], routing))[0]


async def record_many(
    pool: asyncpg.Pool, done: Sequence[Attempted], routing: Routing
) -> list[Row | None]:
    """Apply many outcomes in one transaction of a few statements; the rows as recorded, in
    the order given, None where the delivery moved on."""
    if not done:
        return []
    for attempt_no in range(_DEADLOCK_RETRIES):
        try:
            async with pool.acquire() as conn, conn.transaction():
                rows = await _apply(conn, done, routing)
            break
        except asyncpg.exceptions.DeadlockDetectedError:
            # A redrive (roster change, operator) locked some of the same rows in another order.
            if attempt_no == _DEADLOCK_RETRIES - 1:
                raise
    # Counted once committed: a rolled-back change handed nothing to a tier or the DLQ.
    for row in rows:
        if row is not None and row["state"] == "RETRYING":
            metrics.BKN_SYNC_RETRIES.labels(str(row["retry_tier"])).inc()
        elif row is not None and row["state"] == "DEAD":
            metrics.BKN_SYNC_DLQ.inc()
    return rows


def _outcome_fields(row: RowLike, result: Result, routing: Routing, at: datetime) -> Fields:
    """What the attempts' outcome changes in the row."""
    outcome = result.outcome
    errors = list(result.errors)
    if not outcome.is_transient and outcome.verdict is not Verdict.DELIVERED:
        errors.append(outcome.error_text())
    fields: Fields = {
        "attempts": row["attempts"] + result.attempts,
        "first_attempt_at": row["first_attempt_at"] or at,
        "last_attempt_at": at,
    }
    if errors:
        fields["first_error"] = row["first_error"] or errors[0]
        fields["last_error"] = errors[-1]
    if outcome.verdict is Verdict.DELIVERED:
        return fields | {
            "state": "DELIVERED",
            "delivered_at": at,
            **_reason(Outcome(outcome.verdict)),
        }
    if outcome.verdict is Verdict.SUPERSEDE:
        return fields | {"state": "SUPERSEDED", **_reason(outcome)}
    if outcome.verdict in (Verdict.PARK, Verdict.DROP):
        return fields | {"state": "PARKED", **_reason(outcome)}
    if outcome.verdict is Verdict.DEAD:
        return fields | {"state": "DEAD", **_reason(outcome)}
    tier = routing.schedule.next_tier(row["retry_tier"])
    if tier is None:
        return fields | {"state": "DEAD", **_reason(outcome), "next_attempt_at": None}
    return fields | {
        "state": "RETRYING",
        "retry_tier": tier,
        "retry_seq": row["retry_seq"] + 1,
        "next_attempt_at": routing.schedule.due_at(tier, at, outcome.retry_after),
        **_reason(outcome),
    }


async def _apply(conn: Conn, done: Sequence[Attempted], routing: Routing) -> list[Row | None]:
    at = now()
    # Rows locked in delivery-id order, as ingest does: concurrent batches never deadlock.
    locked = await repository.lock_many(conn, {a.claimed["delivery_id"] for a in done})
    changed: dict[str, Fields] = {}
    applied: list[str | None] = []
    staged: list[Staged] = []
    for a in done:
        did = a.claimed["delivery_id"]
        row = changed.get(did) or locked.get(did)
        if (
            row is None
            or row["version"] != a.claimed["version"]
            or row["retry_seq"] != a.claimed["retry_seq"]
            or row["state"] != "IN_FLIGHT"
        ):
            applied.append(None)  # moved on meanwhile: a redrive, a newer version
            continue
        applied.append(did)
        row = changed[did] = {**row, **_outcome_fields(row, a.result, routing, at)}
        trace = (
            telemetry.trace_headers_of(a.trace) if a.trace else telemetry.current_trace_headers()
        )
        if row["state"] == "RETRYING":
            staged.append(_retry_record(row, row["retry_tier"], row["next_attempt_at"], trace))
        elif row["state"] == "DEAD":
            staged.append(_dead_record(row, routing, trace))
        staged.append(repository.status_record(repository.status_of(row), trace))
    written = {
        r["delivery_id"]: r
        for r in await repository.write_many(conn, list(changed.values()), repository.PROGRESS)
    }
    await repository.stage(conn, staged)
    # An atasan's own SKP is what their teachers' E05 refusals were waiting for.
    atasan = [
        r["nip"] for r in written.values() if r["state"] == "DELIVERED" and r["kind"] == "SKP"
    ]
    if atasan:
        await redrive(
            conn, await repository.parked_waiting_for_atasan_skp(conn, atasan), dry_run=False
        )
    return [written[did] if did else None for did in applied]


async def redrive(conn: Conn, rows: Iterable[Row], *, dry_run: bool) -> list[Row]:
    """Put parked or dead deliveries back on the road: queued, fresh budget, no wait."""
    chosen = [r for r in rows if r["state"] in REDRIVABLE]
    if dry_run or not chosen:
        return chosen
    at = now()
    trace = telemetry.current_trace_headers()
    changed = [
        {
            **old,
            "state": "QUEUED",
            "retry_tier": 0,
            "retry_seq": old["retry_seq"] + 1,
            "next_attempt_at": at,
            "reason_code": None,
            "reason": None,
            "remedy": None,
            "actor": None,
        }
        for old in chosen
    ]
    written = {
        r["delivery_id"]: r for r in await repository.write_many(conn, changed, repository.PROGRESS)
    }
    redriven = [written[r["delivery_id"]] for r in chosen]
    await repository.stage(
        conn,
        [
            record
            for row in redriven
            for record in (
                _retry_record(row, 0, at, trace),
                repository.status_record(repository.status_of(row), trace),
            )
        ],
    )
    return redriven
