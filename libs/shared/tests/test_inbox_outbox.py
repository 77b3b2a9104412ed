"""The outbox and the idempotent consumer on the real broker and database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest
from crash_harness import Probe, probe_topic
from faststream.kafka import KafkaBroker
from kafka_support import create_topic, read_all

from kinerja_shared import db, inbox, outbox
from kinerja_shared.outbox import OutboxRelay
from kinerja_shared.topics import dlq_name
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.stack import Stack

pytestmark = pytest.mark.infra


async def test_rolled_back_change_publishes_nothing_and_committed_one_publishes(
    stack: Stack, fresh_schema: str
) -> None:
    topic = probe_topic(await create_topic(stack.kafka_bootstrap))
    pool = await db.create_pool(stack.pg_admin_dsn, fresh_schema)
    broker = KafkaBroker(stack.kafka_bootstrap, enable_idempotence=True, acks="all")
    await broker.start()
    try:

        async def failing_change() -> None:
            async with pool.acquire() as conn, conn.transaction():
                await outbox.add_event(conn, topic, "a", Probe(n=1))
                raise RuntimeError("the state change failed")

        with pytest.raises(RuntimeError):
            await failing_change()
        async with pool.acquire() as conn, conn.transaction():
            kept = await outbox.add_event(conn, topic, "a", Probe(n=2))
        assert await OutboxRelay(pool, broker, fresh_schema).publish_batch() == 1
        records = await read_all(stack.kafka_bootstrap, topic.name, at_least=1)
        assert [topic.decode(r.value).event_id for r in records] == [kept.event_id]
        assert records[0].key == b"a"
    finally:
        await broker.stop()
        await pool.close()


async def test_redelivered_event_is_applied_once_and_poison_goes_to_the_dlq(
    stack: Stack, fresh_schema: str
) -> None:
    topic = probe_topic(await create_topic(stack.kafka_bootstrap))
    pool = await db.create_pool(stack.pg_admin_dsn, fresh_schema)
    await pool.execute("CREATE TABLE applied (event_id uuid, n int)")
    group = f"g{fresh_schema}"
    await create_topic(stack.kafka_bootstrap, name=dlq_name(group))
    broker = KafkaBroker(stack.kafka_bootstrap, enable_idempotence=True, acks="all")

    async def apply(conn: asyncpg.Connection, event: object) -> None:
        await conn.execute("INSERT INTO applied VALUES ($1, $2)", event.event_id, event.payload.n)  # type: ignore[attr-defined]

    inbox.subscribe(broker, topic, group=group, pool=pool, effect=apply)
    await broker.start()
    try:
        env = topic.envelope("x", Probe(n=7))
        raw = env.model_dump_json().encode()
        await broker.publish(raw, topic.name, key=b"x")
        await broker.publish(b"{not an envelope", topic.name, key=b"x")
        await broker.publish(raw, topic.name, key=b"x")  # the same event id again
        after = topic.envelope("x", Probe(n=8))
        await broker.publish(after.model_dump_json().encode(), topic.name, key=b"x")

        await wait_for(
            lambda: pool.fetchval("SELECT count(*) = 1 FROM applied WHERE n = 8"),
            what="the record after the poison applied",
        )
        rows = await pool.fetch("SELECT n FROM applied ORDER BY n")
        assert [r["n"] for r in rows] == [7, 8]
        dead = await read_all(stack.kafka_bootstrap, dlq_name(group), at_least=1)
        headers = {k: v.decode() for k, v in dead[-1].headers}
        assert dead[-1].value == b"{not an envelope"
        assert headers["kinerja-error-code"] == "POISON"
        assert headers["kinerja-original-topic"] == topic.name
        assert headers["kinerja-original-offset"].isdigit()
    finally:
        await broker.stop()
        await pool.close()


async def test_a_batch_subscriber_applies_each_event_once_in_order_and_dead_letters_poison(
    stack: Stack, fresh_schema: str
) -> None:
    topic = probe_topic(await create_topic(stack.kafka_bootstrap, partitions=1))
    pool = await db.create_pool(stack.pg_admin_dsn, fresh_schema)
    await pool.execute("CREATE TABLE applied (call int, event_id uuid, n int)")
    group = f"g{fresh_schema}"
    await create_topic(stack.kafka_bootstrap, name=dlq_name(group))
    broker = KafkaBroker(stack.kafka_bootstrap, enable_idempotence=True, acks="all")
    calls = 0

    async def apply_all(conn: asyncpg.Connection, events: Sequence[Any]) -> None:
        nonlocal calls
        calls += 1
        await conn.executemany(
            "INSERT INTO applied VALUES ($1, $2, $3)",
            [(calls, e.event_id, e.payload.n) for e in events],
        )

    inbox.subscribe_batch(broker, topic, group=group, pool=pool, effect=apply_all, max_records=5)
    # Everything is on the topic before the subscriber starts, so batches are full ones.
    await broker.connect()
    envs = [topic.envelope("x", Probe(n=n)) for n in range(12)]
    raws = [e.model_dump_json().encode() for e in envs]
    for raw in [raws[0], raws[1], raws[1], *raws[2:5], b"{not an envelope", *raws[5:], raws[0]]:
        await broker.publish(raw, topic.name, key=b"x")
    await broker.start()
    try:
        await wait_for(
            lambda: pool.fetchval("SELECT count(*) = 12 FROM applied"), what="every event applied"
        )
        # A copy published next to its original and one published much later change nothing.
        dead = await read_all(stack.kafka_bootstrap, dlq_name(group), at_least=1)
        rows = await pool.fetch("SELECT call, n FROM applied ORDER BY call, n")
        assert [r["n"] for r in rows] == list(range(12)), "once each, in the topic's order"
        assert max(r["call"] for r in rows) < 12, "many events per effect call"
        assert dead[-1].value == b"{not an envelope"
        headers = {k: v.decode() for k, v in dead[-1].headers}
        assert headers["kinerja-error-code"] == "POISON"
        assert headers["kinerja-original-topic"] == topic.name
    finally:
        await broker.stop()
        await pool.close()


async def test_many_records_staged_at_once_publish_in_order_with_their_own_headers(
    stack: Stack, fresh_schema: str
) -> None:
    topic = probe_topic(await create_topic(stack.kafka_bootstrap, partitions=1))
    pool = await db.create_pool(stack.pg_admin_dsn, fresh_schema)
    broker = KafkaBroker(stack.kafka_bootstrap, enable_idempotence=True, acks="all")
    await broker.start()
    try:
        envelopes = [topic.envelope(f"s{n % 3}", Probe(n=n)) for n in range(7)]
        staged = [
            outbox.Staged.of(topic, e, {"traceparent": f"00-{n:032x}-{n + 1:016x}-01"})
            for n, e in enumerate(envelopes)
        ]
        raw = outbox.Staged(topic.name, "s9", b"not an envelope", {"kinerja-attempts": "2"})
        async with pool.acquire() as conn, conn.transaction():
            await outbox.add_many(conn, [*staged, raw])
            await outbox.add_many(conn, [])  # nothing to stage is no statement, no error

        assert await OutboxRelay(pool, broker, fresh_schema).publish_batch() == 8
        records = await read_all(stack.kafka_bootstrap, topic.name, at_least=8)
        assert [r.value for r in records[:7]] == [s.value for s in staged]
        assert [r.key for r in records] == [f"s{n % 3}".encode() for n in range(7)] + [b"s9"]
        assert [dict(r.headers)["traceparent"] for r in records[:7]] == [
            f"00-{n:032x}-{n + 1:016x}-01".encode() for n in range(7)
        ]
        assert records[7].value == b"not an envelope"
        assert dict(records[7].headers)["kinerja-attempts"] == b"2"
    finally:
        await broker.stop()
        await pool.close()
