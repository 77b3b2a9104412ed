"""Kirim ke Guru at scale: from the Kepala Sekolah's request to ``terkirim`` for every teacher.

All five services and the e-Kinerja simulator (no faults; a long-tailed latency, median 50 ms
and p99 250 ms unless --median-ms/--p99-ms say otherwise) run as their own processes, each
service in a database schema and consumer groups of its own, started at the end of every topic.
Preparation, not measured:

1. a roster of S schools × 40 teachers (+ a Kepala Sekolah each) is published and reaches the
   projections of predikat and bkn-sync;
2. every teacher's agreed plan (the SKP) is published straight onto
   ``kinerja.planning.plan-agreed.v1``, instead of running planning's flow for each teacher,
   and the bench waits until bkn-sync has delivered it: bkn-sync sends a teacher's predikat
   only after their SKP is at e-Kinerja (a predikat before it waits, PARKED BKN-E08);
3. ``assessment.recommended`` events are fabricated straight onto
   ``kinerja.assessment.recommended.v1`` (predikat BAIK), skipping planning, observation and
   assessment: predikat holds every teacher in DRAF exactly as after a real rating;
4. a Dinas sets each school's org predikat, each Kepala Sekolah runs *tetapkan*.

Measured: every school's ``POST /sekolah/{npsn}/{period}/kirim`` is fired at once (a burst: the
worst case of a deadline day), or with ``--rate R`` one school every 1/R s (open loop). Per
teacher, the time from its school's request to (a) bkn-sync's ``DELIVERED`` on
``kinerja.bkn-sync.delivery-status.v1`` as a consumer receives it and (b) ``terkirim`` in
predikat (the row's ``updated_at`` in predikat's schema, what the teacher's view shows); and how
many ``kinerja.predikat.ditetapkan.v1`` events per second a consumer receives.
Baseline in the same run: a bare aiokafka producer/consumer pair on the same broker, the same
number of messages in one burst, on a topic of the bench's own (deleted afterwards).

    set -a && source .local/test/env && set +a
    .venv/bin/python bench/kirim_ke_guru.py --schools 25
    .venv/bin/python bench/kirim_ke_guru.py --schools 100
    .venv/bin/python bench/kirim_ke_guru.py --schools 1000 --rate 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import (
    REPO,
    SERVICES,
    Processes,
    RssSampler,
    admin_conn,
    fresh_groups,
    log,
    machine,
    new_run_id,
    pct,
    revision,
    stack,
    timed,
    uptime,
    wait_ready,
)
from plan_submission import roster

PERIOD = "2026"
REASON = "Sebaran predikat sesuai hasil penilaian kinerja guru di sekolah ini."


async def gather_limited(n: int, coros: list[Any]) -> list[Any]:
    sem = asyncio.Semaphore(n)

    async def one(c: Any) -> Any:
        async with sem:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


async def wait_count(
    admin_dsn: str, sql: str, args: list[Any], n: int, what: str, timeout: float
) -> float:
    conn = await admin_conn(admin_dsn)
    t = time.monotonic()
    got = -1
    try:
        while time.monotonic() - t < timeout:
            got = await conn.fetchval(sql, *args)
            if got >= n:
                log(f"{what}: {got} after {time.monotonic() - t:.1f}s")
                return time.monotonic() - t
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    raise TimeoutError(f"{what}: {got} of {n} after {timeout}s")


async def publish_skps(bootstrap: str, pairs: list[tuple[str, str, str]]) -> None:
    """Each teacher's agreed plan, as planning would publish it, for bkn-sync to deliver."""
    from datetime import UTC, datetime

    from aiokafka import AIOKafkaProducer

    from kinerja_shared.events.planning import PlanAgreed
    from kinerja_shared.topics import PLAN_AGREED

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=20
    )
    await producer.start()
    try:
        for guru, ks, npsn in pairs:
            payload = PlanAgreed(
                plan_id=f"bench-{guru}",
                nip=guru,
                npsn=npsn,
                period_id=PERIOD,
                version=1,
                atasan_nip=ks,
                sub_indikator="D1.1",
                indikator_kompetensi="KP.1",
                tugas_pokok=["Mengajar Matematika kelas VII"],
                tugas_tambahan=[],
                perilaku_fokus=["BERORIENTASI_PELAYANAN"],
                agreed_at=datetime.now(UTC),
            )
            value = PLAN_AGREED.envelope(guru, payload).model_dump_json().encode()
            await producer.send(PLAN_AGREED.name, value, key=guru.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def fabricate_recommendations(bootstrap: str, pairs: list[tuple[str, str, str]]) -> None:
    from aiokafka import AIOKafkaProducer

    from kinerja_shared.events.assessment import AssessmentRecommended
    from kinerja_shared.topics import ASSESSMENT_RECOMMENDED

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=20
    )
    await producer.start()
    try:
        for guru, ks, npsn in pairs:
            payload = AssessmentRecommended(
                assessment_id=str(uuid.uuid4()),
                nip=guru,
                npsn=npsn,
                period_id=PERIOD,
                atasan_nip=ks,
                hasil_kerja="SESUAI_EKSPEKTASI",
                perilaku_kerja="SESUAI_EKSPEKTASI",
                recommended_predikat="BAIK",
            )
            env = ASSESSMENT_RECOMMENDED.envelope(guru, payload)
            await producer.send(
                ASSESSMENT_RECOMMENDED.name, env.model_dump_json().encode(), key=guru.encode()
            )
        await producer.flush()
    finally:
        await producer.stop()


