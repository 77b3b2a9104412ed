"""The real stack for bkn-sync: this service on a fresh schema, the e-Kinerja simulator served
over real HTTP by uvicorn, and Kafka clients to feed input and watch the status topic."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import BaseModel

from bkn_sync.app import create_app
from bkn_sync.config import Settings
from kinerja_shared.auth import DevIdentityProvider
from kinerja_shared.events.planning import PlanAgreed
from kinerja_shared.events.predikat import PredikatDitetapkan
from kinerja_shared.events.roster import Pegawai, Sekolah
from kinerja_shared.topics import (
    BKN_DELIVERY_STATUS,
    PLAN_AGREED,
    PREDIKAT_DITETAPKAN,
    ROSTER_PEGAWAI,
    ROSTER_SEKOLAH,
    Topic,
)
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.http import SIMULATOR_CLIENT_LIMITS
from kinerja_tools.testing.kafka import own_topics
from kinerja_tools.testing.service import ServiceUnderTest, running_service
from kinerja_tools.testing.stack import Stack

MIGRATIONS = Path(__file__).resolve().parents[2] / "src" / "bkn_sync" / "migrations"
DLQ_TOPIC = "kinerja.bkn-sync.dlq.v1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def new_nip() -> str:
    """A valid PNS NIP no other test run will pick: birthdate, TMT, gender, sequence."""
    year = random.randint(1970, 1995)
    born = f"{year}{random.randint(1, 12):02d}{random.randint(1, 28):02d}"
    tmt = f"{year + random.randint(20, 28)}{random.randint(1, 12):02d}"
    return f"{born}{tmt}{random.randint(1, 2)}{random.randint(1, 999):03d}"


def new_npsn() -> str:
    return f"{random.randint(10_000_000, 99_999_999)}"


@pytest.fixture(scope="session")
async def ekinerja() -> AsyncIterator[httpx.AsyncClient]:
    from ekinerja_sim.app import create_app as create_sim

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_sim(), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return bool(server.started)

    await wait_for(started, timeout=10, what="e-Kinerja simulator listening")
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=SIMULATOR_CLIENT_LIMITS
    ) as client:
        yield client
    server.should_exit = True
    await task


@dataclass
class StatusWatch:
    """Every delivery-status event seen since the session started."""

    events: list[dict[str, Any]] = field(default_factory=list)
    # The DLQ keeps what it was given: a JSON record parsed, unreadable bytes as they came.
    dlq: list[tuple[Any, dict[str, str]]] = field(default_factory=list)

    def of(self, nip: str) -> list[dict[str, Any]]:
        return [e["payload"] for e in self.events if e["subject"] == nip]


@pytest.fixture(scope="session")
async def watch(stack: Stack) -> AsyncIterator[StatusWatch]:
    found = StatusWatch()
    consumer = AIOKafkaConsumer(
        BKN_DELIVERY_STATUS.name,
        DLQ_TOPIC,
        bootstrap_servers=stack.kafka_bootstrap,
        group_id=f"bkn-sync-test-{secrets.token_hex(4)}",
        auto_offset_reset="latest",
    )
    await consumer.start()
    # "latest" is fixed at assignment: wait for it so nothing published afterwards is missed.
    while not consumer.assignment():
        await consumer.getmany(timeout_ms=100)
    for tp in consumer.assignment():
        await consumer.position(tp)

    async def pump() -> None:
        async for msg in consumer:
            if msg.topic == DLQ_TOPIC:
                headers = {k: v.decode() for k, v in msg.headers}
                try:
                    found.dlq.append((json.loads(msg.value), headers))
                except ValueError:
                    found.dlq.append((msg.value, headers))
            else:
                found.events.append(json.loads(msg.value))

    task = asyncio.create_task(pump())
    yield found
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await consumer.stop()


@pytest.fixture(scope="session")
async def producer(stack: Stack) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, enable_idempotence=True)
    await p.start()
    yield p
    await p.stop()


@dataclass(frozen=True)
class Sources:
    """The source topics bkn-sync reads in this session: its own, not the registry's."""

    skp: str
    predikat: str

    def name_of(self, topic: Topic[Any]) -> str:
        return {PLAN_AGREED.name: self.skp, PREDIKAT_DITETAPKAN.name: self.predikat}.get(
            topic.name, topic.name
        )

    def settings(self) -> dict[str, str]:
        return {"skp_topic": self.skp, "predikat_topic": self.predikat}


