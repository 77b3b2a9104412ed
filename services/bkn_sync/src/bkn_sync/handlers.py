"""Subscribers: the roster projection, the two delivery sources (the agreed plan = SKP, and the
teacher's predikat), and the retry tiers.

Delivery handlers commit the Kafka offsets only after the outcomes are recorded, so a crash
mid-attempt re-reads the records and resends the same versions under the same keys. The
sources are consumed in batches, many deliveries in flight at once (``batch.py``); the retry
tiers one record at a time per partition, as they mostly wait.
"""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import asyncpg
from faststream import AckPolicy
from faststream.kafka.annotations import KafkaMessage
from pydantic import BaseModel, ValidationError

from kinerja_shared import tracing_attrs
from kinerja_shared.events.bkn_sync import DeliveryState, RecordKind
from kinerja_shared.events.roster import Pegawai
from kinerja_shared.inbox import as_dead_letter, dead_letter_headers
from kinerja_shared.roster.projection import subscribe_roster
from kinerja_shared.topics import BKN_RETRY_TIERS, PLAN_AGREED, PREDIKAT_DITETAPKAN, Topic

from . import batch, metrics, pipeline, repository
from .callcap import SharedCallCap
from .config import Settings
from .domain.classify import ROSTER_FIXABLE
from .domain.deliveries import CLAIMABLE
from .domain.delivery import Delivery
from .parts import BknRuntime, Parts
from .pause import Pause
from .repository import Conn
from .sender import Sender

log = logging.getLogger(__name__)

SOURCES: dict[RecordKind, Topic[Any]] = {
    RecordKind.SKP: PLAN_AGREED,
    RecordKind.PREDIKAT: PREDIKAT_DITETAPKAN,
}


class NotDueYet(Exception):
    """Raised to re-read a retry record later instead of holding the partition for long."""


def routing_of(runtime: BknRuntime) -> pipeline.Routing:
    settings = runtime.settings
    return pipeline.Routing(
        schedule=settings.retry_schedule(),
        dlq=settings.dlq_topic,
        group=settings.consumer_group,
    )


async def attempt(
    runtime: BknRuntime,
    delivery_key: str,
    states: frozenset[DeliveryState],
    seq: int | None = None,
) -> None:
    """One retry-tier (or redriven) delivery, one record at a time."""
    sender = runtime.parts.sender
    # While e-Kinerja is down the delivery stays QUEUED/RETRYING, its attempts untouched.
    await sender.gate.ready()
    async with runtime.parts.in_flight:
        claimed = await pipeline.claim(runtime.db, delivery_key, states, seq)
        if claimed is None:
            return
        tracing_attrs.annotate(claimed.nip, claimed.period_id, delivery_key)
        result = await sender.deliver(pipeline.request_of(claimed))
    await record(runtime, pipeline.Attempted(claimed, result))


async def record(runtime: BknRuntime, attempted: pipeline.Attempted) -> Delivery | None:
    """Record one attempt's outcome now (with any others completing at the same time)."""
    return await runtime.parts.recorder.record(attempted, routing_of(runtime))


def call_cap(pool: asyncpg.Pool, settings: Settings) -> SharedCallCap | None:
    total = settings.ekinerja_max_calls_per_second
    per_instansi = settings.ekinerja_max_calls_per_second_per_instansi
    if not total and not per_instansi:
        return None
    return SharedCallCap(pool, total, per_instansi)


def register(runtime: BknRuntime) -> Parts:
    settings = runtime.settings
    group = settings.consumer_group
    sender = Sender(settings, cap=call_cap(runtime.db, settings))
    # Before any consumer starts: until its first read the pause holds every delivery.
    held = Pause(settings.pause_poll_seconds)
    sender.gate.hold_also(held)
    held.on_change(sender.gate.wake)

    async def roster_changed(conn: Conn, pegawai: Pegawai, _old: asyncpg.Record | None) -> None:
        # A roster fix (Verval PTK, User PMM, unor) is what clears an E01–E06 refusal.
        rows = await repository.find(
            conn,
            nip=pegawai.nip,
            states=[DeliveryState.PARKED],
            reason_codes=sorted(ROSTER_FIXABLE),
            for_update=True,
        )
        redriven = await pipeline.redrive(conn, rows, dry_run=False)
        if redriven:
            log.info("roster change redrives", extra={"nip": pegawai.nip, "n": len(redriven)})

    subscribe_roster(
        runtime.broker, group=group, pool=runtime.db, on_pegawai_changed=roster_changed
    )
    for kind, topic in SOURCES.items():
        _subscribe_source(runtime, kind, topic)
    for tier_topic in BKN_RETRY_TIERS:
        _subscribe_tier(runtime, tier_topic.name)
    return Parts(
        sender=sender,
        recorder=pipeline.Recorder(lambda: runtime.db),
        in_flight=asyncio.Semaphore(settings.max_in_flight),
        pause=held,
    )


