"""Small real-broker helpers for the shared library's tests."""

from __future__ import annotations

import secrets
import time

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


async def create_topic(
    bootstrap: str,
    prefix: str = "probe",
    partitions: int = 3,
    name: str | None = None,
    configs: dict[str, str] | None = None,
) -> str:
    name = name or f"kinerja.test-{secrets.token_hex(4)}.{prefix}.v1"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs or {})])
    finally:
        await admin.close()
    return name


async def read_all(bootstrap: str, topic: str, *, at_least: int, timeout: float = 30) -> list:
    """Every record of ``topic`` from the start, once at least ``at_least`` have arrived."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < at_least:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(records)} of {at_least} records on {topic}")
            batch = await consumer.getmany(timeout_ms=500)
            for recs in batch.values():
                records.extend(recs)
        # Drain what else is there right now, so duplicates are counted too.
        end = await consumer.end_offsets(list(consumer.assignment()))
        for tp, last in end.items():
            while await consumer.position(tp) < last:
                for recs in (await consumer.getmany(tp, timeout_ms=500)).values():
                    records.extend(recs)
    finally:
        await consumer.stop()
    return records
