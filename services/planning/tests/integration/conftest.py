"""The planning app on the real stack: a fresh schema, its own consumer group, real Kafka."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from kinerja_shared.auth import DevIdentityProvider
from kinerja_shared.events.roster import Pegawai, Sekolah, StatusKepegawaian
from kinerja_shared.topics import ROSTER_PEGAWAI, ROSTER_SEKOLAH, Topic
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.service import running_service
from kinerja_tools.testing.stack import Stack
from planning.app import create_app
from planning.config import Settings

MIGRATIONS = Path(__file__).parents[2] / "src" / "planning" / "migrations"


def random_nip() -> str:
    """Birth date(8) + TMT yyyymm(6) + gender(1) + serial(3), all plausible."""
    born = date(1970, 1, 1) + timedelta(days=secrets.randbelow(25 * 365))
    tmt_year = born.year + 22 + secrets.randbelow(10)
    tmt_month = 1 + secrets.randbelow(12)
    gender = 1 + secrets.randbelow(2)
    return f"{born:%Y%m%d}{tmt_year}{tmt_month:02d}{gender}{secrets.randbelow(1000):03d}"


def random_npsn() -> str:
    return f"{20_000_000 + secrets.randbelow(9_999_999):08d}"


@dataclass
class School:
    npsn: str
    kode_wilayah: str


@dataclass
class Planning:
    client: httpx.AsyncClient
    idp: DevIdentityProvider
    producer: AIOKafkaProducer
    stack: Stack
    schema: str
    open_period: str
    closed_period: str

    def headers(
        self, role: str, nip: str | None = None, npsn: str | None = None, area: str | None = None
    ) -> dict[str, str]:
        token = self.idp.mint(role=role, nip=nip, npsn=npsn, area=area)
        return {"Authorization": f"Bearer {token}"}

    def guru(self, nip: str, school: School) -> dict[str, str]:
        return self.headers("guru", nip=nip, npsn=school.npsn)

    def ks(self, nip: str, school: School) -> dict[str, str]:
        return self.headers("kepala_sekolah", nip=nip, npsn=school.npsn)

    async def school(self) -> School:
        school = School(random_npsn(), f"{3100 + secrets.randbelow(99):04d}")
        payload = Sekolah(npsn=school.npsn, nama="SMP Negeri Uji", kode_wilayah=school.kode_wilayah)
        await self._publish(ROSTER_SEKOLAH, school.npsn, payload)
        return school

    async def teacher(
        self,
        school: School,
        *,
        atasan: str | None,
        plt: bool = False,
        nip: str | None = None,
        jenis_ptk: str = "Guru Mapel",
    ) -> str:
        """Publish a roster entry and wait until this service's projection has it."""
        nip = nip or random_nip()
        payload = Pegawai(
            nip=nip,
            nama=f"Guru {nip[-4:]}",
            npsn=school.npsn,
            jenis_ptk=jenis_ptk,
            status_kepegawaian=StatusKepegawaian.PNS,
            kode_wilayah=school.kode_wilayah,
            atasan_nip=atasan,
            atasan_plt=plt,
        )
        await self._publish(ROSTER_PEGAWAI, nip, payload)

        async def projected() -> bool:
            row = await self.fetchrow(
                "SELECT atasan_nip, atasan_plt FROM roster_pegawai WHERE nip = $1", nip
            )
            return row is not None and (row["atasan_nip"], row["atasan_plt"]) == (atasan, plt)

        await wait_for(projected, timeout=60, what=f"roster entry {nip} in the projection")
        return nip

    async def _publish(self, topic: Topic[Any], key: str, payload: Any) -> None:
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

    async def draft(self, nip: str, school: School, **content: Any) -> dict[str, Any]:
        body = {
            "period_id": self.open_period,
            "sub_indikator": "D1.4",
            "indikator_kompetensi": "KP.3",
            "tugas_pokok": ["Mengajar IPA kelas VIII"],
            "tugas_tambahan": [{"nama": "Wali kelas", "deskripsi": "Wali kelas VIII-B"}],
            "perilaku_fokus": ["KOLABORATIF", "AKUNTABEL"],
            **content,
        }
        r = await self.client.post("/plans", json=body, headers=self.guru(nip, school))
        assert r.status_code == 201, r.text
        plan: dict[str, Any] = r.json()
        return plan


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


def _periods_file(directory: Path) -> tuple[Path, str, str]:
    today = datetime.now(UTC).date()
    open_id, closed_id = f"T{secrets.token_hex(3)}", f"C{secrets.token_hex(3)}"

    def period(pid: str, start: date, end: date, hard_end: date) -> dict[str, Any]:
        return {
            "period_id": pid,
            "label": pid,
            "year": start.year,
            "start": str(start),
            "end": str(end),
            "rules_version": 2025,
            "stage_windows": {
                "plan": {
                    "opens": str(start),
                    "soft_end": str(start + timedelta(days=30)),
                    "hard_end": str(hard_end),
                }
            },
        }

    raw = {
        "periods": [
            period(
                open_id,
                today - timedelta(days=10),
                today + timedelta(days=300),
                today + timedelta(days=360),
            ),
            period(
                closed_id,
                today - timedelta(days=400),
                today - timedelta(days=40),
                today - timedelta(days=5),
            ),
        ]
    }
    path = directory / "periods.json"
    path.write_text(json.dumps(raw))
    return path, open_id, closed_id


@pytest.fixture(scope="session")
async def planning(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Planning]:
    tmp = tmp_path_factory.mktemp("planning")
    periods, open_id, closed_id = _periods_file(tmp)
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        async with running_service(
            stack, "planning", create_app, Settings, MIGRATIONS, tmp / "idp", periods_file=periods
        ) as svc:
            yield Planning(svc.client, svc.idp, producer, stack, svc.schema, open_id, closed_id)
    finally:
        await producer.stop()
