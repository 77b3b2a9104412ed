"""While the circuit breaker is open, bkn-sync's source consumer commits nothing: the backlog
stays in Kafka, its records neither attempted nor acknowledged, and it is all delivered once
e-Kinerja is back (the offsets then move to the end, which shows the sampling sees a move).

On the shared single broker with topics of the test's own (its volume stays off the registry
topics other sessions read) and the test's own PostgreSQL.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from harness import Service, System, Work, committed

from kinerja_tools.testing import wait_for
from kinerja_tools.testing.scrape import total
from kinerja_tools.testing.stack import Stack

pytestmark = pytest.mark.infra

BACKLOG = 300
OPEN = 2.0  # kinerja_bkn_sync_breaker_state: 0 closed, 1 half-open, 2 open


@contextlib.asynccontextmanager
async def private_topics(bootstrap: str) -> AsyncIterator[tuple[str, str]]:
    tag = secrets.token_hex(4)
    names = (f"kinerja.resilience-{tag}.skp.v1", f"kinerja.resilience-{tag}.predikat.v1")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, 12, 1) for n in names])
        yield names
    finally:
        with contextlib.suppress(Exception):
            await admin.delete_topics(list(names))
        await admin.close()


async def metric(service: Service, name: str) -> float:
    r = await service.get("/metrics")
    assert r is not None
    return total(r.text, name)


async def sum_committed(bootstrap: str, group: str) -> int:
    return sum((await committed(bootstrap, group)).values())


@pytest.mark.timeout(600)
async def test_open_breaker_commits_no_offset(stack: Stack, system_on_stack: System) -> None:
    system = system_on_stack
    async with private_topics(stack.kafka_bootstrap) as (skp, predikat):
        await system.prepare(
            with_predikat=False,
            BKN_SYNC_SKP_TOPIC=skp,
            BKN_SYNC_PREDIKAT_TOPIC=predikat,
            BKN_SYNC_RETRY_HOLD_MAX_SECONDS="2",
            BKN_SYNC_BREAKER_FAILURE_RATIO="0.5",
        )
        await system.start()
        (bkn,) = system.bkn
        group = f"{system.bkn_group}:{skp}"
        # e-Kinerja announces downtime (503 with Retry-After): the breaker opens at once.
        await system.sim.put_faults({"outage_seconds": 600})
        opener = Work.of(1, with_predikat=False, skp_topic=skp)
        await opener.produce(stack.kafka_bootstrap)

        async def is_open() -> bool:
            return await metric(bkn, "kinerja_bkn_sync_breaker_state") == OPEN

        await wait_for(is_open, timeout=120, interval=0.25, what="breaker open")
        backlog = Work.of(BACKLOG, with_predikat=False, skp_topic=skp)
        await backlog.produce(stack.kafka_bootstrap)
        standing = await sum_committed(stack.kafka_bootstrap, group)
        holds = await metric(bkn, "kinerja_bkn_sync_breaker_holds_total")

        # Watched over several holds (each a re-read of the batch) and half-open probes.
        seen: set[int] = set()

        async def held_again() -> bool:
            seen.add(await sum_committed(stack.kafka_bootstrap, group))
            assert await metric(bkn, "kinerja_bkn_sync_breaker_state") != 0, "breaker closed"
            return await metric(bkn, "kinerja_bkn_sync_breaker_holds_total") >= holds + 3

        await wait_for(held_again, timeout=180, interval=0.5, what="three breaker holds")
        assert seen == {standing}, f"offsets moved while the breaker was open: {seen}"
        assert standing <= 1  # at most the opener's record
        attempts = await system.pg.fetch(
            f'SELECT coalesce(sum(attempts), 0) AS n FROM "{system.bkn_schema}".deliveries '
            "WHERE nip = ANY($1::text[])",
            backlog.nips,
        )
        assert attempts[0]["n"] == 0  # waiting under the breaker spends no attempt

        async with httpx.AsyncClient(timeout=10) as client:
            (await client.delete(f"{system.sim.url}/admin/faults")).raise_for_status()

        async def all_committed() -> bool:
            return await sum_committed(stack.kafka_bootstrap, group) == BACKLOG + 1

        await wait_for(all_committed, timeout=240, interval=0.5, what="every offset committed")
        assert await backlog.delivered(system) == BACKLOG
        accepted, _ = await backlog.ledger(system.sim)
        assert set(accepted.values()) == {(1, 1)}
        assert len(accepted) == BACKLOG
