"""Every failure has an end: outbox rows Kafka refuses for good are set aside, on the real stack.

The relay runs as in a service (its own producer, the topic catalog); the broker is the test
stack's, whose default ``message.max.bytes`` is about 1 MB. The operator command is the installed
``kinerja-outbox``, run as a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from crash_harness import probe_topic
from faststream.kafka import KafkaBroker
from kafka_support import create_topic, read_all
from prometheus_client import REGISTRY

from kinerja_shared import db, outbox
from kinerja_shared.outbox import KafkaTopicCatalog, OutboxRelay, Staged
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.cli import Ran, run_script
from kinerja_tools.testing.stack import Stack

pytestmark = pytest.mark.infra

ONE_MB = 1 << 20


@dataclass
class Relayed:
    """A relay running on ``schema`` the way a service runs it, and a pool to look with."""

    pool: asyncpg.Pool
    relay: OutboxRelay
    service: str
    schema: str
    stack: Stack

    async def stage(self, *records: Staged) -> list[int]:
        """Stage ``records`` in one transaction; their outbox ids, in order."""
        async with self.pool.acquire() as conn, conn.transaction():
            await outbox.add_many(conn, records)
            rows = await conn.fetch(
                "SELECT id FROM outbox WHERE event_id = ANY($1::uuid[]) ORDER BY id",
                [r.event_id for r in records],
            )
        return [r["id"] for r in rows]

    async def row(self, outbox_id: int) -> asyncpg.Record:
        found = await self.pool.fetchrow("SELECT * FROM outbox WHERE id = $1", outbox_id)
        assert found is not None, outbox_id
        return found

    async def published(self, *ids: int) -> bool:
        return bool(
            await self.pool.fetchval(
                "SELECT count(*) = $2 FROM outbox WHERE id = ANY($1::bigint[])"
                " AND published_at IS NOT NULL",
                list(ids),
                len(ids),
            )
        )

    async def set_aside(self, outbox_id: int) -> bool:
        return bool(
            await self.pool.fetchval(
                "SELECT set_aside_at IS NOT NULL FROM outbox WHERE id = $1", outbox_id
            )
        )

    async def cli(self, *args: str) -> Ran:
        """``kinerja-outbox COMMAND SERVICE ARGS`` on this schema; in a thread, so that the
        relay (on this event loop) goes on while the command waits for it."""
        return await asyncio.to_thread(
            run_script,
            "kinerja-outbox",
            *args[:1],
            self.service,
            *args[1:],
            "--database-url",
            self.stack.pg_admin_dsn,
            "--schema",
            self.schema,
        )


@contextlib.asynccontextmanager
async def relaying(
    stack: Stack, schema: str, *, catalog: bool = True, start: bool = True
) -> AsyncIterator[Relayed]:
    pool = await db.create_pool(stack.pg_admin_dsn, schema)
    broker = KafkaBroker(stack.kafka_bootstrap, enable_idempotence=True, acks="all")
    service = f"setaside-{secrets.token_hex(3)}"
    relay = OutboxRelay(
        pool,
        broker,
        schema,
        poll_seconds=0.1,
        service=service,
        owns_publisher=True,
        topics=KafkaTopicCatalog(stack.kafka_bootstrap) if catalog else None,
    )
    task = asyncio.create_task(relay.run()) if start else None
    try:
        yield Relayed(pool, relay, service, schema, stack)
    finally:
        relay.stop()
        if task is not None:
            await asyncio.wait_for(task, 30)
        await pool.close()


def key_of(records: list[Any], key: str) -> list[bytes]:
    return [r.value for r in records if r.key == key.encode()]


def set_aside_total(service: str, code: str) -> float:
    value = REGISTRY.get_sample_value(
        "kinerja_outbox_set_aside_total", {"service": service, "code": code}
    )
    return value or 0.0


async def test_a_record_too_large_is_set_aside_its_key_waits_and_the_rest_is_published(
    stack: Stack, fresh_schema: str
) -> None:
    topic = probe_topic(await create_topic(stack.kafka_bootstrap))
    name = topic.name
    big = b"x" * (ONE_MB + ONE_MB // 5)  # a 1.2 MB reflection in a plan

    async with relaying(stack, fresh_schema) as r:
        first, too_big, after_a, other, later_a = await r.stage(
            Staged(name, "a", b"a1"),
            Staged(name, "a", big),
            Staged(name, "a", b"a2"),
            Staged(name, "b", b"b1"),
            Staged(name, "a", b"a3"),
        )
        await wait_for(lambda: r.published(first, other), what="the rows not behind it published")
        # A later row of another key is not held either.
        (b_after,) = await r.stage(Staged(name, "b", b"b2"))
        await wait_for(lambda: r.published(b_after), what="a later row of another key published")

        refused = await r.row(too_big)
        assert refused["set_aside_code"] == outbox.MESSAGE_TOO_LARGE
        assert refused["set_aside_at"] is not None
        assert "max.message.bytes" in refused["set_aside_error"]
        assert refused["set_aside_count"] == 1
        assert refused["published_at"] is None
        for held in (after_a, later_a):
            row = await r.row(held)
            assert row["published_at"] is None, "held behind the set-aside row of its key"
            assert row["set_aside_at"] is None, "held, not set aside itself"
        counts = await outbox.counts(r.pool)
        assert (counts.pending, counts.set_aside, counts.held) == (0, 1, 2)
        assert set_aside_total(r.service, outbox.MESSAGE_TOO_LARGE) == 1

        # The operator's list shows it, its reason and the two rows waiting behind it.
        listed = await r.cli("list")
        assert listed.code == 0, listed.stderr
        assert f"{too_big}" in listed.stdout
        assert "MESSAGE_TOO_LARGE" in listed.stdout
        assert "1 set aside; 2 rows held behind them" in listed.stdout
        as_json = [json.loads(line) for line in (await r.cli("list", "--json")).stdout.splitlines()]
        assert [(j["id"], j["code"], j["held"], j["key"]) for j in as_json] == [
            (too_big, "MESSAGE_TOO_LARGE", 2, "a")
        ]
        assert as_json[0]["size"] == len(big)

        # Retried, Kafka still refuses it: set aside again, its key still waits.
        retried = await r.cli("retry", str(too_big), "--actor", "rina", "--reason", "try once more")
        assert retried.code == 1, retried.stdout + retried.stderr
        assert f"{too_big}: set aside again: MESSAGE_TOO_LARGE" in retried.stdout
        again = await r.row(too_big)
        assert again["set_aside_count"] == 2
        assert again["set_aside_at"] > refused["set_aside_at"]
        assert not await r.published(after_a)
        assert not await r.published(later_a)
        assert set_aside_total(r.service, outbox.MESSAGE_TOO_LARGE) == 2

        # A row that is not set aside is refused, and nothing changes.
        wrong = await r.cli("discard", str(first), "--actor", "rina", "--reason", "oops")
        wrong.assert_one_line_error(2, "not set aside", str(first), "nothing changed")
        assert await r.published(first)

        # Discarded: the rows held behind it follow, in their order.
        discarded = await r.cli(
            "discard", str(too_big), "--actor", "Rina (SRE)", "--reason", "the guru re-entered it"
        )
        assert discarded.code == 0, discarded.stderr
        assert f"{too_big}: discarded (MESSAGE_TOO_LARGE" in discarded.stdout
        await wait_for(lambda: r.published(after_a, later_a), what="the held rows published")
        assert not await r.pool.fetchval("SELECT count(*) FROM outbox WHERE id = $1", too_big)
        assert (await r.cli("list")).stdout.startswith(f"{r.service}: no set-aside outbox rows")

        log = await r.pool.fetch(
            "SELECT action, actor, db_user, reason, code, octet_length(value) AS size"
            " FROM outbox_set_aside_log WHERE outbox_id = $1 ORDER BY id",
            too_big,
        )
        assert [(e["action"], e["actor"]) for e in log] == [
            ("set_aside", outbox.RELAY_ACTOR),
            ("retry", "rina"),
            ("set_aside", outbox.RELAY_ACTOR),
            ("discard", "Rina (SRE)"),
        ]
        assert log[1]["reason"] == "try once more"
        assert log[3]["reason"] == "the guru re-entered it"
        assert log[3]["db_user"] == "postgres"
        assert log[3]["size"] == len(big), "the discarded record is kept"
        assert all(e["code"] == outbox.MESSAGE_TOO_LARGE for e in log)
        history = await r.cli("history", str(too_big))
        assert history.code == 0
        assert [line.split()[4] for line in history.stdout.splitlines()[::2]] == [
            "set_aside",
            "retry",
            "set_aside",
            "discard",
        ]

    records = await read_all(stack.kafka_bootstrap, name, at_least=5)
    assert key_of(records, "a") == [b"a1", b"a2", b"a3"], "in order, the refused one never"
    assert key_of(records, "b") == [b"b1", b"b2"]


async def test_a_record_the_broker_refuses_is_set_aside_and_the_partition_keeps_flowing(
    stack: Stack, fresh_schema: str
) -> None:
    """Without the topic's limit known beforehand, the broker refuses the record: the relay
    sends it again on its own, sets it aside, and replaces its producer, whose sequence for the
    partition the refused batch used up (a later record there would be out of order forever)."""
    name = await create_topic(
        stack.kafka_bootstrap, partitions=1, configs={"max.message.bytes": "20000"}
    )
    async with relaying(stack, fresh_schema, catalog=False) as r:
        first, refused, held, other = await r.stage(
            Staged(name, "a", b"a1"),
            Staged(name, "a", b"y" * 50_000),
            Staged(name, "a", b"a2"),
            Staged(name, "b", b"b1"),
        )
        await wait_for(lambda: r.published(first, other), what="the partition flowing")
        row = await r.row(refused)
        assert row["set_aside_code"] == outbox.MESSAGE_TOO_LARGE
        assert "the broker refused it" in row["set_aside_error"]
        assert not await r.published(held)
        (later,) = await r.stage(Staged(name, "b", b"b2"))
        await wait_for(lambda: r.published(later), what="a later record of the partition")
    records = await read_all(stack.kafka_bootstrap, name, at_least=3)
    assert [rec.value for rec in records] == [b"a1", b"b1", b"b2"]


async def test_each_refusal_for_good_has_its_code_and_a_missing_topic_is_waited_for_a_while(
    stack: Stack, fresh_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rounds of three rows: the late topic's rows fill a whole round, and must not keep the
    # rows after them from being read.
    monkeypatch.setattr(outbox, "BATCH", 3)
    name = probe_topic(await create_topic(stack.kafka_bootstrap)).name
    missing = f"kinerja.test-{secrets.token_hex(4)}.missing.v1"
    late = f"kinerja.test-{secrets.token_hex(4)}.created-late.v1"
    async with relaying(stack, fresh_schema, start=False) as r:
        bad_name, bad_headers, gone, *not_yet, fine = await r.stage(
            Staged("kinerja test!", "k", b"1"),
            Staged(name, "h", b"2"),
            Staged(missing, "m", b"3"),
            *(Staged(late, "l", f"late {n}".encode()) for n in range(4)),
            Staged(name, "k", b"5"),
        )
        # Headers only another writer could have stored: a number is not a Kafka header value.
        await r.pool.execute(
            """UPDATE outbox SET headers = '{"kinerja-attempts": 2}' WHERE id = $1""", bad_headers
        )
        # Written 11 minutes ago, its topic still unknown; the other one just now.
        await r.pool.execute(
            "UPDATE outbox SET created_at = now() - interval '11 minutes' WHERE id = $1", gone
        )
        task = asyncio.create_task(r.relay.run())
        try:
            await wait_for(lambda: r.published(fine), what="the good row published")
            codes = dict(
                await r.pool.fetch(
                    "SELECT id, set_aside_code FROM outbox WHERE set_aside_at IS NOT NULL"
                )
            )
            assert codes == {
                bad_name: outbox.INVALID_TOPIC,
                bad_headers: outbox.SERIALISATION,
                gone: outbox.UNKNOWN_TOPIC,
            }
            assert "is int, not text" in (await r.row(bad_headers))["set_aside_error"]
            for waiting in not_yet:
                still = await r.row(waiting)
                assert still["set_aside_at"] is None
                assert still["published_at"] is None

            # Its topic created within the grace period: published without anyone's help.
            await create_topic(stack.kafka_bootstrap, name=late)
            await wait_for(lambda: r.published(*not_yet), timeout=60, what="the late topic's rows")
        finally:
            r.relay.stop()
            await asyncio.wait_for(task, 30)
    records = await read_all(stack.kafka_bootstrap, late, at_least=4)
    assert [rec.value for rec in records] == [f"late {n}".encode() for n in range(4)]


async def test_a_row_retried_once_its_cause_is_fixed_is_published_before_the_rows_it_held(
    stack: Stack, fresh_schema: str
) -> None:
    name = await create_topic(stack.kafka_bootstrap, configs={"max.message.bytes": "20000"})
    async with relaying(stack, fresh_schema) as r:
        first, large, held = await r.stage(
            Staged(name, "a", b"a1"), Staged(name, "a", b"z" * 50_000), Staged(name, "a", b"a2")
        )
        await wait_for(lambda: r.published(first), what="the row before it published")
        await wait_for(lambda: r.set_aside(large), what="the large row set aside")
        assert (
            "accepts at most 20000 (max.message.bytes)" in (await r.row(large))["set_aside_error"]
        )

        # The operator raises the topic's limit (the relay knew the old one), then retries.
        admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
        await admin.start()
        try:
            await admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name, {"max.message.bytes": "100000"})]
            )
        finally:
            await admin.close()
        retried = await r.cli("retry", str(large), "--actor", "rina", "--reason", "limit raised")
        assert retried.code == 0, retried.stdout + retried.stderr
        assert f"{large}: published" in retried.stdout
        await wait_for(lambda: r.published(held), what="the held row published after it")

    records = await read_all(stack.kafka_bootstrap, name, at_least=3)
    assert [len(rec.value) for rec in records] == [2, 50_000, 2], "in the order they were written"
