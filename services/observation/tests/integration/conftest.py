"""The observation app on the real stack: a fresh schema, its own consumer group, real Kafka,
and a clock the tests move."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from kinerja_shared.auth import DevIdentityProvider
from kinerja_shared.events.planning import PlanAgreed
from kinerja_shared.events.roster import Pegawai, Sekolah, StatusKepegawaian
from kinerja_shared.topics import PLAN_AGREED, ROSTER_PEGAWAI, ROSTER_SEKOLAH, Topic
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.service import running_service
from kinerja_tools.testing.stack import Stack
from observation.app import create_app
from observation.config import Settings

MIGRATIONS = Path(__file__).parents[2] / "src" / "observation" / "migrations"


def random_nip() -> str:
    """Birth date(8) + TMT yyyymm(6) + gender(1) + serial(3), all plausible."""
    born = date(1970, 1, 1) + timedelta(days=secrets.randbelow(25 * 365))
    tmt_year = born.year + 22 + secrets.randbelow(10)
    tmt_month = 1 + secrets.randbelow(12)
    gender = 1 + secrets.randbelow(2)
    return f"{born:%Y%m%d}{tmt_year}{tmt_month:02d}{gender}{secrets.randbelow(1000):03d}"


def plan_agreed(
    nip: str, school: School, *, version: int = 1, sub: str = "D1.1", period_id: str = "2026"
) -> PlanAgreed:
    return PlanAgreed(
        plan_id=f"PLAN-{nip}",
        nip=nip,
        npsn=school.npsn,
        period_id=period_id,
        version=version,
        atasan_nip=school.ks,
        sub_indikator=sub,
        indikator_kompetensi="KP.1",
        tugas_pokok=["Mengajar"],
        tugas_tambahan=[],
        perilaku_fokus=["KOLABORATIF"],
        agreed_at=datetime.now(UTC),
    )


def random_npsn() -> str:
    return f"{20_000_000 + secrets.randbelow(9_999_999):08d}"


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 3, 2, 1, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class School:
    npsn: str
    kode_wilayah: str
    ks: str


@dataclass
class Env:
    client: httpx.AsyncClient
    idp: DevIdentityProvider
    producer: AIOKafkaProducer
    stack: Stack
    schema: str
    clock: Clock
    group: str

    def guru(self, nip: str, school: School) -> dict[str, str]:
        return self._auth("guru", nip, school.npsn)

    def ks(self, nip: str, school: School) -> dict[str, str]:
        return self._auth("kepala_sekolah", nip, school.npsn)

    def _auth(self, role: str, nip: str, npsn: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.idp.mint(role=role, nip=nip, npsn=npsn)}"}

    async def school(self) -> School:
        """A school with its Kepala Sekolah on the roster."""
        school = School(random_npsn(), f"{3100 + secrets.randbelow(99):04d}", random_nip())
        await self.publish(
            ROSTER_SEKOLAH,
            school.npsn,
            Sekolah(npsn=school.npsn, nama="SMP Negeri Uji", kode_wilayah=school.kode_wilayah),
        )
        await self.teacher(school, nip=school.ks, atasan=None, jenis_ptk="Kepala Sekolah")
        return school

    async def teacher(
        self,
        school: School,
        *,
        nip: str | None = None,
        atasan: str | None = "",
        jenis_ptk: str = "Guru Mapel",
    ) -> str:
        """Publish a roster entry and wait until this service's projection has it."""
        nip = nip or random_nip()
        atasan_nip = school.ks if atasan == "" else atasan
        payload = Pegawai(
            nip=nip,
            nama=f"Guru {nip[-4:]}",
            npsn=school.npsn,
            jenis_ptk=jenis_ptk,
            status_kepegawaian=StatusKepegawaian.PNS,
            kode_wilayah=school.kode_wilayah,
            atasan_nip=atasan_nip,
        )
        await self.publish(ROSTER_PEGAWAI, nip, payload)

        async def projected() -> bool:
            row = await self.fetchrow("SELECT atasan_nip FROM roster_pegawai WHERE nip = $1", nip)
            return row is not None and row["atasan_nip"] == atasan_nip

        await wait_for(projected, timeout=60, what=f"roster entry {nip} in the projection")
        return nip

    async def agree_plan(
        self, nip: str, school: School, *, version: int = 1, sub: str = "D1.1"
    ) -> None:
        """Publish plan.agreed and wait until the observation reflects that version."""
        await self.publish(PLAN_AGREED, nip, plan_agreed(nip, school, version=version, sub=sub))

        async def opened() -> bool:
            row = await self.fetchrow(
                "SELECT plan_version FROM observations WHERE nip = $1 AND period_id = '2026'", nip
            )
            return row is not None and row["plan_version"] == version

        await wait_for(opened, timeout=60, what=f"observation of {nip} at plan v{version}")

    async def publish(self, topic: Topic[Any], key: str, payload: Any) -> None:
        envelope = topic.envelope(key, payload)
        await self.producer.send_and_wait(
            topic.name, envelope.model_dump_json().encode(), key=key.encode()
        )

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        conn = await asyncpg.connect(
            self.stack.pg_admin_dsn, server_settings={"search_path": self.schema}
        )
        try:
            row: asyncpg.Record | None = await conn.fetchrow(sql, *args)
            return row
        finally:
            await conn.close()


async def events_for(
    stack: Stack, topic: Topic[Any], nip: str, *, at_least: int = 1, timeout: float = 30
) -> list[Any]:
    """The envelopes on ``topic`` keyed by ``nip``, read from the start with no group."""
    consumer = AIOKafkaConsumer(
        topic.name,
        bootstrap_servers=stack.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while len(found) < at_least:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(found)} of {at_least} events for {nip} on {topic.name}")
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found.extend(topic.decode(r.value) for r in records if r.key == nip.encode())
    finally:
        await consumer.stop()
    return found


@pytest.fixture(scope="session")
async def env(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    tmp = tmp_path_factory.mktemp("observation")
    clock = Clock()
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        async with running_service(
            stack,
            "observation",
            lambda settings: create_app(settings, clock=clock),
            Settings,
            MIGRATIONS,
            tmp / "idp",
        ) as svc:
            yield Env(svc.client, svc.idp, producer, stack, svc.schema, clock, "observation")
    finally:
        await producer.stop()
