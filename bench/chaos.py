"""The chaos run (issue 15): the whole flow, every service a process, under transient e-Kinerja
faults while each service is SIGKILLed, the three Kafka brokers restarted and PostgreSQL
crashed, judged by the simulator's ledger, the delivery states and the rows of observation and
assessment. Not a timed test: it measures how long each recovery took.

Runs on the test stack's machinery (tests/resilience/harness.py, bench/chaos_flow.py): the
three-node cluster of deploy/local/kafka-cluster.sh, a PostgreSQL cluster of its own, the
simulator, and planning, observation, assessment, predikat and two bkn-sync replicas as
processes, each in a schema of its own with consumer groups that start at the end of every
topic. The roster (schools of 40 teachers, half under a Kepala Sekolah, half under a Plt.) is
published to the cluster; each teacher then writes, submits and agrees a plan through planning's
API (the Kepala Sekolah approves, or planning at once under a Plt.), and planning's outbox
publishes the PlanAgreed that bkn-sync delivers as the SKP, observation opens an observation
for and assessment tracks. Each teacher's predikat is published at the start, as a *Kirim*
would; bkn-sync holds it until the SKP is at e-Kinerja. The teachers are paced by bkn-sync (at
most ``--plan-lead`` started ahead of the SKPs delivered), so every service has work for the
whole run.

The kills go to every service in turn (planning, observation, assessment, predikat, each
bkn-sync replica, the outbox relay's leader), each only while that service has work in flight:
planning with a teacher's request open, observation and assessment with agreed plans not
applied yet, predikat with delivered predikats not shown as terkirim yet, bkn-sync with stored
deliveries not delivered yet (a broker restart or PostgreSQL crash waits for that too).

    set -a && source .local/test/env && set +a && export KINERJA_STACK=test
    .venv/bin/python bench/chaos.py --teachers 5000 --kills 20 --broker-restarts 2 \\
        --pg-restarts 2 --json bench/results/chaos.json

A recovery is the time from the disruption until every service answers again on what was
broken (``/readyz``, ``/healthz/broker``), the number of DELIVERED rows has grown past its
value at the disruption and, for a killed service, its own count (plans agreed, rows applied,
predikats terkirim) has grown too, or is complete.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "resilience"))

import asyncpg  # noqa: E402
from chaos_flow import (  # noqa: E402
    UPSTREAM,
    PlanDriver,
    Progress,
    WholeSystem,
    agreed_versions,
    flow_verdict,
    kill_targets,
    publish,
    roster,
    settled,
)
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
from kinerja_tools.testing import wait_for  # noqa: E402
from kinerja_tools.testing.stack import Stack, ensure_stack  # noqa: E402


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


async def recovered(
    system: System,
    work: Work,
    before: int,
    started: float,
    own: tuple[Progress, str, int] | None = None,
) -> float:
    """Seconds from ``started`` until every service answers, deliveries go on and, given
    ``own`` (progress, killed service, its count at the kill), that service's count grew too."""

    async def grew() -> bool:
        if own is None:
            return True
        progress, target, at_kill = own
        with contextlib.suppress(Exception):
            done, total = await progress.of(target)
            return done > at_kill or done == total
        return False

    async def back() -> bool:
        return (
            await all_answer(system.services, "/readyz")
            and await all_answer(system.services, "/healthz/broker")
            and await delivered(system, work) > before
            and await grew()
        )

    await wait_for(back, timeout=600, interval=0.25, what="recovery")
    return time.monotonic() - started


UPSTREAM_LAST_SHARE = 0.7