@asynccontextmanager
async def private_sources(bootstrap: str, partitions: int = 12) -> AsyncIterator[Sources]:
    """Fresh source topics, deleted afterwards. The session's instances stay up while other
    services' tests publish plans and predikat to the registry's topics: reading those, they
    would deliver them and tell those tests' teachers statuses nobody asked for."""
    tag = secrets.token_hex(4)
    sources = Sources(f"{PLAN_AGREED.name}.test-{tag}", f"{PREDIKAT_DITETAPKAN.name}.test-{tag}")
    async with own_topics(bootstrap, [sources.skp, sources.predikat], partitions):
        yield sources


@pytest.fixture(scope="session")
async def sources(stack: Stack) -> AsyncIterator[Sources]:
    async with private_sources(stack.kafka_bootstrap) as made:
        yield made


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> DevIdentityProvider:
    return DevIdentityProvider(tmp_path_factory.mktemp("idp"))


@asynccontextmanager
async def bkn_sync_running(
    stack: Stack, idp: DevIdentityProvider, sources: Sources, **settings: Any
) -> AsyncIterator[ServiceUnderTest]:
    """bkn-sync on a fresh schema with groups of its own, started at the end of every topic
    (the hundreds of predikat records other sessions left, each without an SKP, are not this
    session's to walk through the retry tiers), reading the session's own source topics."""
    async with running_service(
        stack,
        "bkn-sync",
        create_app,
        Settings,
        MIGRATIONS,
        idp.directory,
        **{
            "quick_attempts": 2,
            "quick_wait_max_seconds": 0.2,
            "retry_delays_seconds": (1.0, 1.0, 1.0),
            "retry_hold_max_seconds": 5.0,
            **sources.settings(),
            **settings,
        },
    ) as running:
        yield running


@pytest.fixture(scope="session")
def bkn_sync(stack: Stack, idp: DevIdentityProvider, sources: Sources) -> Any:
    """``async with bkn_sync(**settings) as running``: an instance of a module's own, reading
    the session's source topics (from their start: they are not in the registry, so its groups
    are not started at their end), or ``own=`` topics of its own."""

    def start(*, own: Sources | None = None, **settings: Any) -> Any:
        return bkn_sync_running(stack, idp, own or sources, **settings)

    return start


@pytest.fixture(scope="session")
def own_sources(stack: Stack) -> Any:
    """``async with own_sources() as made``: fresh source topics for one instance that must
    see only what its test publishes (``feed_to(made)`` publishes there)."""

    def make() -> Any:
        return private_sources(stack.kafka_bootstrap)

    return make


@pytest.fixture(scope="session")
def feed_to(producer: AIOKafkaProducer) -> Any:
    def make(sources: Sources) -> Feed:
        return Feed(producer, sources)

    return make


@pytest.fixture(scope="session")
async def running(
    stack: Stack,
    ekinerja: httpx.AsyncClient,
    watch: StatusWatch,
    idp: DevIdentityProvider,
    sources: Sources,
) -> AsyncIterator[ServiceUnderTest]:
    async with bkn_sync_running(
        stack, idp, sources, ekinerja_url=str(ekinerja.base_url), ekinerja_timeout_seconds=3.0
    ) as running:
        yield running


@pytest.fixture(scope="session")
def service(running: ServiceUnderTest) -> httpx.AsyncClient:
    return running.client


