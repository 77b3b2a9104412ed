"""Prometheus metrics of a service app, end to end on the real broker and database.
(tests/deploy checks that the dashboard and the alerts ask only for metrics that exist.)"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from crash_harness import Probe, probe_topic
from fastapi import APIRouter, FastAPI
from kafka_support import create_topic
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.metrics import MetricWrapperBase

from kinerja_shared import inbox, metrics, outbox
from kinerja_shared.auth.devtoken import DevIdentityProvider
from kinerja_shared.envelope import Envelope
from kinerja_shared.service import Runtime, create_service_app
from kinerja_shared.settings import ServiceSettings
from kinerja_shared.topics import Topic, dlq_name
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.scrape import parse, values
from kinerja_tools.testing.stack import Stack

ROOT = Path(__file__).resolve().parents[3]


# --- reading /metrics -----------------------------------------------------------------------


# --- unit: the module ---------------------------------------------------------------------


def defined_metrics() -> dict[str, str]:
    """Name of every exposed series family of metrics.py -> its type."""
    return {m._name: m._type for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)}


def test_two_apps_in_one_process_share_the_metrics_without_duplicates(tmp_path: Path) -> None:
    settings = ServiceSettings(
        database_url="postgresql://nobody@127.0.0.1:1/none",
        db_schema="unused",
        consumer_group="unused",
        jwt_jwks_url=DevIdentityProvider(tmp_path).jwks_url,
    )
    apps = [
        create_service_app("one", settings, routers=[], register=lambda _: None),
        create_service_app("two", settings, routers=[], register=lambda _: None),
    ]
    assert all(isinstance(a, FastAPI) for a in apps)
    text = generate_latest(REGISTRY).decode()
    # Every family is exposed once, under its one name.
    for name, kind in defined_metrics().items():
        exposed = f"{name}_total" if kind == "counter" else name
        assert text.count(f"# TYPE {exposed} {kind}\n") == 1, name


# --- infra: a service app on the real stack -------------------------------------------------


@dataclass
class Probed:
    app: FastAPI
    client: httpx.AsyncClient
    runtime: Runtime
    topic: Topic[Probe]
    group: str
    service: str
    gate: asyncio.Event
    relay_lock: asyncpg.Connection
    schema: str

    async def release_relay(self) -> None:
        """Let the app's outbox relay take its lock (the test holds it from the start)."""
        if not self.relay_lock.is_closed():
            await self.relay_lock.close()  # a session lock ends with its session

    async def scrape(self) -> str:
        response = await self.client.get("/metrics")
        assert response.status_code == 200
        return response.text


@pytest.fixture
async def probed(
    stack: Stack, fresh_schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Probed]:
    monkeypatch.setattr(metrics, "SAMPLE_SECONDS", 0.1)
    topic = probe_topic(await create_topic(stack.kafka_bootstrap, prefix="metrics"))
    group = f"metrics-{secrets.token_hex(4)}"
    await create_topic(stack.kafka_bootstrap, name=dlq_name(group), partitions=1)
    service = f"probe-{secrets.token_hex(3)}"
    gate = asyncio.Event()  # n == 1 is held until this is set: the consumer is "stuck"

    async def effect(conn: asyncpg.Connection, event: Envelope[Probe]) -> None:
        if event.payload.n < 0:
            raise inbox.PermanentError("TEST-NEG", "negative probes are refused")
        if event.payload.n == 1:
            await gate.wait()
        await conn.execute("INSERT INTO applied VALUES ($1, $2)", event.event_id, event.payload.n)

    def register(runtime: Runtime) -> None:
        inbox.subscribe(runtime.broker, topic, group=group, pool=runtime.db, effect=effect)

    router = APIRouter()

    @router.get("/probe/{item_id}")
    async def probe(item_id: str) -> dict[str, str]:
        return {"item": item_id}

    conn = await asyncpg.connect(stack.pg_admin_dsn)
    await conn.execute(f'CREATE TABLE "{fresh_schema}".applied (event_id uuid, n int)')
    await conn.close()
    # Hold the relay's lock, as another replica would: the outbox fills until it is released.
    relay_lock = await asyncpg.connect(stack.pg_admin_dsn)
    assert await relay_lock.fetchval(
        "SELECT pg_try_advisory_lock(hashtext($1))", f"relay:{fresh_schema}"
    )
    settings = ServiceSettings(
        database_url=stack.pg_admin_dsn,
        db_schema=fresh_schema,
        kafka_bootstrap=stack.kafka_bootstrap,
        consumer_group=group,
        jwt_jwks_url=DevIdentityProvider(tmp_path).jwks_url,
        outbox_poll_seconds=0.1,
        graceful_shutdown_seconds=5,
    )
    app = create_service_app(service, settings, routers=[router], register=register)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client,
        ):
            yield Probed(
                app,
                client,
                app.state.runtime,
                topic,
                group,
                service,
                gate,
                relay_lock,
                fresh_schema,
            )
    finally:
        gate.set()
        await relay_lock.close()


