"""The idempotent consumer (ARCHITECTURE.md "Never lose, never apply twice").

A handler claims the event id in the same transaction as its effect; the Kafka offset is
committed only after that transaction (ack policy NACK_ON_ERROR: commit on success, seek back
on an exception). A redelivered event finds its claim and changes nothing.

Poison records (not an envelope of the topic's payload) and effects that can never succeed
(``PermanentError``) go to the consumer's DLQ with the reason in headers and the partition moves
on; anything else raises, the offset is not committed, and the record is tried again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from . import failpoints, metrics, tracing_attrs
from .db import Conn
from .envelope import Envelope
from .topics import Topic, dlq_name

log = logging.getLogger(__name__)

P = TypeVar("P", bound=BaseModel)
Effect = Callable[[Conn, Envelope[P]], Awaitable[None]]

# Brief database hiccups are absorbed here; a longer outage raises and the record is re-read.
_TRANSIENT = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)


class PermanentError(Exception):
    """The effect can never succeed for this record; it is dead-lettered, not retried."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


async def claim(conn: Conn, consumer: str, event_id: UUID, topic: str) -> bool:
    """True the first time ``consumer`` sees ``event_id``; False on every redelivery."""
    inserted = await conn.fetchval(
        "INSERT INTO inbox (consumer, event_id, topic) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING RETURNING true",
        consumer,
        event_id,
        topic,
    )
    return bool(inserted)


def dead_letter_headers(msg: Any, group: str, code: str, reason: str) -> dict[str, str]:
    now = datetime.now(UTC).isoformat()
    original = {k: v.decode(errors="replace") for k, v in (msg.raw_message.headers or ())}
    return {
        **original,
        "kinerja-dlq-consumer": group,
        "kinerja-original-topic": msg.raw_message.topic,
        "kinerja-original-partition": str(msg.raw_message.partition),
        "kinerja-original-offset": str(msg.raw_message.offset),
        "kinerja-error-code": code,
        "kinerja-error": reason[:1000],
        "kinerja-dead-lettered-at": now,
    }


def subscribe(
    broker: KafkaBroker,
    topic: Topic[P],
    *,
    group: str,
    pool: asyncpg.Pool,
    effect: Effect[P],
    max_workers: int = 1,
) -> None:
    """Register ``effect`` as the idempotent handler of ``topic`` for consumer group ``group``."""
    consumer = f"{group}:{topic.name}"
    # A group may carry a ".suffix" (a test run, a blue/green deployment); the DLQ is the
    # service's own either way.
    dlq = dlq_name(group.split(".", 1)[0])

    async def to_dlq(msg: Any, code: str, reason: str) -> None:
        log.error("dead-lettered", extra={"topic": topic.name, "code": code, "reason": reason})
        await broker.publish(
            msg.body,
            dlq,
            key=msg.raw_message.key,
            headers=dead_letter_headers(msg, group, code, reason),
        )

    async def apply(msg: KafkaMessage) -> str:
        try:
            envelope = topic.decode(msg.body)
        except ValidationError as exc:
            await to_dlq(msg, "POISON", str(exc))
            return metrics.DEAD_LETTERED
        tracing_attrs.annotate_envelope(envelope)
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(_TRANSIENT),
                wait=wait_random_exponential(multiplier=0.1, max=2),
                stop=stop_after_attempt(5),
                reraise=True,
            ):
                with attempt:
                    async with pool.acquire() as conn, conn.transaction():
                        if not await claim(conn, consumer, envelope.event_id, topic.name):
                            return metrics.DUPLICATE
                        await effect(conn, envelope)
        except PermanentError as exc:
            await to_dlq(msg, exc.code, str(exc))
            return metrics.DEAD_LETTERED
        # The effect is committed but the offset not yet: a crash here must change nothing.
        failpoints.hit("inbox.effect_committed_before_ack")
        return metrics.APPLIED

    async def handle(msg: KafkaMessage) -> None:
        await metrics.observe_handler(group, topic.name, apply(msg))

    kwargs: dict[str, Any] = {}
    if max_workers > 1:
        kwargs["max_workers"] = max_workers
    broker.subscriber(
        topic.name,
        # A group per subscription: offsets are independent and a new subscriber does not
        # rebalance the service's other consumers.
        group_id=consumer,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title=f"{group}:{topic.name}",
        **kwargs,
    )(handle)
