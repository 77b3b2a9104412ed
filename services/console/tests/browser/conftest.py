"""The console on the real stack, for a real browser: the e-Kinerja simulator and bkn-sync
(fresh schema, source topics of their own) served over HTTP, the console in process with
uvicorn on a free port, its dev issuer signing with the key bkn-sync trusts, and Chromium
driven by Playwright. Screenshots go to .local/test/console-screens/<run>/ (gitignored)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from playwright.async_api import Browser, Page, async_playwright

from bkn_sync.app import create_app as create_bkn_sync
from bkn_sync.config import Settings as BknSettings
from console.app import create_app as create_console
from console.config import Settings as ConsoleSettings
from kinerja_shared.auth import DevIdentityProvider
from kinerja_shared.events.planning import PlanAgreed
from kinerja_shared.events.roster import Pegawai, Sekolah
from kinerja_shared.topics import PLAN_AGREED, PREDIKAT_DITETAPKAN, ROSTER_PEGAWAI, ROSTER_SEKOLAH
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.kafka import own_topics
from kinerja_tools.testing.service import ServiceUnderTest, running_service
from kinerja_tools.testing.stack import Stack

ROOT = Path(__file__).resolve().parents[4]
SERVICES = ROOT / "services"
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def new_nip() -> str:
    year = random.randint(1970, 1995)
    born = f"{year}{random.randint(1, 12):02d}{random.randint(1, 28):02d}"
    tmt = f"{year + random.randint(20, 28)}{random.randint(1, 12):02d}"
    return f"{born}{tmt}{random.randint(1, 2)}{random.randint(1, 999):03d}"


@contextlib.asynccontextmanager
async def served(app: FastAPI, port: int) -> AsyncIterator[str]:
    """``app`` over real HTTP; its lifespan is the caller's (already entered, or not wanted)."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return bool(server.started)

    await wait_for(started, timeout=20, what=f"uvicorn on {port}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Rig:
    stack: Stack
    console_url: str
    bkn: ServiceUnderTest
    console: ServiceUnderTest
    sim: httpx.AsyncClient
    producer: AIOKafkaProducer
    sources: dict[str, str]
    dlq_topic: str
    dlq_target: str
    screens: Path

    async def publish(self, topic: str, key: str, value: bytes, **headers: str) -> None:
        await self.producer.send_and_wait(
            topic, value, key=key.encode(), headers=[(k, v.encode()) for k, v in headers.items()]
        )

    async def school(self, area: str, nama: str) -> str:
        npsn = f"{random.randint(10_000_000, 99_999_999)}"
        sekolah = Sekolah(npsn=npsn, nama=nama, kode_wilayah=area)
        value = ROSTER_SEKOLAH.envelope(npsn, sekolah).model_dump_json().encode()
        await self.publish(ROSTER_SEKOLAH.name, npsn, value)
        return npsn

    async def teacher(self, npsn: str, area: str, *, nama: str = "Guru Uji") -> str:
        nip = new_nip()
        await self.roster(nip, npsn, area, nama=nama)
        return nip

    async def roster(self, nip: str, npsn: str, area: str, *, nama: str) -> None:
        p = Pegawai(
            nip=nip,
            nama=nama,
            npsn=npsn,
            jenis_ptk="Guru Mapel",
            status_kepegawaian="PNS",
            kode_wilayah=area,
            atasan_nip=new_nip(),
        )
        await self.publish(
            ROSTER_PEGAWAI.name, nip, ROSTER_PEGAWAI.envelope(nip, p).model_dump_json().encode()
        )

    async def plan_agreed(self, nip: str, npsn: str, trace_id: str) -> None:
        plan = PlanAgreed(
            plan_id=f"plan-{nip}",
            nip=nip,
            npsn=npsn,
            period_id="2025",
            version=1,
            atasan_nip=new_nip(),
            sub_indikator="Pembelajaran berdiferensiasi",
            indikator_kompetensi="Pengelolaan kelas",
            tugas_pokok=["Mengajar"],
            tugas_tambahan=[],
            perilaku_fokus=["Berorientasi Pelayanan"],
            agreed_at=datetime.now(UTC),
        )
        value = PLAN_AGREED.envelope(nip, plan).model_dump_json().encode()
        await self.publish(
            self.sources["skp"], nip, value, traceparent=f"00-{trace_id}-{secrets.token_hex(8)}-01"
        )

    async def state_of(self, nip: str) -> str | None:
        rows = await self.bkn.fetch("SELECT state FROM deliveries WHERE nip = $1", nip)
        return str(rows[0]["state"]) if rows else None


@pytest.fixture(scope="session")
async def rig(stack: Stack) -> AsyncIterator[Rig]:
    from ekinerja_sim.app import create_app as create_sim

    tag = secrets.token_hex(4)
    sources = {
        "skp": f"{PLAN_AGREED.name}.test-{tag}",
        "predikat": f"{PREDIKAT_DITETAPKAN.name}.test-{tag}",
    }
    dlq_topic = f"kinerja.console-test-{tag}.dlq.v1"
    dlq_target = f"kinerja.console-test-{tag}.source.v1"
    idp = DevIdentityProvider()  # the stack's key directory: the console's dev issuer signs with it
    sim_port, bkn_port, console_port = free_port(), free_port(), free_port()
    console_url = f"http://127.0.0.1:{console_port}"
    run = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    screens = ROOT / ".local" / "test" / "console-screens" / run
    screens.mkdir(parents=True, exist_ok=True)
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    async with contextlib.AsyncExitStack() as exits:
        await exits.enter_async_context(
            own_topics(stack.kafka_bootstrap, [*sources.values(), dlq_topic, dlq_target], 3)
        )
        sim_url = await exits.enter_async_context(served(create_sim(), sim_port))
        bkn = await exits.enter_async_context(
            running_service(
                stack,
                "bkn-sync",
                create_bkn_sync,
                BknSettings,
                SERVICES / "bkn_sync" / "src" / "bkn_sync" / "migrations",
                idp.directory,
                ekinerja_url=sim_url,
                quick_attempts=2,
                quick_wait_max_seconds=0.2,
                retry_delays_seconds=(1.0, 1.0, 1.0),
                skp_topic=sources["skp"],
                predikat_topic=sources["predikat"],
            )
        )
        bkn_url = await exits.enter_async_context(served(bkn.app, bkn_port))
        console = await exits.enter_async_context(
            running_service(
                stack,
                "console",
                create_console,
                ConsoleSettings,
                SERVICES / "console" / "src" / "console" / "migrations",
                idp.directory,
                public_url=console_url,
                bkn_sync_url=bkn_url,
                zipkin_url="http://zipkin.test:9411",
                lag_groups=[bkn.settings.consumer_group],
                dlq_topics=[dlq_topic],
                tertahan_page_schools=2,  # a reason's schools span pages with a few of them
            )
        )
        await exits.enter_async_context(served(console.app, console_port))
        sim = await exits.enter_async_context(httpx.AsyncClient(base_url=sim_url))
        yield Rig(
            stack,
            console_url,
            bkn,
            console,
            sim,
            producer,
            sources,
            dlq_topic,
            dlq_target,
            screens,
        )
    await producer.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        await launched.close()


@pytest.fixture
async def new_page(browser: Browser) -> AsyncIterator[Any]:
    contexts = []

    async def make() -> Page:
        context = await browser.new_context()
        contexts.append(context)
        return await context.new_page()

    yield make
    for context in contexts:
        await context.close()


@pytest.fixture(scope="session")
def sign_in() -> Any:
    """``await sign_in(page, rig, role, **scope)``: through the issuer's login form."""
    return log_in


async def log_in(page: Page, rig: Rig, role: str, **scope: str) -> None:
    await page.goto(f"{rig.console_url}/")
    # Not signed in: the console sends the browser to the issuer's authorize endpoint.
    await page.wait_for_url("**/dev-idp/authorize?**")
    await page.select_option("#role", role)
    for field, value in scope.items():
        await page.fill(f"#{field}", value)
    await page.click("#sign-in")
    await page.wait_for_load_state()
