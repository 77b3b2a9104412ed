"""What the resilience tests and bench/chaos.py break and then judge.

- ``KafkaCluster``: the three KRaft nodes of deploy/local/kafka-cluster.sh (replication 3,
  min.insync.replicas 2), never the stack's own broker.
- ``ScratchPostgres``: a PostgreSQL cluster of the run's own (Debian's initdb and pg_ctl, as the
  OS user postgres, on a port of its own), which may be stopped, crashed and have its
  connections terminated without touching the shared one.
- ``Service``: ``bkn_sync serve`` or ``predikat serve`` as a process, restartable after SIGKILL.
- ``Work``: SKP and predikat records for many teachers, with where each one landed, and the
  judgements: the simulator's ledger (each slot accepted once), the delivery rows, predikat's
  view, and committed offsets against stored rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from kinerja_shared.events.planning import PlanAgreed
from kinerja_shared.events.predikat import PredikatDitetapkan
from kinerja_shared.topics import PLAN_AGREED, PREDIKAT_DITETAPKAN
from kinerja_shared.topics_cli import create_topics
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.groups import start_groups_at_end
from kinerja_tools.testing.stack import REPO, STACK, Stack

BIN = REPO / ".venv" / "bin"
CLUSTER_SCRIPT = REPO / "deploy" / "local" / "kafka-cluster.sh"
PERIOD = "2025"


def quiet_port() -> int:
    """A free port below the kernel's ephemeral range, so that no client's outgoing connection
    can hold it while the server on it is restarted."""
    for _ in range(200):
        port = random.randint(20_000, 32_000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32000")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def nip(n: int, salt: int) -> str:
    """A well-formed PNS NIP (docs/domain.md §6.2), distinct per ``n`` < 8,000 for one salt."""
    day, month = 1 + n % 28, 1 + (n // 28) % 12
    seq = 1 + (n // 336) + 24 * (salt % 40)
    born = f"19{70 + salt % 20}{month:02d}{day:02d}"
    return f"{born}20{10 + salt % 10}0{1 + salt % 9}{1 + n % 2}{seq:03d}"


# --- Kafka -------------------------------------------------------------------------------


def _script_env(stack: Stack) -> dict[str, str]:
    # Only the stack's own file and the basics: deploy/local/env.sh writes what it is given back
    # to .local/<stack>/env, and this process carries test-only settings (no trace exporter).
    env = {
        k: os.environ[k] for k in ("PATH", "HOME", "LANG", "KINERJA_PORT_OFFSET") if k in os.environ
    }
    return {**env, **stack.env, "KINERJA_STACK": STACK}


class KafkaCluster:
    def __init__(self, stack: Stack) -> None:
        self._env = _script_env(stack)
        self.bootstrap = self._run("bootstrap").strip()

    def _run(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run(
            ["bash", str(CLUSTER_SCRIPT), *args],
            env=self._env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"kafka-cluster.sh {' '.join(args)}: {done.stderr[-3000:]}")
        return done.stdout

    def start(self) -> None:
        self._run("start")

    def stop(self) -> None:
        self._run("stop")

    def stop_node(self, n: int) -> None:
        self._run("stop-node", str(n))

    def start_node(self, n: int) -> None:
        self._run("start-node", str(n))

    async def create_topics(self) -> None:
        await create_topics(self.bootstrap, replication_factor=3)

    async def committed(self, group: str) -> dict[TopicPartition, int]:
        return await committed(self.bootstrap, group)


async def committed(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    """The offsets ``group`` has committed."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


# --- PostgreSQL ------------------------------------------------------------------------------


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        raise RuntimeError(
            "no /usr/lib/postgresql/*/bin/pg_ctl: deploy/local/postgres.sh installs it"
        )
    return found[-1].parent


