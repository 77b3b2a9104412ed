"""bkn-sync deliveries per second and CPU per delivery, beside like-for-like baselines measured
in the same run against the same simulator.

Measured in one run, on the test stack (env of .local/test/env), against private topics so
nothing else reads or writes them:

  kafka_raw      a bare aiokafka consumer reading the agreed-plan records from the broker,
                 partitions assigned by hand, the clock started before the first fetch
  bare client    a bare aiohttp session PUTting to the simulator with exactly bkn_sync's
                 requests in flight (MAX_IN_FLIGHT x processes), retrying a failed PUT with the
                 same key until it is accepted; its CPU per PUT from this process's own clock
  bkn_sync       `bkn_sync serve` process(es): records on the topic -> DELIVERED rows; CPU
                 seconds of the process(es) (psutil) per delivery
  for 0 % and 20 % transient faults (10 % 5xx, 5 % resets, 5 % lost responses), each the bare
  client first, then bkn_sync, under the same simulator settings
  outage_drain   (--outage-n > 0) N deliveries queued while e-Kinerja is out, then drained

The simulator runs with a long-tailed latency (log-normal, --median-ms/--p99-ms, seeded) behind
a gateway limit (--sim-max-concurrent, --sim-max-connections); its /admin/settings are printed
with the figures. bkn_sync runs with one overlay's settings (--config): `prod` = 10 %
parentbased_traceidratio sampling, log level INFO, metrics on their own port (the prod
overlay's ConfigMap; spans go to the test stack's Zipkin where prod sends OTLP to a collector);
`local` = `make run`'s 100 % sampling; `off` = no tracing, log level WARNING. The call cap is
off here (the cap bench measures it): the rate is compared with an uncapped bare client.

bkn_sync's groups start at the end of the shared registry topics (roster, retry tiers), and the
bench waits for its CPU to settle after start-up before producing the first records.

Usage:  .venv/bin/python bench/bkn_sync_throughput.py [--n 10000] [--processes 1]
        [--config prod] [--json bench/results/bkn_sync.json] [--py-spy FILE]
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import revision

from kinerja_shared.auth import DevIdentityProvider
from kinerja_shared.events.planning import PlanAgreed
from kinerja_shared.topics import PLAN_AGREED
from kinerja_tools.testing.groups import start_groups_at_end
from kinerja_tools.testing.kafka import own_topics

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


def upstream_trace(i: int, sampled_share: float | None) -> list[tuple[str, bytes]]:
    """The W3C context planning's relay publishes an agreed plan with: its teacher's request,
    sampled as planning's own sampler decided (the same overlay's ratio: every 10th at 10 %)."""
    if sampled_share is None:
        return []
    flags = "01" if sampled_share and i % round(1 / sampled_share) == 0 else "00"
    traceparent = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-{flags}"
    return [("traceparent", traceparent.encode())]


async def produce(topic: str, nips: list[str], sampled_share: float | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, linger_ms=20, max_batch_size=256_000)
    await producer.start()
    try:
        for i, nip in enumerate(nips):
            headers = upstream_trace(i, sampled_share)
            await producer.send(topic, record(nip), key=nip.encode(), headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


def topics(*names: str) -> contextlib.AbstractAsyncContextManager[None]:
    """The run's own source topics, deleted afterwards."""
    return own_topics(KAFKA, names, PARTITIONS)


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


