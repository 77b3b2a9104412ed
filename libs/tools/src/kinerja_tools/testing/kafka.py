"""Read what a test published or caused, straight from the real topics."""

from __future__ import annotations

import time
from typing import Any

from aiokafka import AIOKafkaConsumer

from kinerja_shared.envelope import Envelope
from kinerja_shared.topics import Topic


async def events_for(
    bootstrap: str, topic: Topic[Any], key: str, *, at_least: int = 1, timeout: float = 30
) -> list[Envelope[Any]]:
    """The envelopes on ``topic`` with ``key``, from the start, once ``at_least`` are there."""
    consumer = AIOKafkaConsumer(
        topic.name,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[Envelope[Any]] = []
    try:
        deadline = time.monotonic() + timeout
        while len(found) < at_least:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(found)} of {at_least} events for {key} on {topic.name}")
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found.extend(topic.decode(r.value) for r in records if r.key == key.encode())
    finally:
        await consumer.stop()
    return found
