"""PostgreSQL goes away while thousands of deliveries are in flight: its sessions terminated
(pg_terminate_backend), the server crashed (immediate stop, WAL recovery at the start) and
restarted cleanly, on a cluster of the test's own (never the shared one).

bkn-sync and predikat are never restarted. Judged as the broker test is: each SKP and predikat
accepted once by e-Kinerja, every row DELIVERED and predikat told, no offset committed for a
record whose delivery row is not stored, and the health endpoints: ``/readyz`` says 503 with
the database's error while it is away, and 200 again afterwards, by itself.
"""

from __future__ import annotations

import pytest
from harness import (
    KafkaCluster,
    OffsetWatch,
    ScratchPostgres,
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

TEACHERS = 1_000
FAULTS = {
    "seed": 16,
    "latency": {"ms": 100, "jitter_ms": 100},
    "rules": [
        {"fault": "error", "rate": 0.05, "statuses": [500, 502, 503]},
        {"fault": "lost_response", "rate": 0.03, "lost_as": "error", "statuses": [502]},
    ],
}


async def readyz_is(service: Service, status: int) -> bool:
    got = await answer(service, "/readyz")
    if got is None or got[0] != status:
        return False
    database = got[1]["checks"]["database"]  # type: ignore[index]
    return bool(database == "ok" if status == 200 else str(database).startswith("error"))


@pytest.mark.timeout(900)
async def test_sessions_terminated_crash_and_restart_mid_flight(
    cluster: KafkaCluster, scratch_pg: ScratchPostgres, system: System
) -> None:
    work = Work.of(TEACHERS)
    await system.prepare(BKN_SYNC_MAX_IN_FLIGHT="24")
    await work.seed_predikat(system)
    await system.sim.put_faults(FAULTS)
    await system.start()
    watch = OffsetWatch(cluster, system, work)
    watch.start()
    await work.produce(cluster.bootstrap)

    await in_flight(system, work, 0.1)
    assert await scratch_pg.terminate_sessions() > 0

    # A crash: the services see the database gone and say so, then come back by themselves.
    await in_flight(system, work, 0.3)
    scratch_pg.stop("immediate")
    for service in system.services:
        await wait_for(
            lambda s=service: readyz_is(s, 503), timeout=60, what=f"{service.name} /readyz 503"
        )
    scratch_pg.start()
    for service in system.services:
        await wait_for(
            lambda s=service: readyz_is(s, 200), timeout=90, what=f"{service.name} /readyz 200"
        )

    await in_flight(system, work, 0.5)
    scratch_pg.stop("fast")
    scratch_pg.start()

    await in_flight(system, work, 0.7)
    assert await scratch_pg.terminate_sessions() > 0

    await all_done(system, work)
    await wait_for(watch.sampled, timeout=120, interval=0.5, what="a sample of the offsets")
    await watch.stop()

    verdict = await judge(system, work)
    assert verdict["attempts"] > work.deliveries
    assert not watch.violations, (
        f"offsets committed for rows not stored: {sorted(watch.violations, key=str)[:5]}"
    )
    assert watch.checked >= 3
    assert watch.max_committed_records == work.deliveries
    await back_by_themselves(system)
