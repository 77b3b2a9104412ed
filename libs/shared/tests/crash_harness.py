"""A process the crash tests kill at a failpoint and start again (see test_crash_safety.py).

relay:    publish every unpublished outbox row of ``--schema`` to ``--topic``, exit when none left.
consume:  apply every record of ``--topic`` once through the inbox into ``applied``, exit when
          ``--expect`` distinct events are applied.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg
from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from kinerja_shared import db, inbox
from kinerja_shared.outbox import OutboxRelay
from kinerja_shared.topics import Topic
from kinerja_tools.testing import wait_for


class Probe(BaseModel):
    n: int


def probe_topic(name: str) -> Topic[Probe]:
    return Topic(name, "test.probe", Probe, key="subject", partitions=3)


async def relay(dsn: str, schema: str, bootstrap: str, topic: str) -> None:
    pool = await db.create_pool(dsn, schema)
    broker = KafkaBroker(bootstrap, enable_idempotence=True, acks="all")
    await broker.start()
    relay = OutboxRelay(pool, broker, schema, poll_seconds=0.1)
    task = asyncio.create_task(relay.run())
    await wait_for(
        lambda: pool.fetchval("SELECT count(*) = 0 FROM outbox WHERE published_at IS NULL"),
        timeout=60,
        what="outbox drained",
    )
    relay.stop()
    await task
    await broker.stop()
    await pool.close()


async def consume(
    dsn: str, schema: str, bootstrap: str, topic: str, expect: int, batch: int
) -> None:
    pool = await db.create_pool(dsn, schema)
    broker = KafkaBroker(bootstrap, enable_idempotence=True, acks="all")

    async def apply(conn: asyncpg.Connection, event: object) -> None:
        await conn.execute(
            "INSERT INTO applied (event_id, n) VALUES ($1, $2)",
            event.event_id,  # type: ignore[attr-defined]
            event.payload.n,  # type: ignore[attr-defined]
        )

    async def apply_all(conn: asyncpg.Connection, events: Sequence[Any]) -> None:
        for event in events:
            await apply(conn, event)

    if batch:
        inbox.subscribe_batch(
            broker,
            probe_topic(topic),
            group="crashtest",
            pool=pool,
            effect=apply_all,
            max_records=batch,
        )
    else:
        inbox.subscribe(broker, probe_topic(topic), group="crashtest", pool=pool, effect=apply)
    await broker.start()
    await wait_for(
        lambda: pool.fetchval("SELECT count(DISTINCT event_id) >= $1 FROM applied", expect),
        timeout=60,
        what=f"{expect} events applied",
    )
    await broker.stop()
    await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["relay", "consume"])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--expect", type=int, default=0)
    parser.add_argument("--batch", type=int, default=0, help="batches of at most this many")
    a = parser.parse_args()
    if a.mode == "relay":
        asyncio.run(relay(a.dsn, a.schema, a.bootstrap, a.topic))
    else:
        asyncio.run(consume(a.dsn, a.schema, a.bootstrap, a.topic, a.expect, a.batch))


if __name__ == "__main__":
    main()