def schedule(a: argparse.Namespace, rng: random.Random) -> list[tuple[str, str, float]]:
    """(what, target, share of the deliveries done before it) for every disruption, spread over
    the run. A kill of planning, observation or assessment comes no later than
    ``UPSTREAM_LAST_SHARE``: towards the end every plan may be agreed already."""
    events = (
        [("kill", t) for t in kill_targets(a.kills, rng)]
        + [("broker_restart", "all three brokers")] * a.broker_restarts
        + [("pg_restart", "PostgreSQL")] * a.pg_restarts
    )
    rng.shuffle(events)
    marks = [0.03 + 0.87 * (i + 1) / (len(events) + 1) for i in range(len(events))]

    def upstream(e: tuple[str, str]) -> bool:
        return e[0] == "kill" and e[1] in UPSTREAM

    for i in reversed(range(len(events))):
        if marks[i] > UPSTREAM_LAST_SHARE and upstream(events[i]):
            swap = [
                j for j in range(i) if marks[j] <= UPSTREAM_LAST_SHARE and not upstream(events[j])
            ]
            if not swap:
                raise SystemExit("too many kills of planning, observation and assessment")
            j = rng.choice(swap)
            events[i], events[j] = events[j], events[i]
    return [(what, target, share) for (what, target), share in zip(events, marks, strict=True)]


