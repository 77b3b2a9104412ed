"""How soon after e-Kinerja is back the last delivery lands, against what the call cap allows.

One `bkn_sync serve` process with the production retry tiers (30 s, 300 s, 3,600 s) and a call
cap, against the simulator as a separate process, on private topics and a fresh schema of the
test stack. n agreed plans arrive while e-Kinerja is away, in one of two ways:

  outage   every request answered 503 OUTAGE for --outage-seconds (5 minutes by default):
           the breaker opens and deliveries wait without spending attempts
  storm    for --outage-seconds, 85 % of requests answered 503 and 10 % of responses lost:
           deliveries fail their quick tries and go to the retry tiers, the breaker flaps

Then e-Kinerja recovers (the outage ends on the simulator's clock; the storm's faults are
cleared) at time R. The figure is `tail = last delivered_at - R` beside `backlog / cap`, the
least any process honouring the cap could take; the target is `tail - backlog / cap < 30 s`.
Before the recovery drain, deliveries waiting on tier 2 waited out its full 300 s.

Also reported: the simulator's ledger (each slot accepted once, duplicates 0) and the
simulator's settings.

Usage:  .venv/bin/python bench/recovery_drain.py --scenario outage|storm [--n 2000] [--cap 50]
        [--outage-seconds 300] [--json bench/results/recovery_drain.json]
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
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bkn_sync_throughput import (
    BIN,
    CONFIGS,
    KAFKA,
    PG,
    Nips,
    Service,
    delivered,
    free_port,
    log,
    produce,
    topics,
)
from common import revision

from kinerja_shared.auth import DevIdentityProvider
from kinerja_shared.topics import PLAN_AGREED
from kinerja_tools.testing.groups import start_groups_at_end

STORM = {
    "seed": 7,
    "rules": [
        {"fault": "error", "rate": 0.85, "statuses": [503]},
        {"fault": "lost_response", "rate": 0.1, "lost_as": "error", "statuses": [502]},
    ],
}


async def wait_until(probe: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := await probe()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout:.0f}s")
        await asyncio.sleep(0.5)
    return found


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tag = secrets.token_hex(4)
    skp, predikat = f"{PLAN_AGREED.name}.drain-{tag}", f"kinerja.predikat.drain-{tag}"
    schema = f"bkn_sync_drain_{tag}"
    sim_port, svc_port = free_port(), free_port()
    tmp = Path(tempfile.mkdtemp(prefix="bkn-drain-"))
    idp = DevIdentityProvider(tmp)
    group = f"bkn-sync-drain-{tag}"
    env = {
        **os.environ,
        "BKN_SYNC_DATABASE_URL": PG,
        "BKN_SYNC_DB_SCHEMA": schema,
        "BKN_SYNC_CONSUMER_GROUP": group,
        "BKN_SYNC_KAFKA_BOOTSTRAP": KAFKA,
        "BKN_SYNC_EKINERJA_URL": f"http://127.0.0.1:{sim_port}",
        "BKN_SYNC_JWT_JWKS_URL": idp.jwks_url,
        "BKN_SYNC_SKP_TOPIC": skp,
        "BKN_SYNC_PREDIKAT_TOPIC": predikat,
        "BKN_SYNC_HTTP_PORT": str(svc_port),
        "BKN_SYNC_EKINERJA_MAX_CALLS_PER_SECOND": str(args.cap),
        # The production tiers and waits: the drain is measured against them.
        "BKN_SYNC_RETRY_DELAYS_SECONDS": "[30, 300, 3600]",
        "OTEL_SERVICE_NAME": "bkn-sync-drain",
        **CONFIGS[args.config],
    }
    sim_proc = await asyncio.create_subprocess_exec(
        str(BIN / "ekinerja-sim"),
        "serve",
        "--port",
        str(sim_port),
        "--log-level",
        "warning",
        env={**os.environ, "OTEL_TRACES_EXPORTER": "none"},
        stdout=(tmp / "sim.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    service = Service(env, tmp / "bkn_sync.log")
    sim = httpx.AsyncClient(base_url=f"http://127.0.0.1:{sim_port}", timeout=30)
    conn = await asyncpg.connect(PG)
    result: dict[str, Any] = {
        "bench": "recovery_drain",
        "command": "bench/recovery_drain.py " + " ".join(sys.argv[1:]),
        **revision(),
        "scenario": args.scenario,
        "n": args.n,
        "cap_per_s": args.cap,
        "outage_seconds": args.outage_seconds,
        "config": args.config,
        "retry_delays_seconds": [30, 300, 3600],
        "cpus": os.cpu_count(),
        "load_avg_at_start": os.getloadavg(),
    }
    try:
        await wait_until(lambda: _healthy(sim), 30, "simulator not up")
        migrate = await asyncio.create_subprocess_exec(
            str(BIN / "bkn_sync"), "migrate", env=env, stdout=subprocess.DEVNULL
        )
        assert await migrate.wait() == 0
        async with topics(skp, predikat):
            # The shared registry topics (roster, retry tiers) from their end: other runs'
            # records are not this run's backlog.
            await start_groups_at_end(KAFKA, [group])
            await service.start(svc_port)
            latency = {"median_ms": args.median_ms, "p99_ms": args.p99_ms}
            if args.scenario == "outage":
                faults: dict[str, Any] = {"outage_seconds": args.outage_seconds}
            else:
                faults = dict(STORM)
            # A script the simulator refuses would measure no outage at all: fail instead.
            (await sim.put("/admin/faults", json={**faults, "latency": latency})).raise_for_status()
            settings = await sim.get("/admin/settings")
            settings.raise_for_status()
            result["simulator"] = settings.json()
            started = time.monotonic()
            nips = Nips().take(args.n)
            await produce(skp, nips)
            log("backlog produced in", round(time.monotonic() - started, 1), "s")
            if args.scenario == "outage":
                await wait_until(lambda: _outage_over(sim), args.outage_seconds + 60, "outage")
            else:
                await asyncio.sleep(max(0.0, args.outage_seconds - (time.monotonic() - started)))
                (await sim.put("/admin/faults", json={"latency": latency})).raise_for_status()
            recovered = await conn.fetchval("SELECT now()")
            result["away_s"] = round(time.monotonic() - started, 1)
            before = await delivered(conn, schema, nips)
            log("e-Kinerja back;", before, "of", args.n, "delivered during the", args.scenario)

            async def all_done() -> bool:
                return await delivered(conn, schema, nips) == args.n

            await wait_until(all_done, args.n / args.cap + 3_700, "not all delivered")
            last = await conn.fetchval(
                f'SELECT max(delivered_at) FROM "{schema}".deliveries WHERE nip = ANY($1)', nips
            )
            tiers = await conn.fetch(
                f'SELECT retry_tier, count(*) AS n FROM "{schema}".deliveries '
                "WHERE nip = ANY($1) GROUP BY retry_tier ORDER BY retry_tier",
                nips,
            )
            backlog = args.n - before
            tail = (last - recovered).total_seconds()
            result |= {
                "delivered_before_recovery": before,
                "backlog_at_recovery": backlog,
                "backlog_over_cap_s": round(backlog / args.cap, 1),
                "tail_s": round(tail, 1),
                "tail_beyond_backlog_over_cap_s": round(tail - backlog / args.cap, 1),
                "target_s": 30,
                "deepest_tier_reached": {str(r["retry_tier"]): r["n"] for r in tiers},
                "ledger": {
                    k: v
                    for k, v in (await sim.get("/ledger/summary")).json().items()
                    if k != "targets"  # one row per slot: the counts say it
                },
            }
    finally:
        await service.stop()
        sim_proc.terminate()
        await sim_proc.wait()
        await sim.aclose()
        with contextlib.suppress(Exception):
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
    return result


async def _healthy(sim: httpx.AsyncClient) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return (await sim.get("/healthz")).status_code == 200
    return False


async def _outage_over(sim: httpx.AsyncClient) -> bool:
    return not (await sim.get("/admin/faults")).json().get("outage_remaining_seconds")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", choices=["outage", "storm"], default="outage")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--cap", type=float, default=50.0, help="calls per second (prod: 50)")
    p.add_argument("--outage-seconds", type=float, default=300.0)
    p.add_argument("--median-ms", type=float, default=50.0)
    p.add_argument("--p99-ms", type=float, default=250.0)
    p.add_argument("--config", choices=sorted(CONFIGS), default="prod")
    p.add_argument("--json", type=Path, help="merge the result into this file, by scenario")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2, default=str))
    if args.json:
        found = json.loads(args.json.read_text()) if args.json.exists() else {}
        found[args.scenario] = result
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(found, indent=2, default=str) + "\n")
    return result


if __name__ == "__main__":
    main()
