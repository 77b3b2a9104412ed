"""bkn-sync deliveries per second, end to end, beside what its two neighbours can do alone.

Measured in one run, on the test stack (env of .local/test/env), all against private topics so
nothing else reads or writes them:

  kafka_raw        a bare aiokafka consumer reading the agreed-plan records
  ekinerja_raw     a bare aiohttp client PUTting to the simulator at bkn_sync's max in flight
  bkn_sync_0       bkn_sync (a separate `bkn_sync serve` process), simulator at 50 ms, no faults
  bkn_sync_20      the same with 20 % transient faults (5xx, resets, lost responses)
  outage_drain     N deliveries queued while e-Kinerja is out, then drained; RSS sampled

bkn_sync's groups start at the end of the shared registry topics (roster, retry tiers), as the
test fixtures do, so it does not spend the run walking every earlier run's records; the bench
waits for its CPU to settle after start-up before producing the first records.

Each bkn_sync phase also reports the CPU used by bkn_sync, the simulator, PostgreSQL (all its
processes), Kafka and this script, in cores (CPU seconds / wall seconds), from psutil.

Usage:  .venv/bin/python bench/bkn_sync_throughput.py [--n 3000] [--outage-n 10000]
        [--max-in-flight 200] [--batch 500] [--processes 1] [--latency-ms 50] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from kinerja_shared.auth import DevIdentityProvider
from kinerja_shared.events.planning import PlanAgreed
from kinerja_shared.testing.groups import start_groups_at_end
from kinerja_shared.topics import PLAN_AGREED

BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
PG = os.environ.get(
    "KINERJA_PG_ADMIN_DSN", "postgresql://postgres:postgres@127.0.0.1:56432/postgres"
)
PARTITIONS = 12  # as the registry's topics
KAFKA = os.environ.get("KINERJA_KAFKA_BOOTSTRAP", "127.0.0.1:60092")
TRANSIENT_20 = {
    "seed": 3,
    "rules": [
        {"fault": "error", "rate": 0.10, "statuses": [500, 502, 503]},
        {"fault": "reset", "rate": 0.05},
        {"fault": "lost_response", "rate": 0.05, "lost_as": "error", "statuses": [502]},
    ],
}


def log(*parts: object) -> None:
    sys.stderr.write(" ".join(str(p) for p in parts) + "\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Nips:
    """Distinct valid PNS NIPs (birth 1970-1985, TMT 2010-2019)."""

    def __init__(self) -> None:
        self.i = int.from_bytes(secrets.token_bytes(2)) * 1000

    def take(self, n: int) -> list[str]:
        out = []
        for i in range(self.i, self.i + n):
            born = f"19{70 + i % 16}{1 + i % 12:02d}{1 + i % 28:02d}"
            out.append(f"{born}20{10 + i % 10}0{1 + i % 9}{1 + i % 2}{i % 1000:03d}")
        self.i += n
        assert len(set(out)) == n
        return out


def record(nip: str) -> bytes:
    payload = PlanAgreed(
        plan_id=f"plan-{nip}",
        nip=nip,
        npsn="20100001",
        period_id="2025",
        version=1,
        atasan_nip=nip,
        sub_indikator="Pembelajaran berdiferensiasi",
        indikator_kompetensi="Pengelolaan kelas",
        tugas_pokok=["Mengajar"],
        tugas_tambahan=[],
        perilaku_fokus=["Berorientasi Pelayanan"],
        agreed_at=datetime.now(UTC),
    )
    return PLAN_AGREED.envelope(nip, payload).model_dump_json().encode()


async def produce(topic: str, nips: list[str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, linger_ms=20, max_batch_size=256_000)
    await producer.start()
    try:
        for nip in nips:
            await producer.send(topic, record(nip), key=nip.encode())
        await producer.flush()
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def topics(*names: str) -> AsyncIterator[None]:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(n, num_partitions=PARTITIONS, replication_factor=1) for n in names]
        )
        yield
    finally:
        with contextlib.suppress(Exception):
            await admin.delete_topics(list(names))
        await admin.close()


async def kafka_raw(topic: str, n: int) -> float:
    """Records per second a bare consumer reads from the broker and decodes.

    Partitions are assigned by hand, so no group join is timed; the clock starts before the
    first fetch is sent, and every record of every partition counts once.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=KAFKA, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        seen = 0
        started = time.perf_counter()
        while seen < n:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for r in records:
                    json.loads(r.value)  # as little as any consumer does: decode it
                seen += len(records)
        return n / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def ekinerja_raw(sim: str, nips: list[str], workers: int) -> float:
    """``workers`` concurrent PUT loops (bkn_sync's max in flight) from one bare aiohttp session
    of as many connections, the client bkn_sync uses, with no tracing: the most this host's
    simulator answers at that concurrency."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for nip in nips:
        queue.put_nowait(nip)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            nip = queue.get_nowait()
            async with session.put(
                f"/skp/{nip}/raw",
                data=b'{"version": 1}',
                headers={"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"},
            ) as r:
                body = await r.read()
            assert r.status in (200, 201), body

    async with aiohttp.ClientSession(
        base_url=sim, connector=aiohttp.TCPConnector(limit=workers)
    ) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(workers)))
        return len(nips) / (time.perf_counter() - started)


def cpu_groups(pids: dict[str, int]) -> dict[str, list[Any]]:
    """The processes whose CPU each phase reports: ours by pid, the stack's by name."""
    import psutil

    groups: dict[str, list[Any]] = {k: [psutil.Process(p)] for k, p in pids.items()}
    groups["postgres"], groups["kafka"] = [], []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or ())
        if proc.info["name"] in ("postgres", "postmaster"):
            groups["postgres"].append(proc)
        elif proc.info["name"] == "java" and "kafka" in cmdline.lower():
            groups["kafka"].append(proc)
    return groups


