"""SIGKILL at moments the test chooses, while deliveries are in flight: two bkn-sync replicas
(one of them the outbox relay's leader), predikat, and newer SKP versions arriving while older
ones may wait in a retry tier, e-Kinerja failing one call in five.

Each killed process is started again (a platform would); the others are never restarted.
Judged by the ledger (every slot holds its newest version, each version accepted once, no
older version sent after a newer one was held), the delivery rows, predikat's view and the
committed offsets against the stored rows.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from harness import (
    KafkaCluster,
    OffsetWatch,
    Service,
    System,
    Work,
    all_done,
    answers_ok,
    in_flight,
    judge,
)

from kinerja_tools.testing import wait_for

pytestmark = pytest.mark.infra

TEACHERS = 1_000
FAULTS = {
    "seed": 17,
    "latency": {"ms": 100, "jitter_ms": 100},
    "rules": [
        {"fault": "error", "rate": 0.1, "statuses": [500, 502, 503]},
        {"fault": "reset", "rate": 0.04},
        {"fault": "lost_response", "rate": 0.04, "lost_as": "error", "statuses": [502]},
        {"fault": "timeout", "rate": 0.02, "hold_seconds": 3},
    ],
}


async def relay_leader(system: System) -> Service:
    leader: Service = await wait_for(
        system.relay_leader, timeout=90, interval=0.5, what="a bkn-sync relay leader"
    )
    return leader


def kill_and_restart(service: Service, restarts: list[asyncio.Task[None]]) -> None:
    """SIGKILL and start again at once; its readiness is awaited beside the run, not before the
    next step: on a slow host a restart outlasted the rest of the work, and the next disruption
    then came after everything was delivered."""
    service.kill()
    service.spawn()
    restarts.append(asyncio.create_task(service.ready()))


@pytest.mark.timeout(900)
async def test_sigkill_of_replicas_predikat_and_the_relay_leader(
    cluster: KafkaCluster, system: System
) -> None:
    work = Work.of(TEACHERS)
    await system.prepare(bkn_replicas=2, BKN_SYNC_MAX_IN_FLIGHT="16")
    await work.seed_predikat(system)
    await system.sim.put_faults(FAULTS)
    await system.start()
    watch = OffsetWatch(cluster, system, work)
    watch.start()
    await work.produce(cluster.bootstrap)
    assert system.predikat is not None
    kills = 0
    restarts: list[asyncio.Task[None]] = []

    await in_flight(system, work, 0.1)
    kill_and_restart(random.choice(system.bkn), restarts)
    kills += 1

    await in_flight(system, work, 0.25)
    kill_and_restart(system.predikat, restarts)
    kills += 1

    # Plans agreed again: version 2 arrives while version 1 may still wait in a retry tier.
    await work.produce(cluster.bootstrap, newer_skp_of=random.sample(work.nips, 150))
    await in_flight(system, work, 0.4)
    kill_and_restart(await relay_leader(system), restarts)
    kills += 1

    await in_flight(system, work, 0.55)
    kill_and_restart(random.choice(system.bkn), restarts)
    kills += 1

    await in_flight(system, work, 0.7)
    leader = await relay_leader(system)
    leader.kill()
    system.predikat.kill()
    await leader.start()
    await system.predikat.start()
    kills += 2
    await asyncio.gather(*restarts)

    await all_done(system, work)
    await watch.stop()

    # The rows are stored before their offsets are committed: the last commits may follow.
    async def all_committed() -> bool:
        return await watch.sampled() and watch.max_committed_records == len(work.landed)

    await wait_for(all_committed, timeout=120, interval=0.5, what="every landed offset committed")

    verdict = await judge(system, work)
    assert verdict["attempts"] > work.deliveries
    assert not watch.violations, (
        f"offsets committed for rows not stored: {sorted(watch.violations, key=str)[:5]}"
    )
    assert watch.checked >= 3
    assert sum(len(s.pids) - 1 for s in system.services) == kills
    for service in system.services:
        await answers_ok(service, "/healthz/relay")
