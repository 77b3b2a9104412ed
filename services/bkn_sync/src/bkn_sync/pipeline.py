"""The steps of a delivery's life, each one transaction: load the deliveries (locked), let
``Delivery`` decide (``domain/delivery.py``), save the new deliveries with the events their
transitions caused (status events, retry-tier and DLQ copies of the source record).

The source consumers ingest a whole batch in one transaction (``batch.py``), and ``Recorder``
records outcomes as their PUTs complete, those completing together in one transaction;
either is set-based: one statement locks the rows, one inserts, one updates, one stages every
outbox record, whatever their number. The HTTP call happens between two transactions, never
inside one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import asyncpg

from kinerja_shared import telemetry
from kinerja_shared.events.bkn_sync import DeliveryState, RecordKind

from . import metrics, repository
from .domain.deliveries import RetrySchedule, waits_for_skp
from .domain.delivery import Delivery, Event, SourceVersion, Transition
from .repository import Conn, DeadLetters, Row, now
from .sender import Request, Result

Traced = tuple[Event, Mapping[str, str]]


# A delivery's record as it came off Kafka, its headers in ``trace``.
Source = SourceVersion


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
    # A predikat waits for its teacher's SKP to be at e-Kinerja (decided under the same lock
    # as the SKP's outcome is recorded, before any row is locked).
    slots = {(s.nip, s.period_id) for s in ordered if s.kind is RecordKind.PREDIKAT}
    await repository.lock_skp_slots(conn, slots)
    skp = await repository.skp_states(conn, slots) if slots else {}
    current = await repository.lock_many(conn, {s.delivery_key for s in ordered})
    inserted: dict[str, None] = {}  # delivery keys, in order; dicts as ordered sets
    updated: dict[str, None] = {}
    events: list[Traced] = []
    due: dict[str, Source] = {}
    for src in ordered:
        key = src.delivery_key
        known = current.get(key)
        hold = waits_for_skp(src.kind, skp.get((src.nip, src.period_id)))
        if known is None:
            transition = Delivery.new(src, claim=claim, at=at, hold=hold)
            inserted[key] = None
        else:
            transition = known.arrive(src, claim=claim, at=at, hold=hold)
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


async def bring_forward(pool: asyncpg.Pool, delivery_key: str, seq: int) -> Delivery | None:
    """Take a delivery waiting on its retry tier (for that tier record, ``seq``) for an attempt
    now; None if it moved on meanwhile."""
    async with pool.acquire() as conn, conn.transaction():
        found = await repository.lock(conn, delivery_key)
        transition = found.bring_forward(seq, at=now()) if found is not None else None
        if transition is None:
            return None
        await repository.save(
            conn,
            updated=[transition.delivery],
            columns=repository.CLAIM,
            events=_traced(
                transition, telemetry.trace_headers_of(transition.delivery.current.trace)
            ),
        )
        return transition.delivery


async def release(pool: asyncpg.Pool, claimed: Delivery) -> None:
    """Put an attempt brought forward that made no PUT back on its tier."""
    async with pool.acquire() as conn, conn.transaction():
        found = await repository.lock(conn, claimed.delivery_key)
        transition = found.release(claimed, at=now()) if found is not None else None
        if transition is not None:
            await repository.save(
                conn,
                updated=[transition.delivery],
                columns=repository.CLAIM,
                events=_traced(transition, telemetry.trace_headers_of(claimed.current.trace)),
            )


async def take_due_checks(pool: asyncpg.Pool, limit: int, lease_seconds: float) -> list[Delivery]:
    """Take up to ``limit`` parked deliveries whose scheduled check is due, in one short
    transaction; rows another instance holds are skipped. Each is due again after
    ``lease_seconds`` unless its check is recorded first (the one taking it may die)."""
    at = now()
    async with pool.acquire() as conn, conn.transaction():
        due = await repository.lock_due_checks(conn, at, limit)
        lease_until = at + timedelta(seconds=lease_seconds)
        taken = [t.delivery for d in due if (t := d.recheck(at=at, lease_until=lease_until))]
        await repository.save(conn, updated=taken, columns=repository.RECHECK)
    return taken


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
    # The W3C context of the attempt (``telemetry.current_trace_headers()`` where it ran), for
    # its status event; empty = current.
    trace: Mapping[str, str] = field(default_factory=dict)


class Recorder:
    """Records each attempt's outcome as soon as its PUT is done, in a short transaction of its
    own; outcomes that complete while one is being written go together into the next (group
    commit), so a burst of them costs a few transactions, not one each, and a slow PUT never
    holds back another's status. ``record`` returns once that outcome is committed.
    """

    def __init__(self, pool: Callable[[], asyncpg.Pool]) -> None:
        self._pool = pool  # the process's pool exists only once the service has started
        self._pending: list[tuple[Attempted, Routing, asyncio.Future[Delivery | None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, attempted: Attempted, routing: Routing) -> Delivery | None:
        if not attempted.trace:
            # Written by another task: its status event must carry this one's trace.
            attempted = replace(attempted, trace=telemetry.current_trace_headers())
        done: asyncio.Future[Delivery | None] = asyncio.get_running_loop().create_future()
        self._pending.append((attempted, routing, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="bkn-sync-recorder")
        # Shielded: a caller cancelled while its outcome is written cannot cancel that write.
        return await asyncio.shield(done)

    async def aclose(self) -> None:
        """Stop a write still running once the consumers stopped (the pool closes next): its
        callers are told it was not recorded, and the records are read again on restart."""
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def _write(self) -> None:
        taken: list[tuple[Attempted, Routing, asyncio.Future[Delivery | None]]] = []
        try:
            while self._pending:
                taken, self._pending = self._pending, []
                groups: dict[Routing, list[tuple[Attempted, asyncio.Future[Delivery | None]]]]
                groups = {}
                for attempted, routing, done in taken:
                    groups.setdefault(routing, []).append((attempted, done))
                for routing, group in groups.items():
                    await self._write_group(routing, group)
        finally:
            # Stopped mid-way (shutdown): whoever still waits learns it was not recorded.
            for _, _, done in [*taken, *self._pending]:
                if not done.done():
                    done.cancel()

    async def _write_group(
        self, routing: Routing, group: list[tuple[Attempted, asyncio.Future[Delivery | None]]]
    ) -> None:
        try:
            recorded = await record_many(self._pool(), [a for a, _ in group], routing)
        except Exception as exc:
            for _, done in group:
                if not done.done():
                    done.set_exception(exc)
            return
        for (_, done), d in zip(group, recorded, strict=True):
            if not done.done():
                done.set_result(d)


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
    # Counted once committed: a rolled-back change handed nothing to a tier or the DLQ. An
    # attempt brought forward that failed went back to its tier: no new hand-over.
    for a, d in zip(done, recorded, strict=True):
        if d is None:
            continue
        if d.state is DeliveryState.RETRYING and d.retry_seq != a.claimed.retry_seq:
            metrics.RETRIES.labels(str(d.retry_tier)).inc()
        elif d.state is DeliveryState.DEAD:
            metrics.DLQ.inc()
    return recorded


async def _apply(conn: Conn, done: Sequence[Attempted], routing: Routing) -> list[Delivery | None]:
    at = now()
    # The lock a predikat's hold is decided under, for every SKP whose outcome this records.
    await repository.lock_skp_slots(
        conn,
        {(a.claimed.nip, a.claimed.period_id) for a in done if a.claimed.kind is RecordKind.SKP},
    )
    # Rows locked in delivery-key order, as ingest does: concurrent batches never deadlock.
    current = await repository.lock_many(conn, {a.claimed.delivery_key for a in done})
    updated: dict[str, Delivery] = {}
    decided: set[str] = set()  # rows an outcome moved on, not only counted PUTs on
    recorded: list[Delivery | None] = []
    events: list[Traced] = []
    for a in done:
        key = a.claimed.delivery_key
        found = current.get(key)
        if found is None:
            recorded.append(None)
            continue
        transition = found.record(
            a.claimed,
            a.result.outcome,
            attempts=a.result.attempts,
            errors=a.result.errors,
            schedule=routing.schedule,
            at=at,
        )
        if transition is None:
            # Moved on meanwhile (another attempt on the same claim recorded first, a redrive,
            # a newer version): not this outcome's to decide, but its PUTs of the same version
            # went out all the same and are counted.
            tallied = found.tally(a.claimed, attempts=a.result.attempts, at=at)
            if tallied is not None:
                current[key] = updated[key] = tallied.delivery
            recorded.append(None)
            continue
        current[key] = updated[key] = transition.delivery
        decided.add(key)
        recorded.append(transition.delivery)
        # Already W3C headers (``current_trace_headers`` where the attempt ran): not parsed again.
        trace = dict(a.trace) if a.trace else telemetry.current_trace_headers()
        events += _traced(transition, trace)
    await repository.save(
        conn,
        updated=list(updated.values()),
        columns=repository.PROGRESS,
        events=events,
        dead_letters=routing.dead_letters,
    )
    # A teacher's SKP at e-Kinerja releases their predikat of the period held behind it.
    moved = [d for key, d in updated.items() if key in decided]
    skps = [(d.nip, d.period_id) for d in moved if d.releases_predikat]
    if skps:
        await _redrive(conn, await repository.predikat_waiting_for_skp(conn, skps), at)
    atasan = [d.nip for d in moved if d.releases_teachers]
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