async def bare_client(sim: str, nips: list[str], in_flight: int) -> dict[str, float]:
    """``in_flight`` concurrent PUT loops from one bare aiohttp session of as many connections
    (the client bkn_sync uses, no tracing, no logging): deliveries per second and this
    process's CPU per PUT. A PUT that fails (5xx, reset, lost response, gateway 429) is sent
    again with the same key at once, until e-Kinerja has the record, as a delivery must."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for nip in nips:
        queue.put_nowait(nip)
    puts = 0

    async def deliver(session: aiohttp.ClientSession, nip: str) -> None:
        nonlocal puts
        key = str(uuid.uuid4())
        while True:
            puts += 1
            try:
                async with session.put(
                    f"/skp/{nip}/raw",
                    data=b'{"version": 1}',
                    headers={"Idempotency-Key": key, "Content-Type": "application/json"},
                ) as r:
                    await r.read()
                    if r.status in (200, 201):
                        return
            except aiohttp.ClientError:
                pass

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            await deliver(session, queue.get_nowait())

    async with aiohttp.ClientSession(
        base_url=sim,
        connector=aiohttp.TCPConnector(limit=in_flight),
        timeout=aiohttp.ClientTimeout(total=30),
    ) as session:
        cpu0, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(in_flight)))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    return {
        "rate": round(len(nips) / wall, 1),
        "cpu_ms_per_put": round(cpu / puts * 1000, 4),
        "puts_per_delivery": round(puts / len(nips), 3),
    }


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


CONFIGS: dict[str, dict[str, str]] = {
    # deploy/k8s/overlays/prod: the bkn-sync ConfigMap's sampling, the default log level, the
    # metrics on a port of their own. Spans go to the test stack's Zipkin.
    "prod": {
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
        "KINERJA_LOG_LEVEL": "INFO",
    },
    # make run: every span exported.
    "local": {
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        "KINERJA_LOG_LEVEL": "INFO",
    },
    # What the figures before issue 18 were taken with.
    "off": {"OTEL_TRACES_EXPORTER": "none", "KINERJA_LOG_LEVEL": "WARNING"},
}
# The share of agreed plans whose upstream trace (the teacher's request at planning) is sampled
# under each configuration; None: records with no trace context (tracing off everywhere).
UPSTREAM_SAMPLED: dict[str, float | None] = {"prod": 0.1, "local": 1.0, "off": None}


async def metrics_total(urls: list[str], name: str) -> float:
    async with httpx.AsyncClient() as c:
        text = "\n".join([(await c.get(url)).text for url in urls])
    # Exact sample names (the kinerja_ prefix optional): a prefix match would also add the
    # counters' *_created timestamps.
    names = {name, f"kinerja_{name}"}
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line and not line.startswith("#") and line.split("{")[0].split(" ")[0] in names
    )


class PySpy:
    """py-spy sampling one process for a phase (raw collapsed stacks, written on SIGINT)."""

    def __init__(self, binary: str, pid: int, out: Path) -> None:
        command = [binary, "record", "--nonblocking", "-r", "100", "-f", "raw", "-o", str(out)]
        self.proc = subprocess.Popen(
            [*command, "-d", "3600", "-p", str(pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(60)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    nips = Nips()
    tag = secrets.token_hex(4)
    skp, predikat = f"{PLAN_AGREED.name}.bench-{tag}", f"kinerja.predikat.bench-{tag}"
    schema = f"bkn_sync_bench_{tag}"
    kafka_only = f"{PLAN_AGREED.name}.bench-raw-{tag}"  # read by the bare consumer only
    sim_port = free_port()
    svc_ports = [free_port() for _ in range(args.processes)]
    metrics_ports = [free_port() for _ in range(args.processes)]
    in_flight = args.max_in_flight * args.processes
    tmp = Path(tempfile.mkdtemp(prefix="bkn-bench-"))
    idp = DevIdentityProvider(tmp)
    env = {
        **os.environ,
        "BKN_SYNC_DATABASE_URL": PG,
        "BKN_SYNC_DB_SCHEMA": schema,
        "BKN_SYNC_CONSUMER_GROUP": f"bkn-sync-bench-{tag}",
        "BKN_SYNC_KAFKA_BOOTSTRAP": KAFKA,
        "BKN_SYNC_EKINERJA_URL": f"http://127.0.0.1:{sim_port}",
        "BKN_SYNC_JWT_JWKS_URL": idp.jwks_url,
        "BKN_SYNC_SKP_TOPIC": skp,
        "BKN_SYNC_PREDIKAT_TOPIC": predikat,
        "BKN_SYNC_DELIVERY_WORKERS": str(args.workers),
        "BKN_SYNC_MAX_IN_FLIGHT": str(args.max_in_flight),
        "BKN_SYNC_BATCH_MAX_RECORDS": str(args.batch),
        "BKN_SYNC_DB_POOL_MAX": str(args.workers * 2 + 5),
        "BKN_SYNC_EKINERJA_MAX_CALLS_PER_SECOND": "0",
        # Short waits between tries, so a 20 % fault run ends in seconds, not hours (the
        # defaults are 2 s and 30/300/3600 s); the bare client retries at once.
        "BKN_SYNC_QUICK_WAIT_MAX_SECONDS": "0.2",
        "BKN_SYNC_RETRY_DELAYS_SECONDS": "[0.5, 1, 2]",
        "BKN_SYNC_RETRY_HOLD_MAX_SECONDS": "5",
        "BKN_SYNC_BREAKER_FAILURE_RATIO": "0.6",
        "BKN_SYNC_OUTBOX_POLL_SECONDS": "0.2",
        "OTEL_SERVICE_NAME": "bkn-sync-bench",
        **CONFIGS[args.config],
    }
    config = {
        "overlay": args.config,
        "records_sampled_upstream": UPSTREAM_SAMPLED[args.config],
        "env": {k: v for k, v in env.items() if k.startswith(("BKN_SYNC_", "OTEL_", "KINERJA_LOG"))}
        | {"BKN_SYNC_DATABASE_URL": "(test stack)", "BKN_SYNC_JWT_JWKS_URL": "(dev issuer)"},
    }
    result: dict[str, Any] = {
        "bench": "bkn_sync_throughput",
        "command": "bench/bkn_sync_throughput.py " + " ".join(sys.argv[1:]),
        **revision(),
        "n": args.n,
        "processes": args.processes,
        "in_flight": in_flight,
        "config": config,
        "cpus": os.cpu_count(),
        # bkn_sync serve runs on uvloop (kinerja_shared.cli); the bare client as well (run()).
        "event_loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
        "load_avg_at_start": os.getloadavg(),
    }
    sim_env = {**os.environ, "OTEL_TRACES_EXPORTER": "none"}
    sim_proc = await asyncio.create_subprocess_exec(
        str(BIN / "ekinerja-sim"),
        "serve",
        "--port",
        str(sim_port),
        "--log-level",
        "warning",
        "--max-concurrent-requests",
        str(args.sim_max_concurrent),
        "--max-connections",
        str(args.sim_max_connections),
        env=sim_env,
        stdout=(tmp / "sim.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    # One or more `bkn_sync serve` processes in one consumer group: Kafka splits the
    # partitions between them (one relay publishes the schema's outbox: an advisory lock).
    services = [
        Service(
            env
            | {"BKN_SYNC_HTTP_PORT": str(port)}
            | ({"BKN_SYNC_METRICS_PORT": str(mport)} if args.config == "prod" else {}),
            tmp / f"bkn_sync-{i}.log",
            args.profile if i == 0 else None,
        )
        for i, (port, mport) in enumerate(zip(svc_ports, metrics_ports, strict=True))
    ]
    metrics_urls = [
        f"http://127.0.0.1:{mport}/metrics"
        if args.config == "prod"
        else f"http://127.0.0.1:{port}/metrics"
        for port, mport in zip(svc_ports, metrics_ports, strict=True)
    ]
    conn = await asyncpg.connect(PG)
    sim = httpx.AsyncClient(base_url=f"http://127.0.0.1:{sim_port}", timeout=30)
    latency = {"median_ms": args.median_ms, "p99_ms": args.p99_ms}
    runs: list[dict[str, Any]] = []
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
        async with topics(skp, predikat, kafka_only):
            raw_nips = nips.take(args.n)
            await produce(kafka_only, raw_nips)
            result["kafka_raw_per_s"] = round(await kafka_raw(kafka_only, args.n), 1)
            log("kafka raw", result["kafka_raw_per_s"])

            # A fresh group would read the shared roster and retry-tier topics from the start
            # (every earlier run's records, minutes of work): start it at their end instead, and
            # let the process settle before anything is measured.
            await start_groups_at_end(KAFKA, [env["BKN_SYNC_CONSUMER_GROUP"]])
            for service, port in zip(services, svc_ports, strict=True):
                await service.start(port)
            cpu = CpuMeter(
                cpu_groups({"ekinerja_sim": sim_proc.pid, "bench": os.getpid()})
                | {"bkn_sync": [s.process() for s in services]}
            )
            result["settle_seconds"] = await settle(cpu)
            log("settled after", result["settle_seconds"], "s")

            for faults in args.faults:
                script = {"seed": args.seed, "latency": latency, "rules": []}
                if faults:
                    script = TRANSIENT_20 | {"seed": args.seed, "latency": latency}
                # The bare client first, then bkn_sync, under the same settings.
                await sim.post("/admin/reset")
                await sim.put("/admin/faults", json=script)
                bare = await bare_client(str(sim.base_url), nips.take(args.n), in_flight)
                bare_sim = (await sim.get("/admin/settings")).json()
                log(f"bare client {faults} %", bare)

                await sim.post("/admin/reset")
                await sim.put("/admin/faults", json=script)
                batch = nips.take(args.n)
                puts_before = await metrics_total(
                    metrics_urls, "bkn_sync_ekinerja_request_seconds_count"
                )
                spy = (
                    PySpy(args.py_spy, services[0].proc.pid, Path(f"{args.py_spy_out}-{faults}"))
                    if args.py_spy and services[0].proc is not None
                    else None
                )
                await produce(skp, batch, UPSTREAM_SAMPLED[args.config])
                cpu.start()
                await wait_all(conn, schema, batch, timeout=args.n / 3 + 120)
                cores = cpu.stop()
                if spy is not None:
                    spy.stop()
                rate = round(await rate_of(conn, schema, batch), 1)
                puts = (
                    await metrics_total(metrics_urls, "bkn_sync_ekinerja_request_seconds_count")
                    - puts_before
                )
                cpu_ms = cores["bkn_sync"] * cores["wall_seconds"] / args.n * 1000
                sim_report = (await sim.get("/admin/settings")).json()
                run = {
                    "faults": faults,
                    "processes": args.processes,
                    "in_flight": in_flight,
                    "bare_client_rate": bare["rate"],
                    "bkn_sync_rate": rate,
                    "rate_ratio": round(rate / bare["rate"], 3),
                    "bare_cpu_ms_per_put": bare["cpu_ms_per_put"],
                    "bkn_sync_cpu_ms_per_delivery": round(cpu_ms, 3),
                    "cpu_ratio": round(cpu_ms / bare["cpu_ms_per_put"], 2),
                    "bare_puts_per_delivery": bare["puts_per_delivery"],
                    "bkn_sync_puts_per_delivery": round(puts / args.n, 3),
                    "cpu_cores": cores,
                    "simulator": {"bare_client_phase": bare_sim, "bkn_sync_phase": sim_report},
                    "config": args.config,
                }
                runs.append(run)
                log(f"bkn_sync {faults} %", {k: run[k] for k in list(run)[:10]})

            if args.outage_n:
                result["outage"] = await outage(args, sim, conn, schema, nips, services, skp)
            summary = (await sim.get("/ledger/summary")).json()
            result["ledger_duplicates"] = summary["duplicates"]
    finally:
        for service in services:
            await service.stop()
        await sim.aclose()
        sim_proc.terminate()
        await sim_proc.wait()
        with contextlib.suppress(Exception):
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
    result["runs"] = runs
    result["load_avg_at_end"] = os.getloadavg()
    return result


async def outage(
    args: argparse.Namespace,
    sim: httpx.AsyncClient,
    conn: asyncpg.Connection,
    schema: str,
    nips: Nips,
    services: list[Service],
    skp: str,
) -> dict[str, Any]:
    """e-Kinerja answers 503 for a while; the backlog waits in Kafka, then drains."""
    latency = {"median_ms": args.median_ms, "p99_ms": args.p99_ms}
    await sim.put(
        "/admin/faults",
        json={"seed": args.seed, "outage_seconds": args.outage_seconds, "latency": latency},
    )
    backlog = nips.take(args.outage_n)
    rss: list[tuple[float, int, float]] = []
    t0 = time.monotonic()

    def sample(done: int) -> None:
        rss.append(
            (round(time.monotonic() - t0, 1), done, round(sum(s.rss_mb() for s in services), 1))
        )

    sample(0)
    await produce(skp, backlog, UPSTREAM_SAMPLED[args.config])
    while (await sim.get("/admin/faults")).json().get("outage_remaining_seconds"):
        sample(await delivered(conn, schema, backlog))
        await asyncio.sleep(1)
    drain_start = time.monotonic()
    await wait_all(conn, schema, backlog, timeout=args.outage_n / 3 + 120, sample=sample)
    drain = time.monotonic() - drain_start
    return {
        "queued": args.outage_n,
        "outage_seconds": args.outage_seconds,
        "drain_seconds": round(drain, 1),
        "drain_per_s": round(args.outage_n / drain, 1),
        "rss_mb_min": min(r[2] for r in rss),
        "rss_mb_max": max(r[2] for r in rss),
        "rss_samples": rss[:: max(1, len(rss) // 20)],
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=3000, help="deliveries per phase")
    p.add_argument("--faults", type=int, nargs="+", default=[0, 20], choices=[0, 20])
    p.add_argument("--config", choices=sorted(CONFIGS), default="prod")
    p.add_argument("--outage-n", type=int, default=0, help="0: no outage phase")
    p.add_argument("--outage-seconds", type=float, default=20)
    p.add_argument("--workers", type=int, default=12, help="DELIVERY_WORKERS (retry tiers)")
    p.add_argument(
        "--max-in-flight",
        type=int,
        default=200,
        help="BKN_SYNC_MAX_IN_FLIGHT per process; the bare client keeps this x --processes",
    )
    p.add_argument("--batch", type=int, default=500, help="BKN_SYNC_BATCH_MAX_RECORDS")
    p.add_argument(
        "--processes", type=int, default=1, help="bkn_sync serve processes (one consumer group)"
    )
    p.add_argument("--median-ms", type=float, default=50, help="the simulator's median latency")
    p.add_argument("--p99-ms", type=float, default=250, help="the simulator's p99 latency")
    p.add_argument("--seed", type=int, default=3, help="the simulator's random seed")
    p.add_argument("--sim-max-concurrent", type=int, default=500, help="the gateway's limit")
    p.add_argument("--sim-max-connections", type=int, default=600, help="the gateway's limit")
    p.add_argument("--json", type=Path)
    p.add_argument("--profile", type=Path, help="run the first bkn_sync under pyinstrument")
    p.add_argument("--py-spy", help="py-spy binary: sample the first bkn_sync in each phase")
    p.add_argument("--py-spy-out", default="/tmp/bkn_sync-pyspy", help="raw stacks, per phase")
    return p.parse_args(argv)


def run(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    # The bare client on the event loop bkn_sync serve runs on: like for like.
    out = uvloop.run(main(args))
    text = json.dumps(out, indent=2, default=str)
    if args.json:
        args.json.write_text(text + "\n")
    return out


if __name__ == "__main__":
    sys.stdout.write(json.dumps(run(), indent=2, default=str) + "\n")