@pytest.mark.infra
async def test_metrics_show_http_handlers_outbox_backlog_and_lag(
    probed: Probed,
) -> None:
    p = probed
    pool = p.runtime.db
    kafka_group = f"{p.group}:{p.topic.name}"

    # HTTP: latency by route template, not by raw path.
    assert (await p.client.get("/probe/abc")).status_code == 200
    assert (await p.client.get("/probe/def")).status_code == 200
    assert (await p.client.get("/no-such-route")).status_code == 404
    text = await p.scrape()
    hist = "kinerja_http_request_duration_seconds"
    common = {"service": p.service, "method": "GET"}
    assert values(text, f"{hist}_count", route="/probe/{item_id}", status="200", **common) == [2.0]
    assert values(text, f"{hist}_count", route="<unmatched>", status="404", **common) == [1.0]
    assert values(text, f"{hist}_bucket", route="/probe/{item_id}", le="+Inf", **common) == [2.0]
    assert not [ls for n, ls, _ in parse(text) if n == f"{hist}_count" and "abc" in str(ls)]

    # Outbox: the relay cannot publish yet; stage three events and age them.
    async with pool.acquire() as conn, conn.transaction():
        staged = [await outbox.add_event(conn, p.topic, "k", Probe(n=n)) for n in (1, 2, 3)]
        await conn.execute("UPDATE outbox SET created_at = now() - interval '5 minutes'")

    async def backlog_seen() -> bool:
        text = await p.scrape()
        backlog = values(text, "kinerja_outbox_backlog", service=p.service)
        age = values(text, "kinerja_outbox_oldest_unpublished_age_seconds", service=p.service)
        return backlog == [3.0] and bool(age) and age[0] >= 300

    await wait_for(backlog_seen, timeout=15, what="an outbox backlog of 3, 5 minutes old")
    await p.release_relay()

    # The relay publishes; n=1 holds the consumer, so n=2 and n=3 wait on the partition.
    async def drained_and_lagging() -> list[float]:
        text = await p.scrape()
        if values(text, "kinerja_outbox_backlog", service=p.service) != [0.0]:
            return []
        if values(text, "kinerja_outbox_oldest_unpublished_age_seconds", service=p.service) != [
            0.0
        ]:
            return []
        lag = values(text, "kinerja_consumer_lag", group=kafka_group, topic=p.topic.name)
        return lag if sum(lag) == 2 else []

    lag = await wait_for(drained_and_lagging, timeout=30, what="outbox drained, lag 2")
    assert len(lag) == 3, "one series per partition of the topic"

    # Unblock; then a redelivery, a poison record and a permanently failing one.
    p.gate.set()
    await wait_for(
        lambda: pool.fetchval("SELECT count(*) = 3 FROM applied"), what="three events applied"
    )
    broker = p.runtime.broker
    await broker.publish(staged[1].model_dump_json().encode(), p.topic.name, key=b"k")
    await broker.publish(b"{not an envelope", p.topic.name, key=b"k")
    refused = p.topic.envelope("k", Probe(n=-1))
    await broker.publish(refused.model_dump_json().encode(), p.topic.name, key=b"k")

    def outcome(text: str, name: str) -> float:
        found = values(
            text, "kinerja_handler_messages_total", group=p.group, topic=p.topic.name, outcome=name
        )
        return found[0] if found else 0.0

    async def all_handled() -> str:
        text = await p.scrape()
        counts = {o: outcome(text, o) for o in metrics.OUTCOMES}
        want = {"applied": 3.0, "duplicate": 1.0, "dead_lettered": 2.0, "error": 0.0}
        return text if counts == want else ""

    text = await wait_for(all_handled, timeout=30, what="3 applied, 1 duplicate, 2 dead-lettered")
    handled = values(
        text, "kinerja_handler_duration_seconds_count", group=p.group, topic=p.topic.name
    )
    assert handled == [6.0]

    async def caught_up() -> bool:
        lag = values(await p.scrape(), "kinerja_consumer_lag", group=kafka_group)
        return len(lag) == 3 and sum(lag) == 0

    await wait_for(caught_up, timeout=30, what="consumer lag back to 0 on every partition")


@pytest.mark.infra
async def test_stopped_app_leaves_no_lag_or_outbox_series(
    stack: Stack, fresh_schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics, "SAMPLE_SECONDS", 0.1)
    topic = probe_topic(await create_topic(stack.kafka_bootstrap, prefix="metrics"))
    group = f"metrics-{secrets.token_hex(4)}"
    service = f"probe-{secrets.token_hex(3)}"

    async def effect(conn: asyncpg.Connection, event: Envelope[Probe]) -> None:
        return None

    def register(runtime: Runtime) -> None:
        inbox.subscribe(runtime.broker, topic, group=group, pool=runtime.db, effect=effect)

    settings = ServiceSettings(
        database_url=stack.pg_admin_dsn,
        db_schema=fresh_schema,
        kafka_bootstrap=stack.kafka_bootstrap,
        consumer_group=group,
        jwt_jwks_url=DevIdentityProvider(tmp_path).jwks_url,
        graceful_shutdown_seconds=5,
    )
    app = create_service_app(service, settings, routers=[], register=register)
    async with app.router.lifespan_context(app):

        async def sampled() -> bool:
            text = generate_latest(REGISTRY).decode()
            return bool(
                values(text, "kinerja_consumer_lag", group=f"{group}:{topic.name}")
                and values(text, "kinerja_outbox_backlog", service=service)
            )

        await wait_for(sampled, timeout=30, what="lag and backlog sampled")
    text = generate_latest(REGISTRY).decode()
    assert not values(text, "kinerja_consumer_lag", group=f"{group}:{topic.name}")
    assert not values(text, "kinerja_outbox_backlog", service=service)
