"""Put a roster onto the compacted roster topics with an idempotent producer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaProducer

from ..events.roster import Pegawai, Sekolah
from ..topics import ROSTER_PEGAWAI, ROSTER_SEKOLAH, Topic


async def publish_roster(
    bootstrap: str,
    sekolah: Iterable[Sekolah],
    pegawai: Iterable[Pegawai],
    headers: Mapping[str, str] | None = None,
    client_options: Mapping[str, Any] | None = None,
) -> tuple[int, int]:
    """Schools first, so a service never sees a teacher of a school it does not know. Every
    record carries ``headers`` (the import's ``traceparent`` and ``correlation_id``), so what
    each service does with a roster change is in the trace of the import that caused it."""
    wire = [(name, value.encode()) for name, value in (headers or {}).items()]
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=20,
        client_id="kinerja-roster",
        **(client_options or {}),
    )
    await producer.start()
    try:
        schools = await _send_all(producer, ROSTER_SEKOLAH, sekolah, wire)
        people = await _send_all(producer, ROSTER_PEGAWAI, pegawai, wire)
        return schools, people
    finally:
        await producer.stop()


async def _send_all(
    producer: AIOKafkaProducer,
    topic: Topic[Any],
    facts: Iterable[Any],
    wire: list[tuple[str, bytes]],
) -> int:
    """Every fact onto ``topic``, then each record's own answer: flush() alone waits for them
    but raises nothing, so a refusal (no right to write the topic, a record too large) would
    read as published."""
    sent = []
    for fact in facts:
        env = topic.event(fact)
        sent.append(
            await producer.send(
                topic.name, env.model_dump_json().encode(), key=env.subject.encode(), headers=wire
            )
        )
    await asyncio.gather(*sent)
    return len(sent)
