"""The outbox relay and the consumers of a service app outlive their database connections, and a
stuck relay shows on /healthz/relay, on the real stack.

Connections are lost the way a PostgreSQL restart or an administrator loses them: the server
ends the backends (``pg_terminate_backend``). Only this test's own backends are ended, found by
their ``application_name``, which is the test's fresh schema: other tests sharing the server
lose nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from crash_harness import Probe, probe_topic
from fastapi import FastAPI
from kafka_support import create_topic, read_all
from private_postgres import PrivatePostgres, private_postgres
from test_health import Forwarder, _host_port

from kinerja_shared import db, health, inbox, metrics, outbox
from kinerja_shared.auth.devtoken import DevIdentityProvider
from kinerja_shared.envelope import Envelope
from kinerja_shared.service import Runtime, create_service_app
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.topics import Topic
from kinerja_tools import testing
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.scrape import values
from kinerja_tools.testing.stack import Stack

pytestmark = pytest.mark.infra

N = 300
NO_MIGRATIONS = Path(testing.__file__).parent / "no_migrations"


@dataclass
class App:
    client: httpx.AsyncClient
    service: str
    schema: str
    topic: Topic[Probe]
    kafka_group: str
    stack: Stack

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path)

    async def relay_health(self) -> httpx.Response:
        return await self.get("/healthz/relay")

    async def relay_gauge(self) -> list[float]:
        text = (await self.get("/metrics")).text
        return values(text, "kinerja_outbox_relay_healthy", service=self.service)

    def relay_task(self) -> asyncio.Task[Any]:
        name = f"{self.service}-outbox-relay"
        return next(t for t in asyncio.all_tasks() if t.get_name() == name)


@pytest.fixture(autouse=True)
def quick_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "CHECK_SECONDS", 0.1)
    monkeypatch.setattr(health, "RETRY_FIRST_SECONDS", 0.1)
    monkeypatch.setattr(health, "RETRY_MAX_SECONDS", 0.2)
    monkeypatch.setattr(metrics, "SAMPLE_SECONDS", 0.1)


@pytest.fixture
def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivatePostgres]:
    with private_postgres(tmp_path_factory) as server:
        yield server


@contextlib.asynccontextmanager
async def service_app(
    stack: Stack, schema: str, tmp_path: Path, *, kafka_bootstrap: str | None = None
) -> AsyncIterator[App]:
    """A service app whose consumer applies ``topic``'s events into ``applied``; no unique key,
    so an event applied twice shows as two rows."""
    topic = probe_topic(await create_topic(stack.kafka_bootstrap, prefix="relay"))
    group = f"relay-{secrets.token_hex(4)}"
    service = f"relay-{secrets.token_hex(3)}"
    conn = await asyncpg.connect(stack.pg_admin_dsn, server_settings={"search_path": schema})
    await conn.execute("CREATE TABLE applied (event_id uuid NOT NULL, n int NOT NULL)")
    await conn.close()

    async def effect(conn: asyncpg.Connection, event: Envelope[Probe]) -> None:
        await conn.execute(
            "INSERT INTO applied (event_id, n) VALUES ($1, $2)", event.event_id, event.payload.n
        )

    def register(runtime: Runtime) -> None:
        inbox.subscribe(runtime.broker, topic, group=group, pool=runtime.db, effect=effect)

    settings = ServiceSettings(
        database_url=stack.pg_admin_dsn,
        db_schema=schema,
        kafka_bootstrap=kafka_bootstrap or stack.kafka_bootstrap,
        consumer_group=group,
        jwt_jwks_url=DevIdentityProvider(tmp_path).jwks_url,
        outbox_poll_seconds=0.1,
        graceful_shutdown_seconds=5,
    )
    app: FastAPI = create_service_app(service, settings, routers=[], register=register)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client,
    ):
        yield App(client, service, schema, topic, f"{group}:{topic.name}", stack)


async def connect(stack: Stack, schema: str, name: str) -> asyncpg.Connection:
    """A connection of the test's own, which ``end_backends`` leaves alone."""
    conn: asyncpg.Connection = await asyncpg.connect(
        stack.pg_admin_dsn, server_settings={"search_path": schema, "application_name": name}
    )
    return conn


async def end_backends(admin: asyncpg.Connection, application_name: str) -> int:
    ended: int = await admin.fetchval(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE application_name = $1 AND pid <> pg_backend_pid()",
        application_name,
    )
    return ended


@dataclass(frozen=True)
class Sample:
    """The group's committed offsets, then (read after them) the events whose effect is stored."""

    committed: dict[int, int]
    stored: frozenset[str]