async def decide(predikat: str, idp: Any, schools: dict[str, str]) -> None:
    """Dinas sets every school's org predikat; each Kepala Sekolah runs tetapkan."""
    import httpx

    dinas = {"authorization": f"Bearer {idp.mint(role='dinas', area='3171', ttl=3600)}"}
    async with httpx.AsyncClient(base_url=predikat, timeout=60) as http:

        async def org(npsn: str) -> None:
            r = await http.put(
                f"/organisasi/{npsn}/{PERIOD}", json={"predikat_organisasi": "BAIK"}, headers=dinas
            )
            assert r.status_code == 200, r.text

        async def tetapkan(npsn: str, ks: str) -> None:
            token = idp.mint(role="kepala_sekolah", nip=ks, npsn=npsn, ttl=3600)
            r = await http.post(
                f"/sekolah/{npsn}/{PERIOD}/tetapkan",
                json={"distribution_reason": REASON},
                headers={"authorization": f"Bearer {token}"},
            )
            assert r.status_code == 200, r.text
            assert len(r.json()["ditetapkan"]) > 0, r.text

        await gather_limited(8, [org(n) for n in schools])
        await gather_limited(8, [tetapkan(n, ks) for n, ks in schools.items()])


class Listener:
    """Reads delivery-status and predikat.ditetapkan from their current end, no group."""

    def __init__(self, bootstrap: str, nips: set[str]) -> None:
        self.bootstrap = bootstrap
        self.nips = nips
        self.delivered: dict[str, float] = {}
        self.delivered_kafka_ts: dict[str, float] = {}
        self.ditetapkan: list[float] = []
        self.states: Counter[str] = Counter()
        self.ready = asyncio.Event()
        self._stop = False

    async def run(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        from kinerja_shared.topics import BKN_DELIVERY_STATUS, PREDIKAT_DITETAPKAN

        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, max_poll_records=2000
        )
        await consumer.start()
        try:
            tps = [
                TopicPartition(t.name, p)
                for t in (BKN_DELIVERY_STATUS, PREDIKAT_DITETAPKAN)
                for p in range(t.partitions)
            ]
            consumer.assign(tps)
            await consumer.seek_to_end(*tps)
            for tp in tps:  # resolve the end offsets now, before the burst
                await consumer.position(tp)
            self.ready.set()
            while not self._stop:
                batch = await consumer.getmany(timeout_ms=200)
                now = time.time()
                for tp, msgs in batch.items():
                    for m in msgs:
                        p = json.loads(m.value)["payload"]
                        if p.get("nip") not in self.nips:
                            continue
                        if tp.topic == PREDIKAT_DITETAPKAN.name:
                            self.ditetapkan.append(now)
                        elif p.get("kind") == "PREDIKAT":
                            self.states[p["state"]] += 1
                            if p["state"] == "DELIVERED" and p["nip"] not in self.delivered:
                                self.delivered[p["nip"]] = now
                                self.delivered_kafka_ts[p["nip"]] = m.timestamp / 1000
        finally:
            await consumer.stop()

    def stop(self) -> None:
        self._stop = True


