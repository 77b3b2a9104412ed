"""The predikat service on the real stack: fresh schema and consumer group per session."""

from __future__ import annotations

import contextlib
import random
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import BaseModel

import predikat
from kinerja_shared import telemetry
from kinerja_shared.auth import DevIdentityProvider
from kinerja_shared.events.assessment import AssessmentRecommended
from kinerja_shared.events.bkn_sync import DeliveryState, DeliveryStatus, RecordKind
from kinerja_shared.events.roster import Pegawai, Sekolah, StatusKepegawaian
from kinerja_shared.topics import (
    ASSESSMENT_RECOMMENDED,
    BKN_DELIVERY_STATUS,
    ROSTER_PEGAWAI,
    ROSTER_SEKOLAH,
    Topic,
)
from kinerja_tools.testing.service import running_service
from kinerja_tools.testing.stack import Stack
from predikat.app import create_app
from predikat.config import Settings
from predikat.domain.delivery import delivery_id

PERIOD = "2025"
# Schools here treat the curve as a hard rule; random areas never start with it.
STRICT_AREA = "99"


def random_nip() -> str:
    rng = random.SystemRandom()
    born = f"{rng.randint(1965, 1999)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    tmt = f"{rng.randint(2005, 2022)}{rng.randint(1, 12):02d}"
    return f"{born}{tmt}{rng.randint(1, 2)}{rng.randint(1, 999):03d}"


def random_digits(n: int) -> str:
    return "".join(random.SystemRandom().choice("0123456789") for _ in range(n))


@dataclass
class Env:
    client: httpx.AsyncClient
    producer: AIOKafkaProducer
    idp: DevIdentityProvider
    schema: str
    admin_dsn: str
    kafka_bootstrap: str
    # bkn-sync's news, on a topic of the session's own: another run's bkn-sync on the shared
    # broker (a benchmark's, a hostile-conditions test's) delivers these teachers' predikat too
    # and tells its own news of them on the registry's topic.
    status_topic: str

    async def publish(self, topic: Topic[Any], subject: str, payload: BaseModel) -> None:
        raw = topic.envelope(subject, payload).model_dump_json().encode()
        # In the caller's trace, as a service's outbox would publish it.
        headers = [(k, v.encode()) for k, v in telemetry.current_trace_headers().items()]
        await self.producer.send_and_wait(
            topic.name, raw, key=subject.encode(), headers=headers or None
        )

    def auth(self, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.idp.mint(**claims)}"}

    async def fetchval(self, sql: str, *args: Any) -> Any:
        conn = await self.connect()
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def connect(self) -> asyncpg.Connection:
        """A connection to the service's own schema."""
        return await asyncpg.connect(self.admin_dsn, server_settings={"search_path": self.schema})


@dataclass
class School:
    env: Env
    npsn: str
    area: str
    ks: str
    teachers: list[str] = field(default_factory=list)

    @property
    def ks_auth(self) -> dict[str, str]:
        return self.env.auth(role="kepala_sekolah", nip=self.ks, npsn=self.npsn)

    @property
    def dinas_auth(self) -> dict[str, str]:
        return self.env.auth(role="dinas", area=self.area)

    def guru_auth(self, nip: str) -> dict[str, str]:
        return self.env.auth(role="guru", nip=nip, npsn=self.npsn)

    async def recommend(self, nip: str, predikat: str) -> None:
        await self.env.publish(
            ASSESSMENT_RECOMMENDED,
            nip,
            AssessmentRecommended(
                assessment_id=f"{nip}:{PERIOD}",
                nip=nip,
                npsn=self.npsn,
                period_id=PERIOD,
                atasan_nip=self.ks,
                hasil_kerja="SESUAI_EKSPEKTASI",
                perilaku_kerja="SESUAI_EKSPEKTASI",
                recommended_predikat=predikat,
            ),
        )

    def status_of(self, nip: str, version: int, state: DeliveryState, **extra: Any) -> Any:
        """bkn-sync's status event about ``nip``'s ``version``, as an envelope."""
        return BKN_DELIVERY_STATUS.envelope(
            nip,
            DeliveryStatus(
                delivery_id=delivery_id(nip, PERIOD, version),
                kind=RecordKind.PREDIKAT,
                nip=nip,
                npsn=self.npsn,
                period_id=PERIOD,
                version=version,
                state=state,
                attempts=1,
                at=datetime.now(UTC),
                **extra,
            ),
        )

    async def status(self, nip: str, version: int, state: DeliveryState, **extra: Any) -> None:
        envelope = self.status_of(nip, version, state, **extra)
        await self.env.producer.send_and_wait(
            self.env.status_topic, envelope.model_dump_json().encode(), key=nip.encode()
        )


@pytest.fixture(scope="session")
async def env(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    status_topic = f"{BKN_DELIVERY_STATUS.name}.test-{secrets.token_hex(4)}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    try:
        await admin.create_topics(
            [NewTopic(status_topic, BKN_DELIVERY_STATUS.partitions, replication_factor=1)]
        )
        await producer.start()
        async with running_service(
            stack,
            "predikat",
            create_app,
            Settings,
            Path(predikat.__file__).parent / "migrations",
            tmp_path_factory.mktemp("idp"),
            strict_distribution_areas=[STRICT_AREA],
            delivery_status_topic=status_topic,
        ) as svc:
            yield Env(
                svc.client,
                producer,
                svc.idp,
                svc.schema,
                stack.pg_admin_dsn,
                stack.kafka_bootstrap,
                status_topic,
            )
    finally:
        await producer.stop()
        with contextlib.suppress(Exception):
            await admin.delete_topics([status_topic])
        await admin.close()


async def make_school(env: Env, n_teachers: int, area: str | None = None) -> School:
    """A school of its own area with a KS and ``n_teachers`` teachers, known to the service."""
    area = area or f"{random.SystemRandom().randint(10, 98)}{random_digits(2)}"
    school = School(env, npsn=random_digits(8), area=area, ks=random_nip())
    await env.publish(
        ROSTER_SEKOLAH,
        school.npsn,
        Sekolah(npsn=school.npsn, nama="SD Negeri Uji", kode_wilayah=school.area),
    )
    await env.publish(
        ROSTER_PEGAWAI,
        school.ks,
        Pegawai(
            nip=school.ks,
            nama="Kepala",
            npsn=school.npsn,
            jenis_ptk="Kepala Sekolah",
            status_kepegawaian=StatusKepegawaian.PNS,
            kode_wilayah=school.area,
        ),
    )
    for _ in range(n_teachers):
        nip = random_nip()
        school.teachers.append(nip)
        await env.publish(
            ROSTER_PEGAWAI,
            nip,
            Pegawai(
                nip=nip,
                nama="Guru",
                npsn=school.npsn,
                jenis_ptk="Guru Kelas",
                status_kepegawaian=StatusKepegawaian.PNS,
                kode_wilayah=school.area,
                atasan_nip=school.ks,
            ),
        )
    return school