class CpuMeter:
    """CPU seconds of each group between ``start`` and ``stop``, as cores in use."""

    def __init__(self, groups: dict[str, list[Any]]) -> None:
        self.groups = groups
        self.t0 = 0.0
        self.before: dict[tuple[str, int], float] = {}

    def _seconds(self) -> dict[tuple[str, int], float]:
        out: dict[tuple[str, int], float] = {}
        for name, procs in self.groups.items():
            for proc in procs:
                with contextlib.suppress(Exception):  # a postgres backend may have exited
                    t = proc.cpu_times()
                    out[(name, proc.pid)] = t.user + t.system
        return out

    def start(self) -> None:
        self.t0, self.before = time.monotonic(), self._seconds()

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self.t0
        after = self._seconds()
        used = dict.fromkeys(self.groups, 0.0)
        for (name, pid), seconds in after.items():
            if (name, pid) in self.before:  # alive at both ends of the window
                used[name] += seconds - self.before[(name, pid)]
        cores = {k: round(v / wall, 2) for k, v in used.items()}
        return cores | {"wall_seconds": round(wall, 1), "load_avg_1m": os.getloadavg()[0]}


async def settle(cpu: CpuMeter, quiet_cores: float = 0.15, limit: float = 60) -> float:
    """Seconds until bkn_sync's CPU stays under ``quiet_cores`` for 2 s (start-up done)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        cpu.start()
        await asyncio.sleep(2)
        if cpu.stop()["bkn_sync"] < quiet_cores:
            break
    return round(time.monotonic() - t0, 1)


class Service:
    def __init__(self, env: dict[str, str], logfile: Path, profile: Path | None = None) -> None:
        self.env, self.logfile, self.profile = env, logfile, profile
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, port: int) -> None:
        command = [str(BIN / "bkn_sync"), "serve"]
        if self.profile is not None:  # pyinstrument; the report is written on SIGTERM
            command = [sys.executable, str(HERE / "common.py"), "profile"]
            command += ["--out", str(self.profile), "--", str(BIN / "bkn_sync"), "serve"]
        with self.logfile.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *command, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        async with httpx.AsyncClient() as c:
            for _ in range(600):
                assert self.proc.returncode is None, self.logfile.read_text()[-2000:]
                with contextlib.suppress(httpx.HTTPError):
                    if (await c.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError("bkn_sync did not become ready")

    def process(self) -> Any:
        import psutil

        assert self.proc is not None
        return psutil.Process(self.proc.pid)

    def rss_mb(self) -> float:
        assert self.proc is not None
        try:
            import psutil

            return float(psutil.Process(self.proc.pid).memory_info().rss) / 2**20
        except ImportError:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def delivered(conn: asyncpg.Connection, schema: str, nips: list[str]) -> int:
    return int(
        await conn.fetchval(
            f"SELECT count(*) FROM \"{schema}\".deliveries WHERE state = 'DELIVERED' "
            "AND nip = ANY($1::text[])",
            nips,
        )
    )


async def rate_of(conn: asyncpg.Connection, schema: str, nips: list[str]) -> float:
    """Deliveries per second from the first record ingested to the last one delivered."""
    first, last = await conn.fetchrow(
        f'SELECT min(created_at), max(delivered_at) FROM "{schema}".deliveries '
        "WHERE nip = ANY($1::text[])",
        nips,
    )
    return len(nips) / (last - first).total_seconds()


async def wait_all(
    conn: asyncpg.Connection, schema: str, nips: list[str], timeout: float, sample: Any = None
) -> None:
    deadline = time.monotonic() + timeout
    while (done := await delivered(conn, schema, nips)) < len(nips):
        if sample:
            sample(done)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{done}/{len(nips)} delivered after {timeout}s")
        await asyncio.sleep(1)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    nips = Nips()
    tag = secrets.token_hex(4)
    skp, predikat = f"{PLAN_AGREED.name}.bench-{tag}", f"kinerja.predikat.bench-{tag}"
    schema = f"bkn_sync_bench_{tag}"
    kafka_only = f"{PLAN_AGREED.name}.bench-raw-{tag}"  # read by the bare consumer only
    sim_port = free_port()
    svc_ports = [free_port() for _ in range(args.processes)]
    tmp = Path(tempfile.mkdtemp(prefix="bkn-bench-"))
    idp = DevIdentityProvider(tmp)
    env = {
        **os.environ,
        "BKN_SYNC_DATABASE_URL": PG,
        "BKN_SYNC_DB_SCHEMA": schema,
        "BKN_SYNC_CONSUMER_GROUP": f"bkn-sync-bench-{tag}",
        "BKN_SYNC_KAFKA_BOOTSTRAP": KAFKA,
        "BKN_SYNC_EKINERJA_URL": f"http://127.0.0.1:{sim_port}",
        "BKN_SYNC_HTTP_PORT": str(svc_ports[0]),
        "BKN_SYNC_JWT_JWKS_URL": idp.jwks_url,
        "BKN_SYNC_SKP_TOPIC": skp,
        "BKN_SYNC_PREDIKAT_TOPIC": predikat,
        "BKN_SYNC_DELIVERY_WORKERS": str(args.workers),
        "BKN_SYNC_MAX_IN_FLIGHT": str(args.max_in_flight),
        "BKN_SYNC_BATCH_MAX_RECORDS": str(args.batch),
        "BKN_SYNC_DB_POOL_MAX": str(args.workers * 2 + 5),
        "BKN_SYNC_QUICK_WAIT_MAX_SECONDS": "0.2",
        "BKN_SYNC_RETRY_DELAYS_SECONDS": "[0.5, 1, 2]",
        "BKN_SYNC_RETRY_HOLD_MAX_SECONDS": "5",
        "BKN_SYNC_BREAKER_FAILURE_RATIO": "0.6",
        "BKN_SYNC_OUTBOX_POLL_SECONDS": "0.2",
        "OTEL_TRACES_EXPORTER": "none",
        "LOG_LEVEL": "WARNING",
    }
    result: dict[str, Any] = {
        "n": args.n,
        "outage_n": args.outage_n,
        "workers": args.workers,
        "max_in_flight": args.max_in_flight,
        "batch": args.batch,
        "processes": args.processes,
        "latency_ms": args.latency_ms,
        "cpus": os.cpu_count(),
        "load_avg_at_start": os.getloadavg(),
    }
    sim_env = {
        **os.environ,
        "EKINERJA_SIM_HTTP_PORT": str(sim_port),
        "OTEL_TRACES_EXPORTER": "none",
    }
    sim_proc = await asyncio.create_subprocess_exec(
        str(BIN / "ekinerja-sim"),
        "serve",
        env=sim_env,
        stdout=(tmp / "sim.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    # One or more `bkn_sync serve` processes in one consumer group: Kafka splits the
    # partitions between them (one relay publishes the schema's outbox: an advisory lock).
    services = [
        Service(
            env | {"BKN_SYNC_HTTP_PORT": str(port)},
            tmp / f"bkn_sync-{i}.log",
            args.profile if i == 0 else None,
        )
        for i, port in enumerate(svc_ports)
    ]
    conn = await asyncpg.connect(PG)
    sim = httpx.AsyncClient(base_url=f"http://127.0.0.1:{sim_port}", timeout=30)
    try:
        for _ in range(100):
            with contextlib.suppress(httpx.HTTPError):
                if (await sim.get("/healthz")).status_code == 200:
                    break
            await asyncio.sleep(0.1)
        latency = {"latency": {"ms": args.latency_ms, "jitter_ms": 0}, "rules": []}
        migrate = await asyncio.create_subprocess_exec(
            str(BIN / "bkn_sync"), "migrate", env=env, stdout=subprocess.DEVNULL
        )
        assert await migrate.wait() == 0
        async with topics(skp, predikat, kafka_only):
            clean = nips.take(args.n)
            await produce(kafka_only, clean)
            result["kafka_raw_per_s"] = round(await kafka_raw(kafka_only, args.n), 1)
            log("kafka raw", result["kafka_raw_per_s"])

            await sim.put("/admin/faults", json=latency)
            raw_cpu = time.process_time()
            result["ekinerja_raw_per_s"] = round(
                await ekinerja_raw(str(sim.base_url), nips.take(args.n), args.max_in_flight), 1
            )
            # What the bare client itself spends per PUT (the simulator's share comes on top).
            result["ekinerja_raw_client_cpu_ms_per_put"] = round(
                (time.process_time() - raw_cpu) / args.n * 1000, 2
            )
            log("ekinerja raw", result["ekinerja_raw_per_s"])
            await sim.post("/admin/reset")
            await sim.put("/admin/faults", json=latency)

            # A fresh group would read the shared roster and retry-tier topics from the start
            # (every earlier run's records, minutes of work): start it at their end instead, and
            # let the process settle before anything is measured.
            await start_groups_at_end(KAFKA, [env["BKN_SYNC_CONSUMER_GROUP"]])
            for service, port in zip(services, svc_ports, strict=True):
                await service.start(port)
            cpu = CpuMeter(
                cpu_groups(
                    {
                        "ekinerja_sim": sim_proc.pid,
                        "bench": os.getpid(),
                    }
                )
                | {"bkn_sync": [s.process() for s in services]}
            )
            result["settle_seconds"] = await settle(cpu)
            log("settled after", result["settle_seconds"], "s")
            await produce(skp, clean)
            result["cpu_cores"] = {}
            cpu.start()
            await wait_all(conn, schema, clean, timeout=args.n / 5 + 60)
            result["cpu_cores"]["bkn_sync_0"] = cpu.stop()
            result["bkn_sync_0_per_s"] = round(await rate_of(conn, schema, clean), 1)
            log("bkn_sync 0 %", result["bkn_sync_0_per_s"], result["cpu_cores"]["bkn_sync_0"])

            await sim.put("/admin/faults", json=TRANSIENT_20 | latency)
            faulty = nips.take(args.n)
            await produce(skp, faulty)
            cpu.start()
            await wait_all(conn, schema, faulty, timeout=args.n / 3 + 120)
            result["cpu_cores"]["bkn_sync_20"] = cpu.stop()
            result["bkn_sync_20_per_s"] = round(await rate_of(conn, schema, faulty), 1)
            log("bkn_sync 20 %", result["bkn_sync_20_per_s"], result["cpu_cores"]["bkn_sync_20"])

            # Outage: e-Kinerja answers 503 for a while; the backlog waits in Kafka.
            await sim.put("/admin/faults", json={"outage_seconds": args.outage_seconds, **latency})
            backlog = nips.take(args.outage_n)
            rss: list[tuple[float, int, float]] = []
            t0 = time.monotonic()

            def sample(done: int) -> None:
                rss.append(
                    (
                        round(time.monotonic() - t0, 1),
                        done,
                        round(sum(s.rss_mb() for s in services), 1),
                    )
                )

            sample(0)
            await produce(skp, backlog)
            sample(await delivered(conn, schema, backlog))
            while (await sim.get("/admin/faults")).json().get("outage_remaining_seconds"):
                sample(await delivered(conn, schema, backlog))
                await asyncio.sleep(1)
            drain_start = time.monotonic()
            cpu.start()
            await wait_all(conn, schema, backlog, timeout=args.outage_n / 3 + 120, sample=sample)
            result["cpu_cores"]["outage_drain"] = cpu.stop()
            sample(len(backlog))
            drain = time.monotonic() - drain_start
            summary = (await sim.get("/ledger/summary")).json()
            mine = set(backlog) | set(clean) | set(faulty)
            per_slot = [t["accepted"] for t in summary["targets"] if t["nip"] in mine]
            result["outage"] = {
                "queued": args.outage_n,
                "outage_seconds": args.outage_seconds,
                "drain_seconds": round(drain, 1),
                "drain_per_s": round(args.outage_n / drain, 1),
                "delivered": await delivered(conn, schema, backlog),
                "rss_mb_min": min(r[2] for r in rss),
                "rss_mb_max": max(r[2] for r in rss),
                "rss_samples": rss[:: max(1, len(rss) // 20)],
            }
            result["ledger"] = {
                "duplicates": summary["duplicates"],
                "slots": len(per_slot),
                "slots_accepted_once": sum(1 for a in per_slot if a == 1),
            }
            async with httpx.AsyncClient() as c:
                metrics = "\n".join(
                    [(await c.get(f"http://127.0.0.1:{port}/metrics")).text for port in svc_ports]
                )

            def total(name: str) -> float:
                # Exact sample names (the kinerja_ prefix of kinerja_shared.metrics optional):
                # a prefix match would also add the counters' *_created timestamps.
                names = {name, f"kinerja_{name}"}
                return sum(
                    float(line.split()[-1])
                    for line in metrics.splitlines()
                    if line
                    and not line.startswith("#")
                    and line.split("{")[0].split(" ")[0] in names
                )

            # What one PUT costs as bkn_sync sees it, beside the whole delivery.
            result["ekinerja_put_mean_ms_in_bkn_sync"] = round(
                1000
                * total("bkn_sync_ekinerja_request_seconds_sum")
                / max(1.0, total("bkn_sync_ekinerja_request_seconds_count")),
                1,
            )
            p50 = await conn.fetchval(
                f"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY "
                f'extract(epoch FROM delivered_at - created_at)) FROM "{schema}".deliveries '
                "WHERE attempts = 1 AND nip = ANY($1::text[])",
                clean,
            )
            result["clean_ingest_to_delivered_p50_ms"] = round(float(p50) * 1000, 1)
            result["breaker_holds"] = total("bkn_sync_breaker_holds_total")
    finally:
        for service in services:
            await service.stop()
        await sim.aclose()
        sim_proc.terminate()
        await sim_proc.wait()
        with contextlib.suppress(Exception):
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
    for k in ("bkn_sync_0_per_s", "bkn_sync_20_per_s"):
        result[k.replace("_per_s", "_vs_kafka")] = round(result[k] / result["kafka_raw_per_s"], 4)
        result[k.replace("_per_s", "_vs_ekinerja")] = round(
            result[k] / result["ekinerja_raw_per_s"], 3
        )
    result["load_avg_at_end"] = os.getloadavg()
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=3000)
    p.add_argument("--outage-n", type=int, default=10_000)
    p.add_argument("--outage-seconds", type=float, default=20)
    p.add_argument("--workers", type=int, default=12, help="DELIVERY_WORKERS (retry tiers)")
    p.add_argument(
        "--max-in-flight",
        type=int,
        default=200,
        help="BKN_SYNC_MAX_IN_FLIGHT, and the bare httpx baseline's concurrency",
    )
    p.add_argument("--batch", type=int, default=500, help="BKN_SYNC_BATCH_MAX_RECORDS")
    p.add_argument(
        "--processes", type=int, default=1, help="bkn_sync serve processes (one consumer group)"
    )
    p.add_argument("--latency-ms", type=int, default=50)
    p.add_argument("--json", type=Path)
    p.add_argument("--profile", type=Path, help="run the first bkn_sync under pyinstrument")
    out = asyncio.run(main(p.parse_args()))
    text = json.dumps(out, indent=2, default=str)
    sys.stdout.write(text + "\n")
    if p.parse_args().json:
        p.parse_args().json.write_text(text)
