"""Topics of a test's own, and what a test published or caused, read straight from them."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

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


@contextlib.asynccontextmanager
async def own_topics(bootstrap: str, names: Sequence[str], partitions: int) -> AsyncIterator[None]:
    """Topics made for the block and deleted after it. A service never makes the topics it
    reads (its broker client does not create them): started on a missing one, it waits for it
    the whole of its broker start timeout, then serves without its consumers."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
        )
        yield
    finally:
        with contextlib.suppress(Exception):
            await admin.delete_topics(list(names))
        await admin.close()