# What a server restart or ended backends raise at a client that is not the service's own.
_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.CannotConnectNowError,
    # asyncpg's own protocol state, when the server goes away in the middle of a statement.
    asyncpg.InternalClientError,
    OSError,
)


async def sample(app: App, kafka: AIOKafkaAdminClient, look: asyncpg.Pool) -> Sample | None:
    offsets = await kafka.list_consumer_group_offsets(app.kafka_group)
    committed = {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
    try:
        rows = await look.fetch("SELECT event_id::text FROM applied")
    except _LOST:
        return None  # the test's own connection was lost too: ask again
    return Sample(committed, frozenset(r[0] for r in rows))


Disrupt = Callable[[], Awaitable[None]]


async def flow_through(app: App, stack: Stack, schema: str, disruptions: list[Disrupt]) -> None:
    """Stage N events while ``disruptions`` happen one by one, spread over the flow; then every
    event must be applied exactly once, no offset ever committed ahead of a stored effect, and
    the relay must have started again after each disruption."""
    stager = await asyncpg.create_pool(
        stack.pg_admin_dsn,
        min_size=1,
        max_size=1,
        server_settings={"search_path": schema, "application_name": f"stager-{schema}"},
    )
    # Read by the stager and the disruptor at once: a pool.
    look = await asyncpg.create_pool(
        stack.pg_admin_dsn,
        min_size=1,
        max_size=3,
        server_settings={"search_path": schema, "application_name": f"look-{schema}"},
    )
    assert stager is not None
    assert look is not None
    kafka = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await kafka.start()
    staged: list[str] = []
    samples: list[Sample] = []
    # Held by the stager around each transaction: a disruption never leaves the test unsure
    # whether its own commit happened (staging again would make a second event).
    staging_lock = asyncio.Lock()

    async def applied() -> int:
        try:
            found: int = await look.fetchval("SELECT count(DISTINCT event_id) FROM applied")
        except _LOST:
            return -1
        return found

    async def take_sample() -> None:
        samples.append(await wait_for(lambda: sample(app, kafka, look), what="a sample"))

    async def stage_all() -> None:
        # Five events a transaction, never more than ~40 ahead of the consumer: events are still
        # being published and consumed when a disruption comes.
        for start in range(0, N, 5):
            async with staging_lock, stager.acquire() as conn, conn.transaction():
                for n in range(start, start + 5):
                    env = await outbox.add_event(conn, app.topic, f"nip-{n % 7}", Probe(n=n))
                    staged.append(str(env.event_id))

            async def caught_up(start: int = start) -> bool:
                return await applied() >= start - 40

            await wait_for(caught_up, timeout=90, what="the consumer within 40 events")

    staging = asyncio.create_task(stage_all())
    try:
        for k, disrupt in enumerate(disruptions, 1):
            at = k * N // (len(disruptions) + 1)

            async def progressed(at: int = at) -> bool:
                return await applied() >= at

            await wait_for(progressed, timeout=90, what=f"{at} applied")
            await take_sample()
            async with staging_lock:
                await disrupt()
                # The test's own idle connections may have died with the server: new ones.
                await stager.expire_connections()
                await look.expire_connections()
            await take_sample()
        await asyncio.wait_for(staging, 180)

        async def drained() -> bool:
            try:
                return bool(
                    await look.fetchval(
                        "SELECT count(*) = 0 FROM outbox WHERE published_at IS NULL"
                    )
                )
            except _LOST:
                return False

        await wait_for(drained, timeout=90, what="the outbox published")
        await take_sample()

        # No offset was ever committed past a record whose effect was not stored (yet).
        records = await read_all(stack.kafka_bootstrap, app.topic.name, at_least=N)
        at = {(r.partition, r.offset): str(app.topic.decode(r.value).event_id) for r in records}
        assert set(at.values()) == set(staged), "every staged event published"
        assert any(s.committed for s in samples), "offsets were committed during the run"
        for s in samples:
            for (partition, offset), event_id in at.items():
                if offset < s.committed.get(partition, 0):
                    assert event_id in s.stored, f"offset {offset} of partition {partition}"

        async def all_applied() -> bool:
            return await applied() == N

        await wait_for(all_applied, timeout=90, what=f"all {N} events applied")
        twice = await look.fetch("SELECT n, count(*) FROM applied GROUP BY n HAVING count(*) > 1")
        assert not twice, "every event applied exactly once"
        assert sorted(await look.fetchval("SELECT array_agg(n) FROM applied")) == list(range(N))

        # The relay held its lock on a session that each disruption ended: it started again.
        relay = await app.relay_health()
        assert relay.status_code == 200, relay.text
        assert relay.json()["restarts"] >= len(disruptions)
        assert relay.json()["relay"] == "leading"
        assert (await app.get("/readyz")).status_code == 200
    finally:
        staging.cancel()
        # Cancelled mid-statement, asyncpg may raise anything: the test's outcome is above.
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await staging
        await kafka.close()
        await stager.close()
        await look.close()


async def test_relay_and_consumers_survive_their_connections_ended_mid_flow_and_apply_once(
    stack: Stack, fresh_schema: str, tmp_path: Path
) -> None:
    admin = await connect(stack, fresh_schema, f"admin-{fresh_schema}")

    async def end_the_services_backends() -> None:
        assert await end_backends(admin, fresh_schema) >= 1

    try:
        async with service_app(stack, fresh_schema, tmp_path) as app:
            await flow_through(app, stack, fresh_schema, [end_the_services_backends] * 3)
    finally:
        await admin.close()


async def test_relay_and_consumers_survive_a_postgresql_restart_under_load(
    stack: Stack, own_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    """The same on a PostgreSQL of the test's own, stopped (fast: every session ended) and
    started again while events flow."""
    own = Stack({**stack.env, "KINERJA_PG_ADMIN_DSN": own_postgres.admin_dsn})
    schema = f"t_{secrets.token_hex(4)}"
    await db.migrate(own.pg_admin_dsn, schema, NO_MIGRATIONS)
    async with service_app(own, schema, tmp_path) as app:
        await flow_through(app, own, schema, [own_postgres.restart])


async def test_a_stuck_relay_shows_on_its_health_check_and_readiness_stays_ready(
    stack: Stack, fresh_schema: str, tmp_path: Path
) -> None:
    # Another "replica" holds the relay lock and never publishes: a hung lock holder.
    holder = await connect(stack, fresh_schema, f"holder-{fresh_schema}")
    assert await holder.fetchval(
        "SELECT pg_try_advisory_lock(hashtext($1))", f"relay:{fresh_schema}"
    )
    try:
        async with service_app(stack, fresh_schema, tmp_path) as app:
            async with holder.transaction():
                await outbox.add_event(holder, app.topic, "nip-1", Probe(n=1))

            async def healthy(want: bool) -> bool:
                response = await app.relay_health()
                gauge = await app.relay_gauge()
                return (response.status_code == 200) is want and gauge == [1.0 if want else 0.0]

            await wait_for(lambda: healthy(True), what="healthy while the row is young")
            # The row waits long enough to call the relay stalled (created_at is when it was
            # written; rewriting it spares the test the two minutes).
            await holder.execute("UPDATE outbox SET created_at = now() - interval '10 minutes'")
            await wait_for(lambda: healthy(False), what="/healthz/relay 503 and the gauge 0")
            stalled = (await app.relay_health()).json()
            assert stalled["status"] == "stalled"
            assert stalled["relay"] == "standby"
            assert stalled["outbox"]["pending"] == 1
            assert stalled["outbox"]["oldest_pending_age_seconds"] >= 600
            assert (await app.get("/readyz")).status_code == 200, "the API keeps serving"

            await holder.close()  # the hung replica goes away; its session lock with it
            await wait_for(lambda: healthy(True), what="healthy again once the row is published")
            assert (await app.relay_health()).json()["relay"] == "leading"

            # The relay task itself dies (a bug): shown as dead.
            task = app.relay_task()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await wait_for(lambda: healthy(False), what="a dead relay shown")
            assert (await app.relay_health()).json()["status"] == "dead"
            assert (await app.get("/readyz")).status_code == 200
    finally:
        await holder.close()


async def test_kafka_away_is_not_a_stuck_relay(
    stack: Stack, fresh_schema: str, tmp_path: Path
) -> None:
    kafka = Forwarder(_host_port(stack.kafka_bootstrap))  # closed: Kafka does not answer
    try:
        async with service_app(stack, fresh_schema, tmp_path, kafka_bootstrap=kafka.address) as app:
            writer = await connect(stack, fresh_schema, f"writer-{fresh_schema}")
            try:
                async with writer.transaction():
                    await outbox.add_event(writer, app.topic, "nip-1", Probe(n=1))
                await writer.execute("UPDATE outbox SET created_at = now() - interval '10 minutes'")
            finally:
                await writer.close()

            async def waiting_for_kafka() -> bool:
                response = await app.relay_health()
                return (
                    response.status_code == 200
                    and response.json()["status"] == "waiting for Kafka"
                    and await app.relay_gauge() == [1.0]
                )

            await wait_for(waiting_for_kafka, what="'waiting for Kafka', not 'stalled'")
            assert (await app.get("/readyz")).status_code == 200
            assert (await app.get("/healthz/broker")).status_code == 503
    finally:
        await kafka.close()