async def kafka_baseline(bootstrap: str, run: str, n: int) -> dict[str, Any]:
    """Raw produce→consume latency of n messages sent in one burst, same broker, acks=all."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    topic = f"bench.kafka-baseline.{run}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=12, replication_factor=1)])
        await asyncio.sleep(1)
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, enable_idempotence=True, acks="all"
        )
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await producer.start()
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(12)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            for tp in tps:
                await consumer.position(tp)
            lat: list[float] = []

            async def consume() -> None:
                while len(lat) < n:
                    batch = await consumer.getmany(timeout_ms=200)
                    now = time.time()
                    for msgs in batch.values():
                        lat.extend(now - float(m.value) for m in msgs)

            reader = asyncio.create_task(consume())
            t0 = time.time()
            futures = [
                await producer.send(topic, str(time.time()).encode(), key=str(i).encode())
                for i in range(n)
            ]
            await asyncio.gather(*futures)
            await asyncio.wait_for(reader, 120)
            total = time.time() - t0
        finally:
            await producer.stop()
            await consumer.stop()
        ms = [x * 1000 for x in lat]
        return {
            "messages": n,
            "p50_ms": round(pct(ms, 50), 1),
            "p99_ms": round(pct(ms, 99), 1),
            "max_ms": round(max(ms), 1),
            "all_consumed_s": round(total, 2),
        }
    finally:
        try:
            await admin.delete_topics([topic])
        finally:
            await admin.close()


async def fire(
    predikat: str,
    idp: Any,
    schools: dict[str, str],
    listener: Listener,
    n: int,
    timeout: float,
    rate: float,
) -> dict[str, Any]:
    """Every school's Kirim at once (``rate`` 0), or one school every 1/``rate`` s, open loop:
    a school's request goes out on schedule whether or not earlier ones have been answered."""
    import httpx

    tokens = {
        npsn: idp.mint(role="kepala_sekolah", nip=ks, npsn=npsn, ttl=3600)
        for npsn, ks in schools.items()
    }
    sent_at: dict[str, float] = {}
    answered: dict[str, float] = {}
    limits = httpx.Limits(max_connections=len(schools) + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=predikat, timeout=300, limits=limits) as http:

        async def kirim(i: int, npsn: str) -> None:
            if rate:
                await asyncio.sleep(max(0.0, t0 + i / rate - time.time()))
            sent_at[npsn] = time.time()
            r = await http.post(
                f"/sekolah/{npsn}/{PERIOD}/kirim",
                headers={"authorization": f"Bearer {tokens[npsn]}"},
            )
            answered[npsn] = time.time()
            assert r.status_code == 202, r.text
            assert not r.json().get("belum_ditetapkan"), r.text

        t0 = time.time()
        await asyncio.gather(*(kirim(i, s) for i, s in enumerate(schools)))
        log(f"all {len(schools)} kirim answered after {time.time() - t0:.2f}s")
    deadline = time.monotonic() + timeout
    while len(listener.delivered) < n and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    await asyncio.sleep(1)
    return {"t0": t0, "sent_at": sent_at, "answered": answered}