def _subscribe_source(runtime: BknRuntime, kind: RecordKind, topic: Topic[Any]) -> None:
    settings = runtime.settings
    group = settings.consumer_group

    async def handle(msg: KafkaMessage) -> None:
        # A batch subscriber: FastStream commits the offsets of every record of the batch when
        # this returns, and rewinds to the batch's first records when it raises.
        sources: list[pipeline.Source] = []
        for raw in msg.raw_message:
            trace = {k: bytes(v).decode(errors="replace") for k, v in raw.headers or ()}
            try:
                envelope = topic.decode(raw.value)
            except ValidationError as exc:
                headers = dead_letter_headers(
                    SimpleNamespace(raw_message=raw), group, "POISON", str(exc)
                )
                value, named = as_dead_letter(raw.value, headers)
                # The dead letter continues the record's own trace, not the batch's.
                with batch.within(trace):
                    await runtime.broker.publish(
                        value, settings.dlq_topic, key=raw.key, headers={**headers, **named}
                    )
                metrics.DLQ.inc()
                continue
            payload: BaseModel = envelope.payload
            body = payload.model_dump(mode="json")
            sources.append(
                pipeline.Source(
                    kind=kind,
                    nip=body["nip"],
                    npsn=body["npsn"],
                    period_id=body["period_id"],
                    version=body["version"],
                    body=body,
                    record=raw.value,
                    topic=raw.topic,
                    partition=raw.partition,
                    offset=raw.offset,
                    trace=trace,
                )
            )
        if sources:
            await batch.deliver(runtime, sources, routing_of(runtime))

    name = settings.skp_topic if kind is RecordKind.SKP else settings.predikat_topic
    _subscribe(runtime, name, handle, batch=True, max_records=settings.batch_max_records)


def _header(msg: KafkaMessage, name: str) -> str | None:
    raw: Any = msg.raw_message
    for key, value in raw.headers or ():
        if key == name:
            return bytes(value).decode(errors="replace")
    return None


def _subscribe_tier(runtime: BknRuntime, topic_name: str) -> None:
    settings = runtime.settings

    async def handle(msg: KafkaMessage) -> None:
        # The header keeps its contract name; its value is the delivery key.
        key = _header(msg, f"{repository.H}delivery-id")
        seq = _header(msg, f"{repository.H}retry-seq")
        if key is None or seq is None or not seq.isdigit():
            log.warning(
                "retry record without delivery headers dropped", extra={"topic": topic_name}
            )
            return
        # Look before waiting: a stale record (newer version, redriven, other environment)
        # must never hold the partition.
        found = await repository.get(runtime.db, key)
        if found is None or not found.waiting_for(CLAIMABLE, int(seq)):
            return
        due = found.next_attempt_at
        wait = (due - repository.now()).total_seconds() if due is not None else 0.0
        if wait > 0:
            await asyncio.sleep(min(wait, settings.retry_hold_max_seconds))
            if wait > settings.retry_hold_max_seconds:
                raise NotDueYet(key)
        await attempt(runtime, key, CLAIMABLE, int(seq))

    workers = settings.delivery_workers
    _subscribe(runtime, topic_name, handle, **({"max_workers": workers} if workers > 1 else {}))


def _subscribe(runtime: BknRuntime, topic_name: str, handle: Any, **options: Any) -> None:
    """Offsets committed after the handler returns; on an exception the records are read again."""
    group = f"{runtime.settings.consumer_group}:{topic_name}"
    # A group per subscription, as the shared inbox does: a member joining one topic's group
    # does not stop the other topics' consumers for a rebalance.
    runtime.broker.subscriber(
        topic_name,
        group_id=group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title=group,
        **options,
    )(handle)
