"""One instance of a generic Kinerja consumer, for the horizontal-scale test.

It is what every service is made of, minus the domain: ``inbox.subscribe`` on ``--input``
(consumer group ``--group``), an effect that records the event in ``applied`` *and* stages one
output event in the outbox in the same transaction, and the outbox relay publishing to
``--output`` (one relay per schema holds the advisory lock). It runs until SIGTERM/SIGINT; the
test starts several with the same group and schema and SIGKILLs one mid-stream.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal

import asyncpg
from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from kinerja_shared import db, inbox, outbox
from kinerja_shared.envelope import Envelope
from kinerja_shared.outbox import OutboxRelay
from kinerja_shared.topics import Topic


class Work(BaseModel):
    n: int


def work_topic(name: str) -> Topic[Work]:
    return Topic(name, "scale.work", Work, key="subject")


async def run(a: argparse.Namespace) -> None:
    pool = await db.create_pool(a.dsn, a.schema, min_size=2, max_size=6)
    broker = KafkaBroker(a.bootstrap, client_id=a.name, enable_idempotence=True, acks="all")
    source, sink = work_topic(a.input), work_topic(a.output)
    pid = os.getpid()

    async def apply(conn: asyncpg.Connection, event: Envelope[Work]) -> None:
        out = await outbox.add_event(conn, sink, event.subject, Work(n=event.payload.n))
        await conn.execute(
            "INSERT INTO applied (event_id, n, out_event_id, worker, pid) "
            "VALUES ($1, $2, $3, $4, $5)",
            event.event_id,
            event.payload.n,
            out.event_id,
            a.name,
            pid,
        )

    inbox.subscribe(broker, source, group=a.group, pool=pool, effect=apply)
    await broker.start()
    relay = OutboxRelay(pool, broker, a.schema, poll_seconds=0.2)
    relay_task = asyncio.create_task(relay.run())

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()

    await broker.stop()
    relay.stop()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.wait_for(relay_task, 10)
    await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True, help="Kafka client id, to tell members apart")
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