async def measure(
    args: Any,
    st: Any,
    idp: Any,
    procs: Processes,
    urls: dict[str, str],
    schools: dict[str, str],
    pairs: list[tuple[str, str, str]],
    report: dict[str, Any],
) -> None:
    n = len(pairs)
    nips = {g for g, _, _ in pairs}
    school_of = {g: s for g, _, s in pairs}
    with timed("kafka baseline"):
        report["kafka_baseline"] = await kafka_baseline(st.kafka_bootstrap, procs.run, n)
    listener = Listener(st.kafka_bootstrap, nips)
    task = asyncio.create_task(listener.run())
    await listener.ready.wait()
    log("firing Kirim ke Guru |", uptime())
    report["load_at_fire"] = uptime()
    pids = {p.name: p.pid for p in procs.procs}
    with RssSampler(pids, 5) as rss:
        fired = await fire(urls["predikat"], idp, schools, listener, n, args.timeout, args.rate)
    listener.stop()
    await task
    t0, sent_at, answered = fired["t0"], fired["sent_at"], fired["answered"]

    # terkirim as predikat stored it (same host clock as PostgreSQL's now()).
    with contextlib.suppress(TimeoutError):
        await wait_count(
            st.pg_admin_dsn,
            f'SELECT count(*) FROM "{procs.run_schema("predikat")}".teacher_predikat '
            "WHERE delivery_state = 'terkirim' AND period_id = $1 AND nip = ANY($2::text[])",
            [PERIOD, list(nips)],
            n,
            "predikat terkirim",
            timeout=120,
        )
    conn = await admin_conn(st.pg_admin_dsn)
    try:
        rows = await conn.fetch(
            "SELECT nip, extract(epoch from updated_at) AS at "
            f'FROM "{procs.run_schema("predikat")}".teacher_predikat '
            "WHERE delivery_state = 'terkirim' AND period_id = $1 "
            "AND nip = ANY($2::text[])",
            PERIOD,
            list(nips),
        )
    finally:
        await conn.close()
    terkirim = {r["nip"]: float(r["at"]) for r in rows}
    # Where the time goes, from the services' own timestamps (one host clock): predikat's
    # outbox row (sent_at of the version), bkn-sync's row (created_at = consumed), its first
    # attempt and delivered_at.
    conn = await admin_conn(st.pg_admin_dsn)
    try:
        drows = await conn.fetch(
            f"SELECT nip, attempts, extract(epoch from created_at) AS c, "
            "extract(epoch from first_attempt_at) AS f, extract(epoch from delivered_at) AS d "
            f"FROM \"{procs.run_schema('bkn_sync')}\".deliveries WHERE kind = 'PREDIKAT' "
            "AND nip = ANY($1::text[])",
            list(nips),
        )
        outbox = await conn.fetch(
            "SELECT key, extract(epoch from published_at) AS p "
            f'FROM "{procs.run_schema("predikat")}".outbox '
            "WHERE topic = 'kinerja.predikat.ditetapkan.v1' AND published_at IS NOT NULL"
        )
    finally:
        await conn.close()

    def stage(values: list[float]) -> dict[str, Any]:
        ms = [v * 1000 for v in values]
        return {"n": len(ms), "p50_ms": round(pct(ms, 50), 1), "p99_ms": round(pct(ms, 99), 1)}

    d_by = {r["nip"]: r for r in drows}
    report["stages"] = {
        "request → predikat outbox published": stage(
            [float(o["p"]) - sent_at[school_of[o["key"]]] for o in outbox if o["key"] in nips]
        ),
        "request → bkn-sync consumed (row created)": stage(
            [float(r["c"]) - sent_at[school_of[n]] for n, r in d_by.items()]
        ),
        "bkn-sync consumed → first attempt": stage(
            [float(r["f"]) - float(r["c"]) for r in drows if r["f"] is not None]
        ),
        "first attempt → delivered_at": stage(
            [float(r["d"]) - float(r["f"]) for r in drows if r["d"] is not None]
        ),
        "delivered_at → DELIVERED event received": stage(
            [
                listener.delivered[n] - float(r["d"])
                for n, r in d_by.items()
                if r["d"] is not None and n in listener.delivered
            ]
        ),
        "DELIVERED event → terkirim in predikat": stage(
            [terkirim[n] - listener.delivered[n] for n in terkirim if n in listener.delivered]
        ),
        "attempts per delivery": dict(Counter(int(r["attempts"]) for r in drows)),
    }
    # A rate needs a span of time: a tiny school's few can land at the same instant.
    ds = [float(r["d"]) for r in drows if r["d"] is not None]
    if len(ds) > 1 and max(ds) > min(ds):
        report["stages"]["bkn-sync delivery rate per s"] = round(len(ds) / (max(ds) - min(ds)), 1)
    ts = sorted(terkirim.values())
    if len(ts) > 1 and ts[-1] > ts[0]:
        report["stages"]["predikat terkirim rate per s"] = round(len(ts) / (ts[-1] - ts[0]), 1)

    def lat(at: dict[str, float]) -> dict[str, Any]:
        ms = [(v - sent_at[school_of[k]]) * 1000 for k, v in at.items()]
        return {
            "teachers": len(ms),
            "of": n,
            "p50_ms": round(pct(ms, 50), 1),
            "p99_ms": round(pct(ms, 99), 1),
            "max_ms": round(max(ms), 1) if ms else None,
        }

    http_ms = [(answered[s] - sent_at[s]) * 1000 for s in answered]
    per_second = Counter(int(t - t0) for t in listener.ditetapkan)
    span = (max(listener.ditetapkan) - min(listener.ditetapkan)) if listener.ditetapkan else 0
    report["results"] = {
        "kirim_http_202": {
            "requests": len(http_ms),
            "p50_ms": round(pct(http_ms, 50), 1),
            "p99_ms": round(pct(http_ms, 99), 1),
            "max_ms": round(max(http_ms), 1),
        },
        "request_to_DELIVERED_event": lat(listener.delivered),
        "request_to_terkirim_in_predikat": lat(terkirim),
        "predikat_ditetapkan_events": {
            "received": len(listener.ditetapkan),
            "first_after_s": round(min(listener.ditetapkan) - t0, 2)
            if listener.ditetapkan
            else None,
            "last_after_s": round(max(listener.ditetapkan) - t0, 2)
            if listener.ditetapkan
            else None,
            "mean_per_s": round(len(listener.ditetapkan) / span, 1) if span else None,
            "peak_per_s": max(per_second.values()) if per_second else 0,
            "per_second": dict(sorted(per_second.items())),
        },
        "delivery_status_states": dict(listener.states),
    }
    report["rss_during_fire"] = rss.report()


