"""Put a roster onto the compacted roster topics with an idempotent producer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaProducer

from ..events.roster import Pegawai, Sekolah
from ..topics import ROSTER_PEGAWAI, ROSTER_SEKOLAH


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
        sent = []
        for s in sekolah:
            env = ROSTER_SEKOLAH.event(s)
            sent.append(
                await producer.send(
                    ROSTER_SEKOLAH.name,
                    env.model_dump_json().encode(),
                    key=env.subject.encode(),
                    headers=wire,
                )
            )
        # Each record's own answer, not only flush(): flush waits for them and raises none, so
        # a refusal (no right to write the topic, a record too large) would read as published.
        await asyncio.gather(*sent)
        schools, sent = len(sent), []
        for p in pegawai:
            person = ROSTER_PEGAWAI.event(p)
            sent.append(
                await producer.send(
                    ROSTER_PEGAWAI.name,
                    person.model_dump_json().encode(),
                    key=person.subject.encode(),
                    headers=wire,
                )
            )
        await asyncio.gather(*sent)
        return schools, len(sent)
    finally:
        await producer.stop()
