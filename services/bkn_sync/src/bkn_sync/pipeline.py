"""The life of a delivery: accept a version, claim it for an attempt, record what e-Kinerja
said, move it to a retry tier, the DLQ or a parking spot, and redrive it on request.

Each step is a transaction that changes the row and stages its status event (and any retry or
DLQ record) in the outbox; the source consumers ingest, and record, a whole batch in one
(``batch.py``). The HTTP call happens between two transactions, never inside one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from kinerja_shared import metrics, telemetry
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
from .repository import Conn, Row, now
from .sender import Request, Result

H = "kinerja-"  # prefix of every header this service writes


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


async def ingest(conn: Conn, src: Source, *, claim: bool = False) -> Row | None:
    """Store the version that arrived; its row if it should be attempted now.

    With ``claim`` the row to attempt is moved straight to IN_FLIGHT (one status event instead
    of QUEUED then IN_FLIGHT: predikat shows both as "menunggu"); the caller attempts it at once.
    Without it the row waits QUEUED, e.g. while the breaker is open.
    """
    did = delivery_id(src.kind, src.nip, src.period_id)
    current = await repository.lock(conn, did)
    arrival = on_arrival(current["version"] if current else None, src.version)
    fresh = {
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
    if arrival is Arrival.NEW:
        row = await repository.insert(
            conn,
            {"delivery_id": did, "kind": src.kind, "nip": src.nip, "period_id": src.period_id}
            | fresh,
        )
    elif arrival is Arrival.NEWER:
        assert current is not None
        if current["state"] not in ("DELIVERED", "SUPERSEDED"):
            await repository.publish_status(conn, repository.status_of(current, state="SUPERSEDED"))
        # Bumping retry_seq orphans any retry-tier record of the old version.
        row = await repository.update(conn, did, fresh | {"retry_seq": current["retry_seq"] + 1})
    elif arrival is Arrival.SAME:
        assert current is not None
        # Still pending after a crash before the offset commit: attempt again, same key.
        if current["state"] not in PENDING:
            return None
        if not claim or current["state"] == "IN_FLIGHT":
            return current  # an IN_FLIGHT row's status was already told
        row = await repository.update(conn, did, {"state": "IN_FLIGHT", "next_attempt_at": None})
    else:
        assert current is not None
        superseded = repository.status_of(current, state="SUPERSEDED", version=src.version)
        await repository.publish_status(
            conn,
            superseded.model_copy(
                update={
                    "attempts": 0,
                    "next_attempt_at": None,
                    "reason_code": "BKN-E11",
                    "reason": f"Versi {current['version']} yang lebih baru sudah diterima.",
                    "remedy": None,
                    "actor": None,
                }
            ),
        )
        return None
    await repository.publish_status(conn, repository.status_of(row))
    return row


def ingest_order(sources: Iterable[Source]) -> list[Source]:
    """A batch's records in the order to ingest them: by slot, so two transactions lock rows in
    the same order and never deadlock; within a slot the newest version first, so the older
    ones of the same batch arrive as OLDER and are SUPERSEDED without ever being queued."""
    return sorted(
        sources,
        key=lambda s: (delivery_id(s.kind, s.nip, s.period_id), -s.version, s.offset),
    )


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
    )


def _reason(outcome: Outcome) -> dict[str, Any]:
    return {
        "reason_code": outcome.code,
        "reason": outcome.reason,
        "remedy": outcome.remedy,
        "actor": outcome.actor,
    }


def retry_headers(row: Row, tier: int, due: datetime) -> dict[str, str]:
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


async def _stage_retry(conn: Conn, row: Row, tier: int, due: datetime) -> None:
    await repository.stage_raw(
        conn,
        tier_topic(tier),
        row["nip"],
        bytes(row["source_record"]),
        retry_headers(row, tier, due),
    )


async def _stage_dead(conn: Conn, row: Row, dlq: str, group: str) -> None:
    headers = retry_headers(row, row["retry_tier"], now())
    headers |= {
        f"{H}dlq-consumer": group,
        f"{H}error-code": row["reason_code"] or "",
        f"{H}error": (row["last_error"] or "")[:1000],
        f"{H}dead-lettered-at": now().isoformat(),
    }
    await repository.stage_raw(conn, dlq, row["nip"], bytes(row["source_record"]), headers)


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
    """Apply many outcomes in one transaction (a round trip per row, one commit for all);
    the rows as recorded, in the order given, None where the delivery moved on."""
    if not done:
        return []
    # Rows locked in delivery-id order, as ingest does: concurrent batches never deadlock.
    order = sorted(range(len(done)), key=lambda i: done[i].claimed["delivery_id"])
    rows: list[Row | None] = [None] * len(done)
    for attempt_no in range(_DEADLOCK_RETRIES):
        try:
            async with pool.acquire() as conn, conn.transaction():
                for i in order:
                    token = telemetry.attach_headers(done[i].trace) if done[i].trace else None
                    try:
                        rows[i] = await _apply(conn, done[i], routing)
                    finally:
                        if token is not None:
                            telemetry.detach(token)
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


async def _apply(conn: Conn, attempted: Attempted, routing: Routing) -> Row | None:
    claimed, result = attempted.claimed, attempted.result
    outcome = result.outcome
    at = now()
    row = await repository.lock(conn, claimed["delivery_id"])
    if (
        row is None
        or row["version"] != claimed["version"]
        or row["retry_seq"] != claimed["retry_seq"]
        or row["state"] != "IN_FLIGHT"
    ):
        return None
    errors = list(result.errors)
    if not outcome.is_transient and outcome.verdict is not Verdict.DELIVERED:
        errors.append(outcome.error_text())
    fields: dict[str, Any] = {
        "attempts": row["attempts"] + result.attempts,
        "first_attempt_at": row["first_attempt_at"] or at,
        "last_attempt_at": at,
    }
    if errors:
        fields["first_error"] = row["first_error"] or errors[0]
        fields["last_error"] = errors[-1]
    if outcome.verdict is Verdict.DELIVERED:
        fields |= {
            "state": "DELIVERED",
            "delivered_at": at,
            **_reason(Outcome(outcome.verdict)),
        }
    elif outcome.verdict is Verdict.SUPERSEDE:
        fields |= {"state": "SUPERSEDED", **_reason(outcome)}
    elif outcome.verdict in (Verdict.PARK, Verdict.DROP):
        fields |= {"state": "PARKED", **_reason(outcome)}
    elif outcome.verdict is Verdict.DEAD:
        fields |= {"state": "DEAD", **_reason(outcome)}
    else:
        tier = routing.schedule.next_tier(row["retry_tier"])
        if tier is None:
            fields |= {"state": "DEAD", **_reason(outcome), "next_attempt_at": None}
        else:
            due = routing.schedule.due_at(tier, at, outcome.retry_after)
            fields |= {
                "state": "RETRYING",
                "retry_tier": tier,
                "retry_seq": row["retry_seq"] + 1,
                "next_attempt_at": due,
                **_reason(outcome),
            }
    row = await repository.update(conn, row["delivery_id"], fields)
    if row["state"] == "RETRYING":
        await _stage_retry(conn, row, row["retry_tier"], row["next_attempt_at"])
    elif row["state"] == "DEAD":
        await _stage_dead(conn, row, routing.dlq, routing.group)
    elif row["state"] == "DELIVERED" and row["kind"] == "SKP":
        # The atasan's own SKP is what their teachers' E05 refusals were waiting for.
        waiting = await repository.parked_waiting_for_atasan_skp(conn, row["nip"])
        await redrive(conn, waiting, dry_run=False)
    await repository.publish_status(conn, repository.status_of(row))
    return row


async def redrive(conn: Conn, rows: Iterable[Row], *, dry_run: bool) -> list[Row]:
    """Put parked or dead deliveries back on the road: queued, fresh budget, no wait."""
    chosen = [r for r in rows if r["state"] in REDRIVABLE]
    if dry_run:
        return chosen
    redriven: list[Row] = []
    at = now()
    for old in chosen:
        row = await repository.update(
            conn,
            old["delivery_id"],
            {
                "state": "QUEUED",
                "retry_tier": 0,
                "retry_seq": old["retry_seq"] + 1,
                "next_attempt_at": at,
                "reason_code": None,
                "reason": None,
                "remedy": None,
                "actor": None,
            },
        )
        await _stage_retry(conn, row, 0, at)
        await repository.publish_status(conn, repository.status_of(row))
        redriven.append(row)
    return redriven
