"""The chaos run (issue 15): deliveries under transient e-Kinerja faults while processes are
SIGKILLed, the three Kafka brokers restarted and PostgreSQL crashed, judged only by the
simulator's ledger and the delivery states. Not a timed test: it measures how long each
recovery took.

Runs on the test stack's machinery (tests/resilience/harness.py): the three-node cluster of
deploy/local/kafka-cluster.sh, a PostgreSQL cluster of its own, the simulator, two bkn-sync
replicas and predikat as processes. Every disruption waits until deliveries are in flight.

    set -a && source .local/test/env && set +a && export KINERJA_STACK=test
    .venv/bin/python bench/chaos.py --teachers 5000 --kills 20 --broker-restarts 2 \\
        --pg-restarts 2 --json bench/results/chaos.json

A recovery is the time from the disruption until every service answers again on what was
broken (``/readyz``, ``/healthz/broker``) and the number of DELIVERED rows has grown past its
value at the disruption.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "resilience"))

from common import revision  # noqa: E402
from harness import (  # noqa: E402
    KafkaCluster,
    ScratchPostgres,
    Service,
    System,
    Work,
    answer,
    simulator,
)

from kinerja_shared.auth.devtoken import DevIdentityProvider  # noqa: E402
from kinerja_shared.testing import wait_for  # noqa: E402
from kinerja_shared.testing.stack import Stack, ensure_stack  # noqa: E402


def faults(rate: float, seed: int, latency_ms: int) -> dict[str, Any]:
    """``rate`` of the calls fail transiently: half 5xx, the rest resets, lost responses and
    timeouts."""
    return {
        "seed": seed,
        # Slow enough that every disruption, each waiting for the last recovery, finds
        # deliveries in flight.
        "latency": {"ms": latency_ms, "jitter_ms": latency_ms // 3},
        "rules": [
            {"fault": "error", "rate": rate * 0.5, "statuses": [500, 502, 503]},
            {"fault": "reset", "rate": rate * 0.2},
            {"fault": "lost_response", "rate": rate * 0.2, "lost_as": "error", "statuses": [502]},
            {"fault": "timeout", "rate": rate * 0.1, "hold_seconds": 3},
        ],
    }


async def delivered(system: System, work: Work) -> int:
    try:
        return await work.delivered(system)
    except Exception:
        return -1


async def all_answer(services: list[Service], path: str) -> bool:
    for s in services:
        got = await answer(s, path)
        if got is None or got[0] != 200:
            return False
    return True


async def recovered(system: System, work: Work, before: int, started: float) -> float:
    async def back() -> bool:
        return (
            await all_answer(system.services, "/readyz")
            and await all_answer(system.services, "/healthz/broker")
            and await delivered(system, work) > before
        )

    await wait_for(back, timeout=600, interval=0.25, what="recovery")
    return time.monotonic() - started


async def run(a: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    rng = random.Random(a.seed)
    cluster = KafkaCluster(stack)
    pg = ScratchPostgres()
    logs = ROOT / ".local" / "bench" / "chaos"
    logs.mkdir(parents=True, exist_ok=True)
    recoveries: list[dict[str, Any]] = []
    t0 = time.monotonic()
    try:
        print("starting the three-broker cluster and a PostgreSQL of the run's own", flush=True)
        cluster.start()
        await cluster.create_topics()
        pg.init()
        async with simulator(logs) as sim:
            idp = DevIdentityProvider(logs / "idp")
            system = System(cluster.bootstrap, pg, sim, logs, idp.jwks_url)
            work = Work.of(a.teachers)
            await system.prepare(bkn_replicas=2, BKN_SYNC_MAX_IN_FLIGHT=str(a.max_in_flight))
            await work.seed_predikat(system)
            await sim.put_faults(faults(a.fault_rate, a.seed, a.latency_ms))
            await system.start()
            try:
                await work.produce(cluster.bootstrap)
                events = (
                    ["kill"] * a.kills
                    + ["broker_restart"] * a.broker_restarts
                    + ["pg_restart"] * a.pg_restarts
                )
                rng.shuffle(events)
                # Spread over the run, each once deliveries are in flight.
                marks = [0.03 + 0.87 * (i + 1) / (len(events) + 1) for i in range(len(events))]
                for what, share in zip(events, marks, strict=True):
                    want = int(work.deliveries * share)
                    await wait_for(
                        lambda w=want: _at_least(system, work, w),
                        timeout=900,
                        interval=0.3,
                        what=f"{want} delivered",
                    )
                    before = await delivered(system, work)
                    assert before < work.deliveries, "the work ended before the disruption"
                    started = time.monotonic()
                    target = await disrupt(what, system, cluster, pg, rng)
                    took = await recovered(system, work, before, started)
                    recoveries.append(
                        {"what": what, "target": target, "at_delivered": before, "recovery_s": took}
                    )
                    print(f"{what} {target} at {before}: back in {took:.1f} s", flush=True)
                # What has not settled by then counts as stuck.
                with contextlib.suppress(TimeoutError):
                    await wait_for(
                        lambda: _all_done(system, work),
                        timeout=a.settle_seconds,
                        interval=1,
                        what="every delivery done",
                    )
                return await verdict(a, system, work, recoveries, time.monotonic() - t0)
            finally:
                system.stop()
    finally:
        pg.destroy()
        cluster.stop()


async def _at_least(system: System, work: Work, want: int) -> bool:
    return await delivered(system, work) >= want


async def _all_done(system: System, work: Work) -> bool:
    try:
        return await work.delivered(system) == work.deliveries and (
            await work.predikat_views(system)
        ) == {"terkirim": len(work.nips)}
    except Exception:
        return False


async def disrupt(
    what: str, system: System, cluster: KafkaCluster, pg: ScratchPostgres, rng: random.Random
) -> str:
    if what == "kill":
        leader = await system.relay_leader()
        choices = [*system.services, *([leader] if leader else [])]
        target = rng.choice(choices)
        name = f"{target.name} (relay leader)" if target is leader else target.name
        target.kill()
        target.spawn()
        return name
    if what == "broker_restart":
        cluster.stop()
        cluster.start()
        return "all three brokers"
    pg.stop("immediate")
    pg.start()
    return "PostgreSQL (crash, WAL recovery)"


async def verdict(
    a: argparse.Namespace,
    system: System,
    work: Work,
    recoveries: list[dict[str, Any]],
    duration: float,
) -> dict[str, Any]:
    states = await work.states(system)
    done = states.get("SKP:DELIVERED", 0) + states.get("PREDIKAT:DELIVERED", 0)
    accepted, summary = await work.ledger(system.sim)
    newest = {(kind, n): 1 for kind in ("skp", "predikat") for n in work.nips}
    lost = sum(1 for k, v in newest.items() if k not in accepted or accepted[k][1] != v)
    doubled = sum(1 for k in accepted if accepted[k][0] > newest.get(k, 1))
    return {
        "deliveries": work.deliveries,
        "kills": sum(1 for r in recoveries if r["what"] == "kill"),
        "broker_restarts": sum(1 for r in recoveries if r["what"] == "broker_restart"),
        "pg_restarts": sum(1 for r in recoveries if r["what"] == "pg_restart"),
        "lost": lost,
        "doubled": doubled,
        "stuck": work.deliveries - done,
        "max_recovery_s": round(max((r["recovery_s"] for r in recoveries), default=0.0), 1),
        "states": states,
        "predikat_views": await work.predikat_views(system),
        "ekinerja_attempts": summary["attempts"],
        "ekinerja_stale_answers": summary["outcomes"].get("stale", 0),
        "fault_rate": a.fault_rate,
        "ekinerja_latency_ms": a.latency_ms,
        "max_in_flight_per_replica": a.max_in_flight,
        "duration_s": round(duration, 1),
        "recoveries": [{**r, "recovery_s": round(r["recovery_s"], 1)} for r in recoveries],
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "revision": revision(),
        "command": " ".join(["bench/chaos.py", *sys.argv[1:]]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--teachers", type=int, default=5000, help="an SKP and a predikat each")
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--broker-restarts", type=int, default=2)
    p.add_argument("--pg-restarts", type=int, default=2)
    p.add_argument("--fault-rate", type=float, default=0.2)
    p.add_argument("--max-in-flight", type=int, default=8, help="per bkn-sync replica")
    p.add_argument("--latency-ms", type=int, default=1000, help="e-Kinerja's, + up to a third")
    p.add_argument("--settle-seconds", type=float, default=900)
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--json", type=Path, help="write the result here too")
    a = p.parse_args()
    # Before the loop: it creates the registry's topics on the stack with a loop of its own.
    stack = ensure_stack()
    result = asyncio.run(run(a, stack))
    text = json.dumps(result, indent=2)
    print(text)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(text + "\n")
    failed = result["lost"] or result["doubled"] or result["stuck"]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
