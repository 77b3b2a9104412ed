"""What bkn-sync does by itself rather than for a Kafka record: the scheduled checks of
deliveries parked for a cause outside Kinerja (BKN-E01 to E06, E09), and bringing deliveries
forward from the retry tiers once e-Kinerja is back after an outage.

Every instance runs both loops. Scheduled checks are taken a few at a time with ``FOR UPDATE
SKIP LOCKED`` and a lease (``recheck_at`` moved past the check's longest run), so replicas never
take the same one and one that dies mid-check leaves it due again. Everything goes through the
same sender as any attempt: the breaker, the call cap and the process's in-flight bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from datetime import datetime

from opentelemetry import trace

from kinerja_shared import telemetry, tracing_attrs

from . import pipeline, repository
from .batch import within
from .breaker import BreakerOpen, Gate
from .domain.breaker import BreakerState
from .domain.classify import E_KINERJA_DOWN
from .domain.delivery import Delivery
from .handlers import record
from .parts import BknRuntime

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)


async def _all(work: Iterable[Awaitable[None]], what: str) -> int:
    """Run ``work`` together; how many failed (logged, not raised: the rest stands)."""
    results = await asyncio.gather(*work, return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    for exc in failed:
        log.warning(what, exc_info=exc)
    return len(failed)


# --- scheduled checks of parked deliveries ----------------------------------------------------


async def run_checks(runtime: BknRuntime) -> None:
    """Check due parked deliveries until cancelled."""
    settings = runtime.settings
    while True:
        taken = 0
        try:
            taken = await check_due(runtime)
        except Exception:
            log.warning("scheduled checks of parked deliveries failed", exc_info=True)
        if taken < settings.parked_recheck_batch:  # a full batch: more may be due at once
            await asyncio.sleep(settings.parked_recheck_poll_seconds)


async def check_due(runtime: BknRuntime) -> int:
    """Take one batch of due checks and make them; how many were taken."""
    settings = runtime.settings
    sender = runtime.parts.sender
    if not sender.gate.admitting():
        # e-Kinerja is down: a check would only wait for the breaker while its lease runs.
        return 0
    taken = await pipeline.take_due_checks(
        runtime.db, settings.parked_recheck_batch, settings.check_lease_seconds()
    )
    await _all((_check(runtime, d) for d in taken), "scheduled check not recorded")
    return len(taken)


async def _check(runtime: BknRuntime, d: Delivery) -> None:
    sender = runtime.parts.sender
    with within(d.current.trace), _tracer.start_as_current_span(f"bkn-sync check {d.kind}"):
        tracing_attrs.annotate(d.nip, d.period_id, d.delivery_key)
        async with runtime.parts.in_flight:
            try:
                result = await sender.deliver(pipeline.request_of(d))
            except BreakerOpen:
                return  # no PUT was made: due again when its lease ends, nothing counted
        await record(runtime, pipeline.Attempted(d, result, telemetry.current_trace_headers()))


# --- recovery after an outage -----------------------------------------------------------------


async def run_recovery(runtime: BknRuntime) -> None:
    """After every outage, bring forward what it sent to the retry tiers, until cancelled."""
    sender = runtime.parts.sender
    while True:
        await sender.gate.outage()
        try:
            await recover(runtime)
        except Exception:
            log.warning("recovery after an e-Kinerja outage failed", exc_info=True)


async def recover(runtime: BknRuntime) -> None:
    """From an outage's start until e-Kinerja is back and every delivery the outage left on a
    retry tier was attempted again.

    While the breaker is open this waits; once its cool-down is over and nothing else is
    probing, a waiting delivery is the probe (nothing else may call: every delivery may be on a
    tier with hours to wait). A failed probe costs that delivery one attempt, not a tier. Once
    the breaker closes, the deliveries that failed before it did are brought forward.
    """
    settings = runtime.settings
    gate: Gate = runtime.parts.sender.gate
    while True:
        try:
            await gate.ready()
        except BreakerOpen:
            continue  # still down
        if _closed(gate):
            await _drain(runtime, gate.closed_at)
            if _closed(gate):
                return
            continue  # down again mid-way: the rest wait on their tiers meanwhile
        waiting = await repository.waiting_on_tiers(
            runtime.db, E_KINERJA_DOWN, not_due_at=repository.now(), failed_by=None, limit=1
        )
        if not waiting:
            # Nothing waits on a tier yet; other calls may probe. Look again on a change.
            await gate.changed(settings.retry_hold_max_seconds)
            continue
        [(key, seq)] = waiting
        await _forward(runtime, key, seq)


def _closed(gate: Gate) -> bool:
    return gate.state is BreakerState.CLOSED


async def _drain(runtime: BknRuntime, closed_at: datetime) -> None:
    """Attempt now what failed on e-Kinerja before the breaker closed and waits on a tier,
    a batch at a time, while the breaker stays closed."""
    settings = runtime.settings
    gate: Gate = runtime.parts.sender.gate
    while _closed(gate):
        waiting = await repository.waiting_on_tiers(
            runtime.db,
            E_KINERJA_DOWN,
            not_due_at=repository.now(),
            failed_by=closed_at,
            limit=settings.recovery_batch,
        )
        if not waiting:
            return
        failed = await _all(
            (_forward(runtime, key, seq) for key, seq in waiting), "not brought forward"
        )
        if failed == len(waiting):
            return  # e.g. the database is away: the tiers attempt them when due


async def _forward(runtime: BknRuntime, key: str, seq: int) -> None:
    sender = runtime.parts.sender
    try:
        await sender.gate.ready()
    except BreakerOpen:
        return  # down again: it waits on its tier as before
    async with runtime.parts.in_flight:
        d = await pipeline.bring_forward(runtime.db, key, seq)
        if d is None:
            return  # attempted meanwhile (its tier came due, a redrive, a newer version)
        with within(d.current.trace), _tracer.start_as_current_span(f"bkn-sync forward {d.kind}"):
            tracing_attrs.annotate(d.nip, d.period_id, key)
            try:
                result = await sender.deliver(pipeline.request_of(d))
            except BreakerOpen:
                await pipeline.release(runtime.db, d)
                return
            attempted = pipeline.Attempted(d, result, telemetry.current_trace_headers())
    await record(runtime, attempted)
