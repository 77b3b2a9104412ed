"""The transactional outbox (docs/architecture.md "Never lose, never apply twice").

``add`` writes an event in the caller's transaction, together with the trace context of the
request that caused it. ``OutboxRelay`` publishes unpublished rows in id order with the broker's
idempotent producer and marks them published only after Kafka acknowledged them: a crash in
between publishes those rows again (consumers deduplicate on event id), it never drops one.
One relay per schema holds an advisory lock, so replicas never reorder one teacher's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
from pydantic import BaseModel

from . import failpoints, telemetry
from .db import Conn
from .envelope import Envelope, new_event_id
from .topics import REGISTRY, Topic

log = logging.getLogger(__name__)

BATCH = 500


class Publisher(Protocol):
    async def publish(
        self,
        message: Any,
        topic: str = "",
        *,
        key: Any = None,
        headers: dict[str, str] | None = None,
        no_confirm: bool = False,
    ) -> Any: ...


_CHANNEL_PREFIX = "outbox_"


def _channel(schema: str) -> str:
    return f"{_CHANNEL_PREFIX}{schema}"


@dataclass(frozen=True)
class Staged:
    """One record to stage: an envelope of ours (``Staged.of``) or bytes as they are (e.g. a
    copy of a consumed record for a retry topic), with the headers to publish it with."""

    topic: str
    key: str
    value: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    event_id: uuid.UUID = field(default_factory=new_event_id)

    @classmethod
    def of(
        cls,
        topic: Topic[Any],
        envelope: Envelope[Any],
        headers: Mapping[str, str] | None = None,
        key: str | None = None,
    ) -> Staged:
        return cls(
            topic.name,
            key or envelope.subject,
            envelope.model_dump_json().encode(),
            headers or {},
            envelope.event_id,
        )


async def add(
    conn: Conn,
    topic: Topic[Any],
    envelope: Envelope[Any],
    *,
    key: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Stage ``envelope`` for ``topic``; it is published only if the transaction commits."""
    stored_headers = {**telemetry.current_trace_headers(), **(headers or {})}
    await add_many(conn, [Staged.of(topic, envelope, stored_headers, key)])


async def add_many(conn: Conn, records: Sequence[Staged]) -> None:
    """Stage records in one statement, published in the order given and only if the
    transaction commits. Each keeps its own headers: a batch's records come from many traces."""
    if not records:
        return
    # One round trip: the rows and the wake-up of the relay. NOTIFY is delivered on commit only
    # (and once per transaction for the same channel), so the relay wakes exactly when there
    # is work. Headers go in as text so this works on any connection, with or without a JSON
    # codec; WITH ORDINALITY keeps the ids (the publishing order) in the order given.
    await conn.execute(
        "WITH staged AS ("
        " INSERT INTO outbox (event_id, topic, key, value, headers)"
        " SELECT e, t, k, v, h::jsonb"
        " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::text[])"
        " WITH ORDINALITY AS x(e, t, k, v, h, n) ORDER BY n RETURNING 1)"
        f" SELECT pg_notify('{_CHANNEL_PREFIX}' || current_schema(), '')"
        " WHERE EXISTS (SELECT 1 FROM staged)",
        [r.event_id for r in records],
        [r.topic for r in records],
        [r.key for r in records],
        [r.value for r in records],
        [json.dumps(dict(r.headers)) for r in records],
    )


async def add_event(
    conn: Conn, topic: Topic[Any], subject: str, payload: BaseModel
) -> Envelope[Any]:
    envelope = topic.envelope(subject, payload)
    await add(conn, topic, envelope)
    return envelope


@functools.cache
def topics_carrying(payload: type[BaseModel]) -> tuple[Topic[Any], ...]:
    """Every registered topic whose records carry ``payload``, in registry order."""
    found = tuple(t for t in REGISTRY if t.payload is payload)
    if not found:
        raise LookupError(f"no topic in the registry carries {payload.__name__}")
    return found


def _key_values(topic: Topic[Any], payload: BaseModel) -> list[str]:
    return [str(getattr(payload, field)) for field in topic.key.split(":")]


async def add_events(conn: Conn, events: Iterable[BaseModel]) -> None:
    """Stage domain events, in the order given, on every topic that carries each one's payload
    type (``PredikatDitetapkan`` goes to the history and to the compacted current-state topic),
    in the caller's transaction.

    The record key follows the topic's declared key (``nip``, ``npsn``, ``nip:period_id``) and
    the envelope's subject is its first part, whom the event is about: no caller picks either,
    so a topic's key can never differ between two places that publish to it.
    """
    headers = telemetry.current_trace_headers()
    staged = []
    for event in events:
        for topic in topics_carrying(type(event)):
            values = _key_values(topic, event)
            envelope = topic.envelope(values[0], event)
            staged.append(Staged.of(topic, envelope, headers, ":".join(values)))
    await add_many(conn, staged)


class OutboxRelay:
    def __init__(
        self, pool: asyncpg.Pool, publisher: Publisher, schema: str, poll_seconds: float = 1.0
    ) -> None:
        self._pool = pool
        self._publisher = publisher
        self._schema = schema
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._stopping = False

    async def run(self) -> None:
        """Publish until ``stop``; only the holder of the schema's relay lock publishes."""
        async with self._pool.acquire() as lock_conn:
            while not self._stopping:
                got = await lock_conn.fetchval(
                    "SELECT pg_try_advisory_lock(hashtext($1))", f"relay:{self._schema}"
                )
                if got:
                    break
                await self._sleep()
            if self._stopping:
                return
            await lock_conn.add_listener(_channel(self._schema), self._on_notify)
            try:
                while not self._stopping:
                    try:
                        published = await self.publish_batch()
                    except Exception:
                        log.exception("outbox relay failed; retrying")
                        published = 0
                    if published < BATCH:
                        await self._sleep()
            finally:
                await lock_conn.remove_listener(_channel(self._schema), self._on_notify)
                await lock_conn.execute(
                    "SELECT pg_advisory_unlock(hashtext($1))", f"relay:{self._schema}"
                )

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _sleep(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._poll)
        self._wake.clear()

    async def publish_batch(self) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, topic, key, value, headers::text AS headers FROM outbox "
                "WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                BATCH,
            )
            if not rows:
                return 0
            confirmations = []
            for row in rows:
                headers: dict[str, str] = json.loads(row["headers"])
                token = telemetry.attach_headers(headers)
                try:
                    confirmations.append(
                        await self._publisher.publish(
                            bytes(row["value"]),
                            row["topic"],
                            key=row["key"].encode(),
                            headers=headers,
                            no_confirm=True,
                        )
                    )
                finally:
                    telemetry.detach(token)
            await asyncio.gather(*confirmations)
            failpoints.hit("outbox.published_before_marked")
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [r["id"] for r in rows],
            )
        return len(rows)


async def purge_published(conn: Conn, older_than_seconds: int = 86400) -> int:
    """Published rows are only an audit trail; keep a day of them."""
    result: str = await conn.execute(
        "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)",
        older_than_seconds,
    )
    return int(result.split()[-1])