class ScratchPostgres:
    """A throw-away cluster: trust authentication on 127.0.0.1 only, superuser ``postgres``."""

    def __init__(self) -> None:
        self.port = quiet_port()
        self.dir = Path(tempfile.mkdtemp(prefix="kinerja-resilience-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._bin = _pg_bin()

    def _as_postgres(self, *argv: str, timeout: float = 120) -> None:
        done = subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv],
            cwd="/",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]}: {done.stdout[-2000:]} {done.stderr[-2000:]}")

    def init(self) -> None:
        shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres(
            str(self._bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        self.start()

    def start(self) -> None:
        opts = (
            f"-c port={self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.dir} -c max_connections=300 "
            # fsync off: a crash here is the server process, never the machine, so every
            # commit written before it survives.
            "-c shared_buffers=64MB -c fsync=off"
        )
        self._as_postgres(
            str(self._bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
            "-t", "60", "-o", opts, "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """``immediate`` is a crash: no checkpoint, recovery from the WAL at the next start."""
        self._as_postgres(
            str(self._bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"
        )

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        # A connection per question: terminating the services' sessions may end it too.
        conn = await asyncpg.connect(self.dsn, timeout=5)
        try:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return rows
        finally:
            await conn.close()

    async def terminate_sessions(self) -> int:
        """pg_terminate_backend on every client session but this one; how many were ended."""
        rows = await self.fetch(
            "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        return sum(1 for r in rows if r["done"])


# --- processes -------------------------------------------------------------------------------


@dataclass
class Service:
    """One ``<command> serve`` process, on its own HTTP port."""

    name: str
    command: str
    env: dict[str, str]
    log: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    pids: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def spawn(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(BIN / self.command), "serve"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.pids.append(self.proc.pid)

    async def get(self, path: str) -> httpx.Response | None:
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                return await client.get(f"{self.url}{path}")
        except httpx.HTTPError:
            return None

    async def ready(self, timeout: float = 120) -> None:
        async def answers() -> bool:
            if not self.alive():
                raise AssertionError(f"{self.name} exited:\n{self.tail()}")
            r = await self.get("/readyz")
            return r is not None and r.status_code == 200

        await wait_for(answers, timeout=timeout, interval=0.25, what=f"{self.name} /readyz")

    async def start(self, timeout: float = 120) -> None:
        self.spawn()
        await self.ready(timeout)

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def migrate(command: str, env: dict[str, str]) -> None:
    done = subprocess.run(
        [str(BIN / command), "migrate"], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{command} migrate: {done.stdout}{done.stderr}")


@dataclass
class Simulator:
    url: str
    proc: subprocess.Popen[bytes]

    async def put_faults(self, script: dict[str, Any]) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            (await client.put(f"{self.url}/admin/faults", json=script)).raise_for_status()

    async def summary(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=60) as client:
            r = await client.get(f"{self.url}/ledger/summary")
            r.raise_for_status()
            body: dict[str, Any] = r.json()
            return body


def _spawn_simulator(logs: Path, port: int) -> subprocess.Popen[bytes]:
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "none"}
    with (logs / "ekinerja-sim.log").open("ab") as out:
        return subprocess.Popen(
            [str(BIN / "ekinerja-sim"), "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@contextlib.asynccontextmanager
async def simulator(logs: Path) -> AsyncIterator[Simulator]:
    """``ekinerja-sim serve`` as a process of its own: a test loop busy judging must not slow
    the answers bkn-sync waits for."""
    port = free_port()
    proc = _spawn_simulator(logs, port)
    sim = Simulator(f"http://127.0.0.1:{port}", proc)
    try:

        async def up() -> bool:
            assert proc.poll() is None, (logs / "ekinerja-sim.log").read_text()[-2000:]
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    return (await client.get(f"{sim.url}/healthz")).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_for(up, timeout=60, interval=0.2, what="e-Kinerja simulator")
        yield sim
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


# --- the system under test -------------------------------------------------------------------


@dataclass
class System:
    """bkn-sync replicas and one predikat on ``bootstrap`` and ``pg``, each service in its own
    schema and consumer groups that start at the end of every topic."""

    bootstrap: str
    pg: ScratchPostgres
    sim: Simulator
    logs: Path
    jwks_url: str
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    bkn: list[Service] = field(default_factory=list)
    predikat: Service | None = None

    @property
    def bkn_schema(self) -> str:
        return f"bkn_sync_r{self.tag}"

    @property
    def predikat_schema(self) -> str:
        return f"predikat_r{self.tag}"

    @property
    def bkn_group(self) -> str:
        return f"bkn-sync.res-{self.tag}"

    @property
    def predikat_group(self) -> str:
        return f"predikat.res-{self.tag}"

    def bkn_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "KINERJA_FAILPOINT"}
        env.update(
            {
                "BKN_SYNC_DATABASE_URL": self.pg.dsn,
                "BKN_SYNC_DB_SCHEMA": self.bkn_schema,
                "BKN_SYNC_CONSUMER_GROUP": self.bkn_group,
                "BKN_SYNC_KAFKA_BOOTSTRAP": self.bootstrap,
                "BKN_SYNC_EKINERJA_URL": self.sim.url,
                "BKN_SYNC_JWT_JWKS_URL": self.jwks_url,
                "BKN_SYNC_EKINERJA_TIMEOUT_SECONDS": "2",
                "BKN_SYNC_QUICK_ATTEMPTS": "2",
                "BKN_SYNC_QUICK_WAIT_MAX_SECONDS": "0.2",
                "BKN_SYNC_RETRY_DELAYS_SECONDS": "[0.5, 1, 2]",
                "BKN_SYNC_RETRY_HOLD_MAX_SECONDS": "3",
                "BKN_SYNC_DELIVERY_WORKERS": "6",
                "BKN_SYNC_DB_POOL_MAX": "20",
                "BKN_SYNC_OUTBOX_POLL_SECONDS": "0.2",
                # Faults on purpose are not e-Kinerja down: the breaker is not under test here.
                "BKN_SYNC_BREAKER_FAILURE_RATIO": "0.8",
                "OTEL_TRACES_EXPORTER": "none",
                **extra,
            }
        )
        return env

    def predikat_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "KINERJA_FAILPOINT"}
        env.update(
            {
                "PREDIKAT_DATABASE_URL": self.pg.dsn,
                "PREDIKAT_DB_SCHEMA": self.predikat_schema,
                "PREDIKAT_CONSUMER_GROUP": self.predikat_group,
                "PREDIKAT_KAFKA_BOOTSTRAP": self.bootstrap,
                "PREDIKAT_JWT_JWKS_URL": self.jwks_url,
                "PREDIKAT_OUTBOX_POLL_SECONDS": "0.2",
                "OTEL_TRACES_EXPORTER": "none",
            }
        )
        return env

    async def prepare(
        self, bkn_replicas: int = 1, *, with_predikat: bool = True, **bkn_extra: str
    ) -> None:
        migrate("bkn_sync", self.bkn_env())
        migrate("predikat", self.predikat_env())
        await start_groups_at_end(self.bootstrap, [self.bkn_group, self.predikat_group])
        for i in range(bkn_replicas):
            port = free_port()
            env = self.bkn_env(BKN_SYNC_HTTP_PORT=str(port), **bkn_extra)
            self.bkn.append(
                Service(
                    f"bkn_sync-{i + 1}", "bkn_sync", env, self.logs / f"bkn_sync-{i + 1}.log", port
                )
            )
        if with_predikat:
            port = free_port()
            env = {**self.predikat_env(), "PREDIKAT_HTTP_PORT": str(port)}
            self.predikat = Service("predikat", "predikat", env, self.logs / "predikat.log", port)

    @property
    def services(self) -> list[Service]:
        return [*self.bkn, *([self.predikat] if self.predikat else [])]

    async def start(self) -> None:
        for s in self.services:
            s.spawn()
        await asyncio.gather(*(s.ready() for s in self.services))

    def stop(self) -> None:
        for s in self.services:
            s.stop()

    async def relay_leader(self) -> Service | None:
        for s in self.bkn:
            r = await s.get("/healthz/relay")
            if r is not None and r.json().get("relay") == "leading":
                return s
        return None


@dataclass(frozen=True)
class Landed:
    """Where one record landed, and the slot and version it carries."""

    topic: str
    partition: int
    offset: int
    kind: str
    nip: str
    version: int


@dataclass
class Work:
    """One SKP and one predikat per teacher; predikat's own rows stand in for its *Kirim*."""

    nips: list[str]
    landed: list[Landed] = field(default_factory=list)
    newest_skp: dict[str, int] = field(default_factory=dict)
    with_predikat: bool = True
    skp_topic: str = PLAN_AGREED.name
    predikat_topic: str = PREDIKAT_DITETAPKAN.name
    # The period of every record and row (bench/chaos.py: the one planning has open today).
    period: str = PERIOD

    @classmethod
    def of(cls, teachers: int, **options: Any) -> Work:
        salt = random.randint(0, 10_000)
        return cls([nip(i, salt) for i in range(teachers)], **options)

    @property
    def deliveries(self) -> int:
        return (2 if self.with_predikat else 1) * len(self.nips)

    async def seed_predikat(self, system: System) -> None:
        from predikat.domain.delivery import delivery_id

        p = self.period
        rows = [(n, p, "20100001", self.nips[0], delivery_id(n, p, 1)) for n in self.nips]
        conn = await asyncpg.connect(system.pg.dsn)
        try:
            await conn.executemany(
                f'INSERT INTO "{system.predikat_schema}".teacher_predikat (nip, period_id, npsn, '
                "atasan_nip, hasil_kerja, perilaku_kerja, recommended_predikat, predikat, state, "
                "version, delivery_id, delivery_state) VALUES ($1, $2, $3, $4, 'SESUAI', "
                "'SESUAI', 'BAIK', 'BAIK', 'DITETAPKAN', 1, $5, 'menunggu')",
                rows,
            )
        finally:
            await conn.close()

    async def produce(
        self, bootstrap: str, newer_skp_of: Sequence[str] = (), *, skp: bool = True
    ) -> None:
        """SKP first, then the predikat, as a Kirim after the plan would; both keyed by NIP.
        With ``newer_skp_of``, only version 2 of those teachers' SKP (a plan agreed again).
        Without ``skp``, the predikat only (the SKP comes from planning itself)."""
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, linger_ms=20, acks="all", enable_idempotence=True
        )
        await producer.start()
        now = datetime.now(UTC)
        version = 2 if newer_skp_of else 1
        try:
            futures: list[tuple[str, str, int, Any]] = []
            for n in newer_skp_of or (self.nips if skp else ()):
                self.newest_skp[n] = version
                plan = PlanAgreed(
                    plan_id=f"plan-{n}", nip=n, npsn="20100001", period_id=self.period,
                    version=version,
                    atasan_nip=self.nips[0], sub_indikator="Pembelajaran berdiferensiasi",
                    indikator_kompetensi="Pengelolaan kelas", tugas_pokok=["Mengajar"],
                    tugas_tambahan=[], perilaku_fokus=["Berorientasi Pelayanan"], agreed_at=now,
                )  # fmt: skip
                value = PLAN_AGREED.envelope(n, plan).model_dump_json().encode()
                sent = await producer.send(self.skp_topic, value, key=n.encode())
                futures.append(("SKP", n, version, sent))
            for n in () if newer_skp_of or not self.with_predikat else self.nips:
                predikat = PredikatDitetapkan(
                    nip=n, npsn="20100001", period_id=self.period, version=1, predikat="BAIK",
                    hasil_kerja="SESUAI", perilaku_kerja="SESUAI", predikat_organisasi="BAIK",
                    penilai_nip=self.nips[0], ditetapkan_at=now,
                )  # fmt: skip
                value = PREDIKAT_DITETAPKAN.envelope(n, predikat).model_dump_json().encode()
                sent = await producer.send(self.predikat_topic, value, key=n.encode())
                futures.append(("PREDIKAT", n, 1, sent))
            for kind, n, v, sent in futures:
                meta = await sent
                self.landed.append(Landed(meta.topic, meta.partition, meta.offset, kind, n, v))
        finally:
            await producer.stop()

    # --- judgements ---------------------------------------------------------------------

    async def delivered(self, system: System) -> int:
        rows = await system.pg.fetch(
            f'SELECT count(*) AS n FROM "{system.bkn_schema}".deliveries '
            "WHERE state = 'DELIVERED' AND nip = ANY($1::text[])",
            self.nips,
        )
        return int(rows[0]["n"])

    async def states(self, system: System) -> dict[str, int]:
        rows = await system.pg.fetch(
            "SELECT kind || ':' || state AS s, count(*) AS n "
            f'FROM "{system.bkn_schema}".deliveries WHERE nip = ANY($1::text[]) GROUP BY 1',
            self.nips,
        )
        return {r["s"]: r["n"] for r in rows}

    async def predikat_views(self, system: System) -> dict[str, int]:
        rows = await system.pg.fetch(
            "SELECT delivery_state, count(*) AS n "
            f'FROM "{system.predikat_schema}".teacher_predikat '
            "WHERE nip = ANY($1::text[]) GROUP BY 1",
            self.nips,
        )
        return {r["delivery_state"]: r["n"] for r in rows}

    async def ledger(
        self, sim: Simulator
    ) -> tuple[dict[tuple[str, str], tuple[int, int]], dict[str, Any]]:
        """(accepted records, current version) per (kind, nip) of this work's teachers, and the
        whole summary."""
        summary = await sim.summary()
        mine = set(self.nips)
        accepted = {
            (t["kind"], t["nip"]): (t["accepted"], t["current_version"])
            for t in summary["targets"]
            if t["nip"] in mine and t["period"] == self.period
        }
        return accepted, summary

    async def stored_versions(self, system: System) -> dict[tuple[str, str], int]:
        """The version each slot's row holds: a record is stored once its slot holds its
        version or a newer one (a newer version replaces the row's source)."""
        rows = await system.pg.fetch(
            f'SELECT kind, nip, version FROM "{system.bkn_schema}".deliveries '
            "WHERE nip = ANY($1::text[])",
            self.nips,
        )
        return {(r["kind"], r["nip"]): r["version"] for r in rows}


class OffsetWatch:
    """Samples, again and again while the run goes on, bkn-sync's committed source offsets and
    then the rows stored: a record below a committed offset whose delivery row is missing is
    an offset committed for work not stored. Rows are never deleted, so reading the offsets
    first and the rows second can only miss a violation, never invent one."""

    def __init__(self, cluster: KafkaCluster, system: System, work: Work) -> None:
        self.cluster, self.system, self.work = cluster, system, work
        self.checked = 0
        self.max_committed_records = 0
        self.violations: set[Landed] = set()
        self._task: asyncio.Task[None] | None = None

    async def sample(self) -> None:
        committed: dict[TopicPartition, int] = {}
        for topic in (PLAN_AGREED.name, PREDIKAT_DITETAPKAN.name):
            got = await self.cluster.committed(f"{self.system.bkn_group}:{topic}")
            committed.update({tp: off for tp, off in got.items() if tp.topic == topic})
        stored = await self.work.stored_versions(self.system)
        below = [
            r
            for r in self.work.landed
            if r.offset < committed.get(TopicPartition(r.topic, r.partition), 0)
        ]
        self.violations.update(r for r in below if stored.get((r.kind, r.nip), 0) < r.version)
        self.max_committed_records = max(self.max_committed_records, len(below))
        self.checked += 1

    async def sampled(self, seconds: float = 20) -> bool:
        """One sample, bounded: whether it was taken. Kafka or PostgreSQL away (what a run is
        about) fails it, and so does an admin call that never answers: a test waits for a
        sample with ``wait_for`` and a deadline, never on one call (a CI run once hung 14
        minutes on a bare ``sample()`` after every delivery was done)."""
        try:
            await asyncio.wait_for(self.sample(), timeout=seconds)
        except Exception:  # whatever stops a sample, the next may be taken
            return False
        return True

    async def _run(self) -> None:
        while True:
            await self.sampled()
            await asyncio.sleep(0.5)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def judge(system: System, work: Work) -> dict[str, Any]:
    """Every delivery DELIVERED, predikat told of each, e-Kinerja holding each slot's newest
    version, each version accepted once (a version sent under a second key would be a second
    accepted record), and no older version sent after a newer one was held (a 409 stale)."""
    assert await work.states(system) == {
        "SKP:DELIVERED": len(work.nips),
        "PREDIKAT:DELIVERED": len(work.nips),
    }
    accepted, summary = await work.ledger(system.sim)
    newest = {("skp", n): work.newest_skp.get(n, 1) for n in work.nips}
    newest.update({("predikat", n): 1 for n in work.nips})
    lost = {k for k, v in newest.items() if k not in accepted or accepted[k][1] != v}
    # A slot whose teacher agreed a plan twice may hold both versions, each once.
    doubled = {k: accepted[k][0] for k in accepted if accepted[k][0] > newest[k]}
    assert not lost, f"{len(lost)} never reached e-Kinerja as sent, e.g. {sorted(lost)[:3]}"
    assert not doubled, f"applied more than once: {dict(list(doubled.items())[:5])}"
    stale = int(summary["outcomes"].get("stale", 0))
    assert stale == 0, f"{stale} older versions sent after a newer one was held"
    return {"lost": len(lost), "doubled": len(doubled), "attempts": int(summary["attempts"])}


# --- waiting on the run ------------------------------------------------------------------------


async def answer(service: Service, path: str) -> tuple[int, dict[str, Any]] | None:
    r = await service.get(path)
    return None if r is None else (r.status_code, r.json())


async def in_flight(system: System, work: Work, share: float) -> int:
    """Waits until ``share`` of the deliveries are done, and checks that not all of them are:
    a disruption after the work was over would prove nothing."""
    want = int(work.deliveries * share)

    async def reached() -> int | None:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            n = await work.delivered(system)
            return n if n >= want else None
        return None

    done: int = await wait_for(reached, timeout=300, interval=0.3, what=f"{want} delivered")
    assert done < work.deliveries, "the disruption came after the work was done"
    return done


async def all_done(system: System, work: Work, timeout: float = 420) -> None:
    """Every delivery DELIVERED and predikat showing each teacher's as terkirim."""

    async def done() -> bool:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            return await work.delivered(system) == work.deliveries and (
                await work.predikat_views(system)
            ) == {"terkirim": len(work.nips)}
        return False

    await wait_for(done, timeout=timeout, interval=1, what="every delivery done and told")


async def back_by_themselves(system: System) -> None:
    """Each service is the process it was at the start and says it is well again."""
    for service in system.services:
        assert service.alive(), service.tail()
        assert len(service.pids) == 1, service.name
        for path in ("/readyz", "/healthz/broker", "/healthz/relay"):
            await answers_ok(service, path)


async def answers_ok(service: Service, path: str) -> None:
    """Waits until ``service`` answers ``path`` with 200 (a restarted replica first takes its
    part again: the relay's lease, the broker's metadata)."""

    async def healthy() -> bool:
        got = await answer(service, path)
        return got is not None and got[0] == 200

    await wait_for(healthy, timeout=90, interval=0.5, what=f"{service.name} {path}")
