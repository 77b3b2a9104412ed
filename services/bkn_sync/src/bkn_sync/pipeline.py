"""The steps of a delivery's life, each one transaction: load the deliveries (locked), let
``Delivery`` decide (``domain/delivery.py``), save the new deliveries with the events their
transitions caused (status events, retry-tier and DLQ copies of the source record).

The source consumers ingest, and record, a whole batch in one transaction (``batch.py``),
set-based: one statement locks the batch's rows, one inserts, one updates, one stages every
outbox record, whatever the batch's size. The HTTP call happens between two transactions,
never inside one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from kinerja_shared import metrics, telemetry
from kinerja_shared.events.bkn_sync import DeliveryState

from . import repository
from .domain.deliveries import RetrySchedule
from .domain.delivery import Delivery, Event, SourceVersion, Transition
from .repository import Conn, DeadLetters, Row, now
from .sender import Request, Result

Traced = tuple[Event, Mapping[str, str]]


@dataclass(frozen=True)
class Source(SourceVersion):
    """A delivery's record as it came off Kafka."""

    # Its Kafka headers (the W3C trace context among them): the delivery joins its trace.
    trace: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Routing:
    schedule: RetrySchedule
    dlq: str
    group: str

    @property
    def dead_letters(self) -> DeadLetters:
        return DeadLetters(self.dlq, self.group)


def _traced(transition: Transition, trace: Mapping[str, str]) -> list[Traced]:
    return [(event, trace) for event in transition.events]


async def ingest(
    conn: Conn, sources: Sequence[Source], *, claim: bool = False
) -> list[tuple[Delivery, Source]]:
    """Store the versions that arrived; the deliveries to attempt now, each with its record.

    With ``claim`` a delivery to attempt is moved straight to IN_FLIGHT; the caller attempts it
    at once. Without it the delivery waits QUEUED, e.g. while the breaker is open.
    """
    at = now()
    ordered = ingest_order(sources)
    current = await repository.lock_many(conn, {s.delivery_key for s in ordered})
    inserted: dict[str, None] = {}  # delivery keys, in order; dicts as ordered sets
    updated: dict[str, None] = {}
    events: list[Traced] = []
    due: dict[str, Source] = {}
    for src in ordered:
        key = src.delivery_key
        known = current.get(key)
        if known is None:
            transition = Delivery.new(src, claim=claim, at=at)
            inserted[key] = None
        else:
            transition = known.arrive(src, claim=claim, at=at)
            if transition.delivery is not known and key not in inserted:
                updated[key] = None
        current[key] = transition.delivery
        if transition.events:
            events += _traced(transition, telemetry.trace_headers_of(src.trace))
        if transition.attempt:
            due.setdefault(key, src)
    await repository.save(
        conn,
        inserted=[current[k] for k in inserted],
        updated=[current[k] for k in updated],
        events=events,
    )
    return [(current[key], src) for key, src in due.items()]


def ingest_order(sources: Iterable[Source]) -> list[Source]:
    """A batch's records in the order to ingest them: by slot, so two transactions lock rows in
    the same order and never deadlock; within a slot the newest version first, so the older
    ones of the same batch arrive as OLDER and are SUPERSEDED without ever being queued."""
    return sorted(sources, key=lambda s: (s.delivery_key, -s.version, s.offset))


async def claim(
    pool: asyncpg.Pool,
    delivery_key: str,
    states: Collection[DeliveryState],
    seq: int | None = None,
) -> Delivery | None:
    """Move the delivery to IN_FLIGHT if it is still waiting for this attempt."""
    async with pool.acquire() as conn, conn.transaction():
        found = await repository.lock(conn, delivery_key)
        transition = found.claim(states, seq, at=now()) if found is not None else None
        if transition is None:
            return None
        if transition.delivery is not found:
            await repository.save(
                conn,
                updated=[transition.delivery],
                columns=repository.CLAIM,
                events=_traced(transition, telemetry.current_trace_headers()),
            )
        return transition.delivery


def request_of(d: Delivery) -> Request:
    return Request(
        kind=d.kind,
        nip=d.nip,
        period_id=d.period_id,
        key=d.idempotency_key,
        body=dict(d.current.body),
        delivery_id=d.delivery_key,
        prior_attempts=d.attempts,
    )


# A redrive may lock some of a batch's rows in another order; PostgreSQL then aborts one side.
_DEADLOCK_RETRIES = 3


