"""The assessment service on the real stack: fresh schema and consumer group per session."""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import BaseModel

import assessment
from assessment.app import create_app
from assessment.config import Settings
from kinerja_shared import telemetry
from kinerja_shared.auth import DevIdentityProvider
from kinerja_shared.envelope import Envelope
from kinerja_shared.events.observation import FollowupReflected, ObservationConducted
from kinerja_shared.events.planning import PlanAgreed
from kinerja_shared.events.roster import Pegawai, Sekolah, StatusKepegawaian
from kinerja_shared.topics import (
    FOLLOWUP_REFLECTED,
    OBSERVATION_CONDUCTED,
    PLAN_AGREED,
    ROSTER_PEGAWAI,
    ROSTER_SEKOLAH,
    Topic,
)
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.service import running_service
from kinerja_tools.testing.stack import Stack

PERIOD = "2025"
NOW = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)


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

    async def publish(self, topic: Topic[Any], subject: str, payload: BaseModel) -> Envelope[Any]:
        envelope = topic.envelope(subject, payload)
        await self.send(topic, subject, envelope)
        return envelope

    async def send(self, topic: Topic[Any], subject: str, envelope: Envelope[Any]) -> None:
        raw = envelope.model_dump_json().encode()
        # In the caller's trace, as a service's outbox would publish it.
        headers = [(k, v.encode()) for k, v in telemetry.current_trace_headers().items()]
        await self.producer.send_and_wait(
            topic.name, raw, key=subject.encode(), headers=headers or None
        )

    def auth(self, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.idp.mint(**claims)}"}

    async def fetchval(self, sql: str, *args: Any) -> Any:
        conn = await asyncpg.connect(self.admin_dsn, server_settings={"search_path": self.schema})
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def consumed(self, topic: Topic[Any], event_id: Any) -> bool:
        """True once the service's inbox holds ``event_id`` of ``topic``."""
        return bool(
            await self.fetchval(
                "SELECT true FROM inbox WHERE event_id = $1 AND topic = $2", event_id, topic.name
            )
        )

    async def collect(
        self, topic: Topic[Any], keep: Callable[[Envelope[Any]], bool], count: int
    ) -> list[Envelope[Any]]:
        """Read ``topic`` from the start until ``count`` matching envelopes are found."""
        consumer = AIOKafkaConsumer(
            topic.name,
            bootstrap_servers=self.kafka_bootstrap,
            group_id=f"assessment-it-{secrets.token_hex(4)}",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        found: list[Envelope[Any]] = []
        try:
            loop = asyncio.get_running_loop()
            end = loop.time() + 30.0
            while len(found) < count and loop.time() < end:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for r in records:
                        env = topic.decode(r.value)
                        if keep(env):
                            found.append(env)
        finally:
            await consumer.stop()
        return found


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

    def plan_agreed(self, nip: str, version: int = 1) -> Envelope[Any]:
        return PLAN_AGREED.envelope(
            nip,
            PlanAgreed(
                plan_id=f"plan-{nip}",
                nip=nip,
                npsn=self.npsn,
                period_id=PERIOD,
                version=version,
                atasan_nip=self.ks,
                sub_indikator="D1.1",
                indikator_kompetensi="KP.1",
                tugas_pokok=["Mengajar"],
                tugas_tambahan=[],
                perilaku_fokus=["KOLABORATIF"],
                agreed_at=NOW,
            ),
        )

    def conducted(self, nip: str, practice: str = "SESUAI_EKSPEKTASI") -> Envelope[Any]:
        return OBSERVATION_CONDUCTED.envelope(
            nip,
            ObservationConducted(
                observation_id=f"obs-{nip}",
                plan_id=f"plan-{nip}",
                nip=nip,
                npsn=self.npsn,
                period_id=PERIOD,
                observer_nip=self.ks,
                conducted_at=NOW,
                rubric_scores={"D1.1.1": 3},
                practice_rating=practice,
            ),
        )

    def followup(self, nip: str, actions: int) -> Envelope[Any]:
        return FOLLOWUP_REFLECTED.envelope(
            nip,
            FollowupReflected(
                observation_id=f"obs-{nip}",
                plan_id=f"plan-{nip}",
                nip=nip,
                npsn=self.npsn,
                period_id=PERIOD,
                actions=actions,
                reflection="Saya mencoba diskusi kelompok dan hasilnya lebih baik.",
                reflected_at=NOW,
            ),
        )


@pytest.fixture(scope="session")
async def env(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        async with running_service(
            stack,
            "assessment",
            create_app,
            Settings,
            Path(assessment.__file__).parent / "migrations",
            tmp_path_factory.mktemp("idp"),
        ) as svc:
            yield Env(
                svc.client,
                producer,
                svc.idp,
                svc.schema,
                stack.pg_admin_dsn,
                stack.kafka_bootstrap,
            )
    finally:
        await producer.stop()


async def make_school(env: Env, n_teachers: int) -> School:
    """A school of its own area with a KS and ``n_teachers`` ASN teachers on the roster."""
    area = f"{random.SystemRandom().randint(10, 98)}{random_digits(2)}"
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
    last = school.teachers[-1] if school.teachers else school.ks

    async def on_roster() -> bool:
        # The school and its people come through two topics with consumers of their own:
        # either may arrive first.
        return bool(
            await env.fetchval(
                "SELECT EXISTS (SELECT FROM roster_pegawai WHERE nip = $1)"
                " AND EXISTS (SELECT FROM roster_sekolah WHERE npsn = $2)",
                last,
                school.npsn,
            )
        )

    # A fresh consumer group reads the whole compacted roster topic first; on a busy shared
    # stack that alone can take longer than the default deadline.
    await wait_for(on_roster, timeout=120, what="roster reached assessment")
    return school
