"""Readiness, liveness and the broker check of a service app, on the real stack.

Kafka and PostgreSQL are taken away the way a network takes them away: the app reaches them
through a TCP forwarder the test opens and closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from crash_harness import Probe, probe_topic
from fastapi import APIRouter, FastAPI
from kafka_support import create_topic

from kinerja_shared import health, inbox, outbox
from kinerja_shared.auth.devtoken import DevIdentityProvider
from kinerja_shared.envelope import Envelope
from kinerja_shared.service import Runtime, create_service_app
from kinerja_shared.settings import ServiceSettings
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.scrape import values
from kinerja_tools.testing.stack import Stack


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


class Forwarder:
    """A local port that forwards to ``target`` while open and refuses connections while not."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = _free_port()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def close(self) -> None:
        """Stop listening and cut every connection, as a dead host or partition would."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in self._open:
            writer.transport.abort()
        self._open.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
        self._open.discard(writer)


@dataclass
class App:
    client: httpx.AsyncClient
    service: str
    applied: asyncio.Queue[int]

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path)

    async def broker_up(self) -> list[float]:
        return values((await self.get("/metrics")).text, "kinerja_broker_up", service=self.service)


@contextlib.asynccontextmanager
async def service_app(
    stack: Stack, schema: str, tmp_path: Path, *, database_url: str, kafka_bootstrap: str
) -> AsyncIterator[App]:
    """A service app whose POST /probes/{n} stages an event that its own consumer applies."""
    topic = probe_topic(await create_topic(stack.kafka_bootstrap, prefix="health"))
    group = f"health-{secrets.token_hex(4)}"
    service = f"health-{secrets.token_hex(3)}"
    applied: asyncio.Queue[int] = asyncio.Queue()

    async def effect(conn: asyncpg.Connection, event: Envelope[Probe]) -> None:
        applied.put_nowait(event.payload.n)

    runtime: list[Runtime] = []

    def register(r: Runtime) -> None:
        runtime.append(r)
        inbox.subscribe(r.broker, topic, group=group, pool=r.db, effect=effect)

    router = APIRouter()

    @router.post("/probes/{n}", status_code=202)
    async def stage(n: int) -> dict[str, int]:
        async with runtime[0].db.acquire() as conn, conn.transaction():
            await outbox.add_event(conn, topic, "k", Probe(n=n))
        return {"staged": n}

    settings = ServiceSettings(
        database_url=database_url,
        db_schema=schema,
        kafka_bootstrap=kafka_bootstrap,
        consumer_group=group,
        jwt_jwks_url=DevIdentityProvider(tmp_path).jwks_url,
        outbox_poll_seconds=0.1,
        graceful_shutdown_seconds=5,
        db_pool_min=1,
    )
    app: FastAPI = create_service_app(service, settings, routers=[router], register=register)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client,
    ):
        yield App(client, service, applied)


@pytest.fixture(autouse=True)
def quick_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "CHECK_SECONDS", 0.1)
    monkeypatch.setattr(health, "RETRY_FIRST_SECONDS", 0.1)
    monkeypatch.setattr(health, "RETRY_MAX_SECONDS", 0.2)


@pytest.mark.infra
async def test_the_api_serves_without_kafka_and_catches_up_when_kafka_answers(
    stack: Stack, fresh_schema: str, tmp_path: Path
) -> None:
    kafka = Forwarder(_host_port(stack.kafka_bootstrap))  # closed: nothing listens yet
    try:
        async with service_app(
            stack,
            fresh_schema,
            tmp_path,
            database_url=stack.pg_admin_dsn,
            kafka_bootstrap=kafka.address,
        ) as app:
            ready = await app.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json() == {"ready": True, "checks": {"database": "ok"}}
            assert (await app.get("/healthz")).status_code == 200
            broker = await app.get("/healthz/broker")
            assert broker.status_code == 503
            assert broker.json()["status"] == "not connected yet"
            assert await app.broker_up() == [0.0]

            # A write is accepted: its event waits in the outbox.
            assert (await app.client.post("/probes/7")).status_code == 202

            await kafka.open()

            async def broker_answers() -> bool:
                return (await app.get("/healthz/broker")).status_code == 200

            await wait_for(broker_answers, timeout=60, what="/healthz/broker 200")
            assert await asyncio.wait_for(app.applied.get(), 60) == 7

            async def reported_up() -> bool:
                return await app.broker_up() == [1.0]

            await wait_for(reported_up, timeout=10, what="kinerja_broker_up 1")
    finally:
        await kafka.close()


@pytest.mark.infra
async def test_readiness_follows_the_database_and_liveness_does_not(
    stack: Stack, fresh_schema: str, tmp_path: Path
) -> None:
    admin = stack.pg_admin_dsn
    host_port = admin.split("@", 1)[1].split("/", 1)[0]
    database = Forwarder(_host_port(host_port))
    await database.open()
    # Kafka stays away throughout: readiness is the database's answer alone. (It also keeps the
    # outbox relay, which starts with the broker, off the connections this test cuts.)
    kafka = Forwarder(_host_port(stack.kafka_bootstrap))
    try:
        async with service_app(
            stack,
            fresh_schema,
            tmp_path,
            database_url=admin.replace(host_port, database.address),
            kafka_bootstrap=kafka.address,
        ) as app:
            assert (await app.get("/readyz")).status_code == 200
            assert (await app.get("/healthz/broker")).status_code == 503

            await database.close()
            lost = await app.get("/readyz")
            assert lost.status_code == 503
            assert lost.json()["ready"] is False
            assert lost.json()["checks"]["database"].startswith("error")
            assert (await app.get("/healthz")).status_code == 200, "liveness is the process"

            await database.open()

            async def ready_again() -> bool:
                return (await app.get("/readyz")).status_code == 200

            await wait_for(ready_again, timeout=30, what="/readyz 200 after the database is back")
    finally:
        await database.close()