@dataclass(frozen=True)
class Attempted:
    """A claimed delivery and what its attempts got from e-Kinerja."""

    claimed: Delivery
    result: Result
    # The W3C context of the record that caused it, for its status event; empty = current.
    trace: Mapping[str, str] = field(default_factory=dict)


async def record(
    pool: asyncpg.Pool, claimed: Delivery, result: Result, routing: Routing
) -> Delivery | None:
    """Apply the outcome of the attempts on ``claimed``; None if the delivery moved on."""
    return (await record_many(pool, [Attempted(claimed, result)], routing))[0]


async def record_many(
    pool: asyncpg.Pool, done: Sequence[Attempted], routing: Routing
) -> list[Delivery | None]:
    """Apply many outcomes in one transaction of a few statements; the deliveries as recorded,
    in the order given, None where the delivery moved on."""
    if not done:
        return []
    for attempt_no in range(_DEADLOCK_RETRIES):
        try:
            async with pool.acquire() as conn, conn.transaction():
                recorded = await _apply(conn, done, routing)
            break
        except asyncpg.exceptions.DeadlockDetectedError:
            # A redrive (roster change, operator) locked some of the same rows in another order.
            if attempt_no == _DEADLOCK_RETRIES - 1:
                raise
    # Counted once committed: a rolled-back change handed nothing to a tier or the DLQ.
    for d in recorded:
        if d is not None and d.state is DeliveryState.RETRYING:
            metrics.BKN_SYNC_RETRIES.labels(str(d.retry_tier)).inc()
        elif d is not None and d.state is DeliveryState.DEAD:
            metrics.BKN_SYNC_DLQ.inc()
    return recorded


async def _apply(conn: Conn, done: Sequence[Attempted], routing: Routing) -> list[Delivery | None]:
    at = now()
    # Rows locked in delivery-key order, as ingest does: concurrent batches never deadlock.
    current = await repository.lock_many(conn, {a.claimed.delivery_key for a in done})
    updated: dict[str, Delivery] = {}
    recorded: list[Delivery | None] = []
    events: list[Traced] = []
    for a in done:
        key = a.claimed.delivery_key
        found = current.get(key)
        transition = (
            found.record(
                a.claimed,
                a.result.outcome,
                attempts=a.result.attempts,
                errors=a.result.errors,
                schedule=routing.schedule,
                at=at,
            )
            if found is not None
            else None
        )
        if transition is None:
            recorded.append(None)  # moved on meanwhile: a redrive, a newer version
            continue
        current[key] = updated[key] = transition.delivery
        recorded.append(transition.delivery)
        trace = (
            telemetry.trace_headers_of(a.trace) if a.trace else telemetry.current_trace_headers()
        )
        events += _traced(transition, trace)
    await repository.save(
        conn,
        updated=list(updated.values()),
        columns=repository.PROGRESS,
        events=events,
        dead_letters=routing.dead_letters,
    )
    atasan = [d.nip for d in updated.values() if d.releases_teachers]
    if atasan:
        waiting = await repository.parked_waiting_for_atasan_skp(conn, atasan)
        await _redrive(conn, waiting, at)
    return recorded


async def redrive(conn: Conn, rows: Iterable[Row], *, dry_run: bool) -> list[Row]:
    """Put the parked or dead deliveries among ``rows`` (locked unless ``dry_run``) back on the
    road: queued, fresh budget, no wait. The rows as stored (as they are, for a dry run)."""
    chosen = [(row, d) for row in rows if (d := repository.to_delivery(row)).redrivable]
    if dry_run or not chosen:
        return [row for row, _ in chosen]
    stored = await _redrive(conn, [d for _, d in chosen], now(), returning=True)
    by_key = {row["delivery_id"]: row for row in stored}
    return [by_key[d.delivery_key] for _, d in chosen]


async def _redrive(
    conn: Conn, deliveries: Sequence[Delivery], at: datetime, *, returning: bool = False
) -> list[Row]:
    if not deliveries:
        return []
    trace = telemetry.current_trace_headers()
    transitions = [d.redrive(at=at) for d in deliveries]
    return await repository.save(
        conn,
        updated=[t.delivery for t in transitions],
        columns=repository.PROGRESS,
        events=[traced for t in transitions for traced in _traced(t, trace)],
        returning=returning,
    )