@pytest.fixture(scope="session")
def known(running: ServiceUnderTest) -> Callable[[Teacher], Awaitable[None]]:
    """``await known(t)``: the session's bkn-sync has ``t`` in its roster projection. A test
    about a roster *fix* waits for it first: the entry's first arrival also redrives what a
    roster fix would, so arriving late it would look like a fix made too early."""

    async def wait(t: Teacher) -> None:
        sql = "SELECT 1 FROM roster_pegawai WHERE nip = $1"
        await wait_for(lambda: running.fetch(sql, t.nip), what=f"roster of {t.nip} in bkn-sync")

    return wait


@dataclass
class Teacher:
    nip: str
    npsn: str
    area: str
    atasan_nip: str


def agreed(t: Teacher, version: int = 1, period: str = "2025") -> PlanAgreed:
    """The agreed plan planning would publish for ``t``; each version's content differs."""
    return PlanAgreed(
        plan_id=f"plan-{t.nip}",
        nip=t.nip,
        npsn=t.npsn,
        period_id=period,
        version=version,
        atasan_nip=t.atasan_nip,
        sub_indikator="Pembelajaran berdiferensiasi",
        indikator_kompetensi="Pengelolaan kelas",
        tugas_pokok=[f"Mengajar, versi {version}"],
        tugas_tambahan=[],
        perilaku_fokus=["Berorientasi Pelayanan"],
        agreed_at=datetime.now(UTC),
    )


class Feed:
    def __init__(self, producer: AIOKafkaProducer, sources: Sources) -> None:
        self._producer = producer
        self.sources = sources

    async def publish(self, topic: Topic[Any], subject: str, payload: BaseModel) -> None:
        value = topic.envelope(subject, payload).model_dump_json().encode()
        await self._producer.send_and_wait(self.sources.name_of(topic), value, key=subject.encode())

    async def teacher(self, *, nama: str = "Guru Uji", atasan_nip: str | None = None) -> Teacher:
        area = f"{random.randint(11, 94)}{random.randint(1, 99):02d}"
        t = Teacher(new_nip(), new_npsn(), area, atasan_nip or new_nip())
        await self.publish(
            ROSTER_SEKOLAH, t.npsn, Sekolah(npsn=t.npsn, nama="SD Uji", kode_wilayah=t.area)
        )
        await self.roster(t, nama=nama)
        return t

    def school(self, n: int) -> list[Teacher]:
        """Teachers of one fresh school, unpublished: a delivery needs no roster record."""
        npsn = new_npsn()
        return [Teacher(new_nip(), npsn, "3171", new_nip()) for _ in range(n)]

    async def roster(self, t: Teacher, *, nama: str) -> None:
        await self.publish(
            ROSTER_PEGAWAI,
            t.nip,
            Pegawai(
                nip=t.nip,
                nama=nama,
                npsn=t.npsn,
                jenis_ptk="Guru Mapel",
                status_kepegawaian="PNS",
                kode_wilayah=t.area,
                atasan_nip=t.atasan_nip,
            ),
        )

    async def plan_agreed(self, t: Teacher, version: int = 1, period: str = "2025") -> None:
        await self.publish(PLAN_AGREED, t.nip, agreed(t, version, period))

    async def predikat(self, t: Teacher, version: int = 1, period: str = "2025") -> None:
        await self.publish(
            PREDIKAT_DITETAPKAN,
            t.nip,
            PredikatDitetapkan(
                nip=t.nip,
                npsn=t.npsn,
                period_id=period,
                version=version,
                predikat="BAIK",
                hasil_kerja="SESUAI_EKSPEKTASI",
                perilaku_kerja="SESUAI_EKSPEKTASI",
                predikat_organisasi="BAIK",
                penilai_nip=t.atasan_nip,
                ditetapkan_at=datetime.now(UTC),
            ),
        )


@pytest.fixture(scope="session")
def feed(producer: AIOKafkaProducer, sources: Sources) -> Feed:
    return Feed(producer, sources)
