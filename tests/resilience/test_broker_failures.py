"""Kafka loses a broker, then every broker, while thousands of deliveries are in flight.

On the three-node cluster (replication 3, min.insync.replicas 2, the services' producers
acks=all and idempotent): one node is stopped and started again, then all three. bkn-sync and
predikat run as processes throughout and are never restarted. Judged by the simulator's ledger
(each SKP and predikat accepted exactly once), the delivery rows, predikat's view of each
teacher, the committed offsets against the stored rows, and the health endpoints.
"""

from __future__ import annotations

import random

import pytest
from harness import (
    KafkaCluster,
    OffsetWatch,
    Service,
    System,
    Work,
    all_done,
    answer,
    back_by_themselves,
    in_flight,
    judge,
)

from kinerja_tools.testing import wait_for

pytestmark = pytest.mark.infra

TEACHERS = 1_000  # 2,000 deliveries: an SKP and a predikat each
FAULTS = {
    "seed": 15,
    # With at most MAX_IN_FLIGHT calls open, e-Kinerja's latency keeps the work in flight
    # across both disruptions.
    "latency": {"ms": 100, "jitter_ms": 100},
    "rules": [
        {"fault": "error", "rate": 0.05, "statuses": [500, 502, 503]},
        {"fault": "lost_response", "rate": 0.03, "lost_as": "error", "statuses": [502]},
        {"fault": "reset", "rate": 0.02},
    ],
}


@pytest.mark.timeout(900)
async def test_one_broker_then_all_brokers_restart_mid_flight(
    cluster: KafkaCluster, system: System
) -> None:
    work = Work.of(TEACHERS)
    await system.prepare(BKN_SYNC_MAX_IN_FLIGHT="24")
    await work.seed_predikat(system)
    await system.sim.put_faults(FAULTS)
    await system.start()
    watch = OffsetWatch(cluster, system, work)
    watch.start()
    await work.produce(cluster.bootstrap)

    # One broker away: two replicas remain in sync, so acks=all still succeeds and nothing waits.
    await in_flight(system, work, 0.1)
    node = random.choice([1, 2, 3])
    cluster.stop_node(node)
    before = await work.delivered(system)

    async def moving_on() -> bool:
        return await work.delivered(system) > before

    # Deliveries go on with one broker away.
    await wait_for(moving_on, timeout=120, interval=0.3, what="deliveries with one broker away")
    for service in system.services:
        got = await answer(service, "/healthz/broker")
        assert got is not None
        assert got[:2] == (200, {"status": "ok", "service": got[1]["service"]}), got
    cluster.start_node(node)

    # Every broker away: the API stays ready (the database answers), the broker check says so.
    await in_flight(system, work, 0.5)
    cluster.stop()
    for service in system.services:

        async def unreachable(s: Service = service) -> bool:
            got = await answer(s, "/healthz/broker")
            return got is not None and got[0] == 503 and got[1]["status"] == "unreachable"

        await wait_for(unreachable, timeout=60, interval=0.5, what=f"{service.name} broker 503")
        ready = await answer(service, "/readyz")
        assert ready is not None
        assert ready[0] == 200, ready
    cluster.start()

    await all_done(system, work)
    await wait_for(watch.sampled, timeout=120, interval=0.5, what="a sample of the offsets")
    await watch.stop()

    verdict = await judge(system, work)
    assert verdict["attempts"] > work.deliveries  # the faults really made retries
    assert not watch.violations, (
        f"offsets committed for rows not stored: {sorted(watch.violations, key=str)[:5]}"
    )
    assert watch.checked >= 3
    assert watch.max_committed_records == work.deliveries
    await back_by_themselves(system)