async def run(a: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    # The code the run starts with: commits made while it runs (it takes half an hour) reach
    # only the processes restarted after them, and must not relabel the figures.
    code = revision()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
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
            system = WholeSystem(cluster.bootstrap, pg, sim, logs, idp.jwks_url)
            work, sekolah, pegawai = roster(a.teachers, rng)
            await system.prepare(bkn_replicas=2, BKN_SYNC_MAX_IN_FLIGHT=str(a.max_in_flight))
            await work.seed_predikat(system)
            await sim.put_faults(faults(a.fault_rate, a.seed, a.latency_ms))
            await system.start()
            lead = a.plan_lead or max(20, a.teachers // 20)
            driver = PlanDriver.of(system, work, pegawai, idp, lead, a.plan_workers)
            progress = Progress(system, work, driver)
            try:
                await publish(system, sekolah, pegawai)
                print(f"roster of {len(pegawai)} in planning; period {work.period}", flush=True)
                await work.produce(cluster.bootstrap, skp=False)
                driver.start()
                for what, target, share in schedule(a, rng):
                    want = int(work.deliveries * share)
                    await wait_for(
                        lambda w=want: _at_least(system, work, w, driver),
                        timeout=900,
                        interval=0.3,
                        what=f"{want} delivered",
                    )
                    busy = "bkn_sync" if what != "kill" or target == "relay leader" else target
                    evidence = await wait_for(
                        lambda b=busy: _in_flight(progress, b),
                        timeout=900,
                        interval=0.3,
                        what=f"{busy} with work in flight",
                    )
                    before = await delivered(system, work)
                    assert before < work.deliveries, "the work ended before the disruption"
                    own_before = (await progress.of(busy))[0] if what == "kill" else 0
                    started = time.monotonic()
                    killed, name = await disrupt(what, target, system, cluster, pg)
                    own = (progress, busy, own_before) if killed is not None else None
                    took = await recovered(system, work, before, started, own)
                    recoveries.append(
                        {
                            "what": what,
                            # A kill is aimed at a service, or at the relay's leader whoever
                            # it is; ``target`` is the process it hit.
                            "aimed_at": target,
                            "target": name,
                            "service": killed.name if killed is not None else None,
                            "at_delivered": before,
                            "in_flight": evidence,
                            "recovery_s": took,
                        }
                    )
                    print(f"{what} {name} at {before} {evidence}: back in {took:.1f} s", flush=True)
                # What has not settled by then counts as stuck (or lost, for the flow's rows).
                with contextlib.suppress(TimeoutError):
                    await wait_for(
                        lambda: _all_done(system, work, progress),
                        timeout=a.settle_seconds,
                        interval=1,
                        what="every delivery done",
                    )
                driver.check()
                result = await verdict(a, system, work, driver, recoveries, time.monotonic() - t0)
                return {**result, "started_at": started_at, "revision": code}
            finally:
                await driver.stop()
                system.stop()
    finally:
        pg.destroy()
        cluster.stop()


async def _at_least(system: System, work: Work, want: int, driver: PlanDriver) -> bool:
    driver.check()
    return await delivered(system, work) >= want


async def _in_flight(progress: Progress, target: str) -> dict[str, Any] | None:
    try:
        return await progress.in_flight(target)
    except (OSError, asyncpg.PostgresError):
        return None


async def _all_done(system: WholeSystem, work: Work, progress: Progress) -> bool:
    try:
        return (
            await work.delivered(system) == work.deliveries
            and (await work.predikat_views(system)) == {"terkirim": len(work.nips)}
            and await settled(system, progress)
        )
    except Exception:
        return False


async def disrupt(
    what: str, target: str, system: WholeSystem, cluster: KafkaCluster, pg: ScratchPostgres
) -> tuple[Service | None, str]:
    """Breaks ``target``; the service killed (None for a broker or PostgreSQL) and its name."""
    if what == "kill":
        leader = await system.relay_leader()
        if target == "relay leader":
            leader = leader or await wait_for(
                system.relay_leader, timeout=120, interval=0.25, what="a relay leader"
            )
            service = leader
        else:
            service = system.named(target)
        name = f"{service.name} (relay leader)" if service is leader else service.name
        service.kill()
        service.spawn()
        return service, name
    if what == "broker_restart":
        cluster.stop()
        cluster.start()
        return None, "all three brokers"
    pg.stop("immediate")
    pg.start()
    return None, "PostgreSQL (crash, WAL recovery)"


async def verdict(
    a: argparse.Namespace,
    system: WholeSystem,
    work: Work,
    driver: PlanDriver,
    recoveries: list[dict[str, Any]],
    duration: float,
) -> dict[str, Any]:
    states = await work.states(system)
    done = states.get("SKP:DELIVERED", 0) + states.get("PREDIKAT:DELIVERED", 0)
    accepted, summary = await work.ledger(system.sim)
    # The SKP e-Kinerja is to hold is the version of the plan agreed in planning.
    skp = await agreed_versions(system, work)
    newest: dict[tuple[str, str], int | None] = {("skp", n): skp.get(n) for n in work.nips}
    newest.update({("predikat", n): 1 for n in work.nips})
    lost = sum(1 for k, v in newest.items() if k not in accepted or accepted[k][1] != v)
    # One version per slot was sent: a second accepted record is a version applied twice.
    doubled = sum(1 for k in accepted if accepted[k][0] > 1)
    flow = await flow_verdict(system, work)
    kills = [r for r in recoveries if r["what"] == "kill"]
    per_service = Counter(str(r["service"]) for r in kills)
    return {
        "deliveries": work.deliveries,
        "kills": len(kills),
        "broker_restarts": sum(1 for r in recoveries if r["what"] == "broker_restart"),
        "pg_restarts": sum(1 for r in recoveries if r["what"] == "pg_restart"),
        "lost": lost,
        "doubled": doubled,
        "stuck": work.deliveries - done,
        "max_recovery_s": round(max((r["recovery_s"] for r in recoveries), default=0.0), 1),
        "kills_per_service": {s.name: per_service.get(s.name, 0) for s in system.services},
        "relay_leader_kills": sum(1 for r in kills if "(relay leader)" in r["target"]),
        "flow_ok": all(v["ok"] for v in flow.values()),
        "flow": flow,
        "states": states,
        "predikat_views": await work.predikat_views(system),
        "period": work.period,
        "plan_driver": {
            "teachers": len(driver.teachers),
            "plt_teachers": sum(1 for t in driver.teachers if t.plt),
            "lead": driver.lead,
            "workers": driver.workers,
            "answers": dict(sorted(driver.answers.items())),
        },
        "ekinerja_attempts": summary["attempts"],
        "ekinerja_stale_answers": summary["outcomes"].get("stale", 0),
        "fault_rate": a.fault_rate,
        "ekinerja_latency_ms": a.latency_ms,
        "max_in_flight_per_replica": a.max_in_flight,
        "duration_s": round(duration, 1),
        "recoveries": [{**r, "recovery_s": round(r["recovery_s"], 1)} for r in recoveries],
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
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
    p.add_argument(
        "--plan-lead",
        type=int,
        default=0,
        help="teachers started ahead of the SKPs delivered (default: max(20, teachers / 20))",
    )
    p.add_argument("--plan-workers", type=int, default=4, help="teachers at once")
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
    failed = result["lost"] or result["doubled"] or result["stuck"] or not result["flow_ok"]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
