"""The e-Kinerja call cap, as e-Kinerja would see it: with 1, 2 and 4 bkn-sync replicas sharing
one cap, the most calls that arrived at the simulator in any one-second window (sliding), the
rate achieved against the cap, and the delivery latency under the cap.

Each replica count is its own run: a fresh schema, private source topics, one consumer group of
N `bkn_sync serve` processes with BKN_SYNC_EKINERJA_MAX_CALLS_PER_SECOND = --cap (and, with
--instansi-cap, a per-instansi cap over a roster of --instansi areas), 10 % transient faults
from the simulator (so retries count against the cap too), and a long-tailed latency. A backlog
of --per-replica-seconds x cap records is produced at once; the simulator's arrival times
(/ledger/arrivals) of the run are the figures, from the first arrival to the last.

Usage:  .venv/bin/python bench/cap.py [--cap 200] [--replicas 1 2 4] [--seconds 15]
        [--json bench/results/cap.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncpg
import httpx
from bkn_sync_throughput import (
    BIN,
    KAFKA,
    PG,
    Nips,
    Service,
    free_port,
    log,
    produce,
    topics,
)
from common import revision

from kinerja_shared.auth import DevIdentityProvider
from kinerja_shared.topics import PLAN_AGREED
from kinerja_tools.testing.groups import start_groups_at_end

FAULTS_10 = [
    {"fault": "error", "rate": 0.05, "statuses": [502, 503]},
    {"fault": "reset", "rate": 0.05},
]


def window_counts(times: list[float]) -> tuple[int, list[int]]:
    """The most in any sliding one-second window, and the count per whole second."""
    ordered, most, start = sorted(times), 0, 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - 1.0:
            start += 1
        most = max(most, end - start + 1)
    per_second = [0] * (int(ordered[-1] - ordered[0]) + 1) if ordered else []
    for t in ordered:
        per_second[int(t - ordered[0])] += 1
    return most, per_second


async def one_run(args: argparse.Namespace, replicas: int, nips: Nips) -> dict[str, Any]:
    tag = secrets.token_hex(4)
    skp, predikat = f"{PLAN_AGREED.name}.cap-{tag}", f"kinerja.predikat.cap-{tag}"
    schema = f"bkn_sync_cap_{tag}"
    sim_port = free_port()
    ports = [free_port() for _ in range(replicas)]
    tmp = Path(tempfile.mkdtemp(prefix="bkn-cap-"))
    idp = DevIdentityProvider(tmp)
    env = {
        **os.environ,
        "BKN_SYNC_DATABASE_URL": PG,
        "BKN_SYNC_DB_SCHEMA": schema,
        "BKN_SYNC_CONSUMER_GROUP": f"bkn-sync-cap-{tag}",
        "BKN_SYNC_KAFKA_BOOTSTRAP": KAFKA,
        "BKN_SYNC_EKINERJA_URL": f"http://127.0.0.1:{sim_port}",
        "BKN_SYNC_JWT_JWKS_URL": idp.jwks_url,
        "BKN_SYNC_SKP_TOPIC": skp,
        "BKN_SYNC_PREDIKAT_TOPIC": predikat,
        "BKN_SYNC_EKINERJA_MAX_CALLS_PER_SECOND": str(args.cap),
        "BKN_SYNC_EKINERJA_MAX_CALLS_PER_SECOND_PER_INSTANSI": str(args.instansi_cap),
        "BKN_SYNC_QUICK_WAIT_MAX_SECONDS": "0.2",
        "BKN_SYNC_RETRY_DELAYS_SECONDS": "[0.5, 1, 2]",
        "BKN_SYNC_RETRY_HOLD_MAX_SECONDS": "5",
        "BKN_SYNC_BREAKER_FAILURE_RATIO": "0.6",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
        "OTEL_SERVICE_NAME": "bkn-sync-cap",
    }
    sim_proc = await asyncio.create_subprocess_exec(
        str(BIN / "ekinerja-sim"),
        "serve",
        "--port",
        str(sim_port),
        "--log-level",
        "warning",
        "--max-concurrent-requests",
        "500",
        "--max-connections",
        "1000",
        env={**os.environ, "OTEL_TRACES_EXPORTER": "none"},
        stdout=(tmp / "sim.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    services = [
        Service(env | {"BKN_SYNC_HTTP_PORT": str(port)}, tmp / f"bkn_sync-{i}.log")
        for i, port in enumerate(ports)
    ]
    conn = await asyncpg.connect(PG)
    sim = httpx.AsyncClient(base_url=f"http://127.0.0.1:{sim_port}", timeout=30)
    n = int(args.cap * args.seconds)
    try:
        for _ in range(100):
            with contextlib.suppress(httpx.HTTPError):
                if (await sim.get("/healthz")).status_code == 200:
                    break
            await asyncio.sleep(0.1)
        migrate = await asyncio.create_subprocess_exec(
            str(BIN / "bkn_sync"), "migrate", env=env, stdout=subprocess.DEVNULL
        )
        assert await migrate.wait() == 0
        batch = nips.take(n)
        if args.instansi_cap:
            # The roster tells each teacher's instansi: --instansi areas, teachers round robin.
            rows = [
                (nip, "Guru", "20100001", "Guru Mapel", "PNS", "KEMENDIKDASMEN", f"99{i % k:04d}")
                for i, nip in enumerate(batch)
                for k in [args.instansi]
            ]
            # Straight into this run's projection: publishing them would put the run's roster
            # on the shared topic that every other session reads.
            await conn.executemany(
                f'INSERT INTO "{schema}".roster_pegawai (nip, nama, npsn, jenis_ptk,'
                " status_kepegawaian, naungan, kode_wilayah, updated_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, now())",
                rows,
            )
        async with topics(skp, predikat):
            await start_groups_at_end(KAFKA, [env["BKN_SYNC_CONSUMER_GROUP"]])
            for service, port in zip(services, ports, strict=True):
                await service.start(port)
            # The consumer group rebalances as each replica joins; the figures are of the cap,
            # not of a rebalance.
            await asyncio.sleep(args.warmup)
            script = {
                "seed": 5,
                "latency": {"median_ms": 50, "p99_ms": 250},
                "rules": FAULTS_10,
            }
            await sim.post("/admin/reset")
            await sim.put("/admin/faults", json=script)
            await produce(skp, batch)
            deadline = asyncio.get_running_loop().time() + args.seconds * 4 + 120
            while True:
                done = await conn.fetchval(
                    f"SELECT count(*) FROM \"{schema}\".deliveries WHERE state = 'DELIVERED'"
                    " AND nip = ANY($1::text[])",
                    batch,
                )
                if done >= n or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(1)
            latency = await conn.fetchrow(
                "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM"
                " delivered_at - created_at)) AS p50, percentile_cont(0.99) WITHIN GROUP"
                " (ORDER BY extract(epoch FROM delivered_at - created_at)) AS p99"
                f' FROM "{schema}".deliveries WHERE nip = ANY($1::text[])',
                batch,
            )
            arrivals = (await sim.get("/ledger/arrivals")).json()
            settings = (await sim.get("/admin/settings")).json()
            summary = (await sim.get("/ledger/summary")).json()
    finally:
        for service in services:
            await service.stop()
        await sim.aclose()
        sim_proc.terminate()
        await sim_proc.wait()
        with contextlib.suppress(Exception):
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
    times = arrivals["times"]
    most, per_second = window_counts(times)
    span = max(times) - min(times)
    # Whole seconds between the first and the last, where the backlog kept the cap busy.
    full = per_second[1:-1] or per_second
    return {
        "replicas": replicas,
        "cap": args.cap,
        "instansi_cap": args.instansi_cap,
        "delivered": done,
        "calls": len(times),
        "calls_per_delivery": round(len(times) / max(1, done), 3),
        "max_in_any_second": most,
        "within_cap": most <= args.cap,
        "achieved_rate": round((len(times) - 1) / span, 1) if span else None,
        "achieved_vs_cap": round((len(times) - 1) / span / args.cap, 3) if span else None,
        "per_whole_second_min_max": [min(full), max(full)],
        "per_whole_second_mean": round(sum(full) / len(full), 1),
        "per_whole_second_mean_vs_cap": round(sum(full) / len(full) / args.cap, 3),
        "ingest_to_delivered_p50_s": round(float(latency["p50"]), 2),
        "ingest_to_delivered_p99_s": round(float(latency["p99"]), 2),
        "ledger_duplicates": summary["duplicates"],
        "simulator": settings,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {
        "bench": "cap",
        "command": "bench/cap.py " + " ".join(sys.argv[1:]),
        **revision(),
        "config": "prod sampling (10 %), caps shared through the database",
        "cpus": os.cpu_count(),
        "load_avg_at_start": os.getloadavg(),
        "runs": [],
    }
    nips = Nips()
    for replicas in args.replicas:
        run = await one_run(args, replicas, nips)
        log(f"{replicas} replica(s)", {k: v for k, v in run.items() if k != "simulator"})
        report["runs"].append(run)
    report["load_avg_at_end"] = os.getloadavg()
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cap", type=float, default=200, help="calls per second, all replicas")
    p.add_argument("--instansi-cap", type=float, default=0, help="per instansi (0: none)")
    p.add_argument("--instansi", type=int, default=8, help="instansi areas in the roster")
    p.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--seconds", type=float, default=15, help="backlog = cap x seconds records")
    p.add_argument("--warmup", type=float, default=15, help="seconds after the last replica")
    p.add_argument("--json", type=Path)
    return p.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    out = asyncio.run(main(arguments))
    text = json.dumps(out, indent=2, default=str)
    if arguments.json:
        arguments.json.write_text(text + "\n")
    sys.stdout.write(text + "\n")
