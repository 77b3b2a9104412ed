"""Put a roster onto the compacted roster topics with an idempotent producer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aiokafka import AIOKafkaProducer

from ..events.roster import Pegawai, Sekolah
from ..topics import ROSTER_PEGAWAI, ROSTER_SEKOLAH


async def publish_roster(
    bootstrap: str,
    sekolah: Iterable[Sekolah],
    pegawai: Iterable[Pegawai],
    headers: Mapping[str, str] | None = None,
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
    )
    await producer.start()
    try:
        schools = 0
        for s in sekolah:
            env = ROSTER_SEKOLAH.event(s)
            await producer.send(
                ROSTER_SEKOLAH.name,
                env.model_dump_json().encode(),
                key=env.subject.encode(),
                headers=wire,
            )
            schools += 1
        await producer.flush()
        people = 0
        for p in pegawai:
            person = ROSTER_PEGAWAI.event(p)
            await producer.send(
                ROSTER_PEGAWAI.name,
                person.model_dump_json().encode(),
                key=person.subject.encode(),
                headers=wire,
            )
            people += 1
        await producer.flush()
        return schools, people
    finally:
        await producer.stop()