def simulator_latency(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """A long-tailed e-Kinerja (the test stack's simulator answers at once otherwise); its
    settings, as reported, go with the figures."""
    import httpx

    script = {
        "seed": args.sim_seed,
        "latency": {"median_ms": args.median_ms, "p99_ms": args.p99_ms},
    }
    httpx.put(f"{url}/admin/faults", json=script).raise_for_status()
    settings: dict[str, Any] = httpx.get(f"{url}/admin/settings").json()
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--schools", type=int, default=25)
    parser.add_argument("--teachers-per-school", type=int, default=40)
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="schools' Kirim per second, evenly spaced (default 0: every school at once)",
    )
    parser.add_argument("--timeout", type=float, default=300, help="wait for all DELIVERED")
    parser.add_argument(
        "--prepare-timeout",
        type=float,
        default=900,
        help="wait for each preparation step (roster, SKPs, DRAF) at most this long",
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--median-ms", type=float, default=50, help="e-Kinerja's median latency")
    parser.add_argument("--p99-ms", type=float, default=250, help="e-Kinerja's p99 latency")
    parser.add_argument("--sim-seed", type=int, default=1, help="the simulator's random seed")
    args = parser.parse_args()

    import plan_submission

    from kinerja_shared.auth.devtoken import DevIdentityProvider
    from kinerja_shared.roster.publish import publish_roster

    plan_submission.TEACHERS_PER_SCHOOL = args.teachers_per_school
    st = stack()
    idp = DevIdentityProvider(Path(st.env["KINERJA_DEV_IDP_DIR"]))
    run = new_run_id()
    logs = REPO / ".local" / "bench" / f"kirim-{run}"
    report: dict[str, Any] = {
        "run": run,
        "command": f"bench/{Path(__file__).name} " + " ".join(sys.argv[1:]),
        **revision(),
        "args": vars(args),
        "machine_before": machine(),
    }
    log("run", run, "logs", logs, "|", uptime())
    with Processes(st, run, logs) as procs:
        sim = procs.simulator()
        wait_ready(sim, "/healthz")
        report["simulator"] = simulator_latency(sim.url, args)
        fresh_groups(st.kafka_bootstrap, run, list(SERVICES))
        started = {name: procs.service(name, idp.jwks_url, simulator=sim.url) for name in SERVICES}
        for proc in started.values():
            wait_ready(proc)
        urls = {name: p.url for name, p in started.items()}
        sekolah, people, pairs = roster(
            args.schools * args.teachers_per_school, args.seed or random.randrange(2**32)
        )
        schools = {p.npsn: p.nip for p in people if p.atasan_nip is None}
        n = len(pairs)
        nips = [g for g, _, _ in pairs]
        report["size"] = {"schools": len(sekolah), "teachers": n}
        t_prep = time.monotonic()
        with timed("roster published"):
            asyncio.run(publish_roster(st.kafka_bootstrap, sekolah, people))
        for name in ("predikat", "bkn_sync"):
            asyncio.run(
                wait_count(
                    st.pg_admin_dsn,
                    f'SELECT count(*) FROM "{procs.run_schema(name)}".roster_pegawai '
                    "WHERE nip = ANY($1::text[])",
                    [[p.nip for p in people]],
                    len(people),
                    f"{name} roster",
                    args.prepare_timeout,
                )
            )
        with timed("SKPs published"):
            asyncio.run(publish_skps(st.kafka_bootstrap, pairs))
        asyncio.run(
            wait_count(
                st.pg_admin_dsn,
                f'SELECT count(*) FROM "{procs.run_schema("bkn_sync")}".deliveries '
                "WHERE kind = 'SKP' AND state = 'DELIVERED' AND nip = ANY($1::text[])",
                [nips],
                n,
                "SKPs delivered by bkn-sync",
                args.prepare_timeout,
            )
        )
        with timed("recommendations fabricated"):
            asyncio.run(fabricate_recommendations(st.kafka_bootstrap, pairs))
        asyncio.run(
            wait_count(
                st.pg_admin_dsn,
                f'SELECT count(*) FROM "{procs.run_schema("predikat")}".teacher_predikat '
                "WHERE period_id = $1 AND nip = ANY($2::text[])",
                [PERIOD, nips],
                n,
                "predikat DRAF",
                args.prepare_timeout,
            )
        )
        with timed("org predikat + tetapkan"):
            asyncio.run(decide(urls["predikat"], idp, schools))
        report["prepare_seconds"] = round(time.monotonic() - t_prep, 1)
        asyncio.run(measure(args, st, idp, procs, urls, schools, pairs, report))
        report["machine_after"] = machine()
    log("done |", uptime())
    (logs / "report.json").write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
