"""Never lose, never apply twice: processes SIGKILLed at the worst moments, on the real stack.

1. The relay dies after Kafka acknowledged a batch but before the rows were marked published:
   on restart the batch is published again (at least once), nothing is missing.
2. A consumer dies after its effect committed but before the offset commit: on restart the
   record is delivered again and the inbox turns it into a no-op (exactly once in effect).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from crash_harness import Probe, probe_topic
from kafka_support import create_topic, read_all

from kinerja_shared import outbox
from kinerja_tools.testing.stack import Stack

pytestmark = pytest.mark.infra

HARNESS = Path(__file__).parent / "crash_harness.py"
N = 40


def run_harness(stack: Stack, *args: str, failpoint: str | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "KINERJA_FAILPOINT"}
    if failpoint:
        env["KINERJA_FAILPOINT"] = failpoint
    done = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            *args,
            "--dsn",
            stack.pg_admin_dsn,
            "--bootstrap",
            stack.kafka_bootstrap,
        ],
        env=env,
        timeout=120,
        capture_output=True,
        text=True,
    )
    if done.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"harness failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.returncode


async def stage_events(dsn: str, schema: str, topic: str, count: int) -> list[str]:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    ids = []
    try:
        for n in range(count):
            async with conn.transaction():
                env = await outbox.add_event(
                    conn, probe_topic(topic), f"subject-{n % 7}", Probe(n=n)
                )
                ids.append(str(env.event_id))
    finally:
        await conn.close()
    return ids


async def test_relay_killed_after_publish_before_mark_loses_nothing(
    stack: Stack, fresh_schema: str
) -> None:
    topic = await create_topic(stack.kafka_bootstrap)
    staged = await stage_events(stack.pg_admin_dsn, fresh_schema, topic, N)

    killed = run_harness(
        stack,
        "relay",
        "--schema",
        fresh_schema,
        "--topic",
        topic,
        failpoint="outbox.published_before_marked",
    )
    assert killed == -signal.SIGKILL
    conn = await asyncpg.connect(stack.pg_admin_dsn, server_settings={"search_path": fresh_schema})
    try:
        # Kafka has the batch, the database does not know: exactly the dangerous window.
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == N
        assert run_harness(stack, "relay", "--schema", fresh_schema, "--topic", topic) == 0
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    finally:
        await conn.close()

    records = await read_all(stack.kafka_bootstrap, topic, at_least=2 * N)
    event_ids = [str(probe_topic(topic).decode(r.value).event_id) for r in records]
    assert set(event_ids) == set(staged), "every staged event reached Kafka"
    assert len(event_ids) == 2 * N, "the unmarked batch was published again, as designed"


@pytest.mark.parametrize("batch", [0, 4], ids=["one-by-one", "batches-of-4"])
async def test_consumer_killed_after_effect_before_offset_commit_applies_once(
    stack: Stack, fresh_schema: str, batch: int
) -> None:
    topic = await create_topic(stack.kafka_bootstrap)
    conn = await asyncpg.connect(stack.pg_admin_dsn, server_settings={"search_path": fresh_schema})
    try:
        await conn.execute("CREATE TABLE applied (event_id uuid NOT NULL, n int NOT NULL)")
        await stage_events(stack.pg_admin_dsn, fresh_schema, topic, N)
        assert run_harness(stack, "relay", "--schema", fresh_schema, "--topic", topic) == 0

        consume = ["consume", "--schema", fresh_schema, "--topic", topic, "--expect", str(N)]
        consume += ["--batch", str(batch)]
        # Die three times, each right after an effect committed and before its offset did.
        # A batch (of at most 4 here) is one hit: kill sooner so each kill still has work left.
        for nth in (1, 3, 5) if batch else (1, 5, 9):
            failpoint = f"inbox.effect_committed_before_ack@{nth}"
            assert run_harness(stack, *consume, failpoint=failpoint) == -signal.SIGKILL
        assert run_harness(stack, *consume) == 0

        rows = await conn.fetch("SELECT n, count(*) AS times FROM applied GROUP BY n")
        assert sorted(r["n"] for r in rows) == list(range(N)), "nothing lost"
        assert all(r["times"] == 1 for r in rows), "nothing applied twice"
    finally:
        await conn.close()
