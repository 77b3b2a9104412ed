"""Health of a service process: alive, ready to serve HTTP, and whether Kafka answers.

The three are kept apart on purpose. Serving the HTTP API needs the database only: a state
change is committed with its event in the outbox, and the relay publishes when Kafka is back
(docs/adr/0002). So ``/readyz`` checks the database and nothing else; were Kafka part of it, a
broker outage would take every replica out of its Service and turn a delayed event into a
refused request. Kafka's reachability is reported on its own, ``/healthz/broker`` for people and the
``kinerja_broker_up`` gauge for the KinerjaBrokerUnreachable alert. ``/healthz`` (liveness) is
the process answering: restarting it cures neither the database nor the broker.

For the same reason a process does not need Kafka to start: ``BrokerLink`` starts the broker
at once when Kafka answers (the consumers are running when the lifespan ends, as before) and
otherwise keeps trying in the background while the API serves.

The outbox relay is reported on its own too (``RelayHealth``): ``/healthz/relay`` and the
``kinerja_outbox_relay_healthy`` gauge (alert KinerjaOutboxRelayUnhealthy) say 503 / 0 when the
relay task has died, or when a row it is to publish is older than ``RELAY_STALL_SECONDS`` while
Kafka answers: a relay that is stuck through no fault of Kafka (a hung lock holder, an error it
keeps retrying). Kafka being away is not that: it stays 200 ("waiting for Kafka") and the broker
check says why. Neither readiness nor liveness asks it: taking replicas out of the Service
would refuse requests whose events would wait safely in the outbox, and every replica sees
the same outbox, so a liveness probe would restart them all for one hung lock holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiokafka.errors import KafkaError
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from opentelemetry.instrumentation.utils import suppress_instrumentation
from prometheus_client import Gauge

from . import metrics, outbox

log = logging.getLogger(__name__)

CHECK_SECONDS = 15.0
"""How often the broker's reachability is checked for the gauge (tests lower it)."""
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 30.0
"""Waits between attempts to start the broker double from the first up to this."""
PING_SECONDS = 2.0
DATABASE_SECONDS = 2.0
RELAY_STALL_SECONDS = 120.0
"""A row the relay is to publish, older than this while Kafka answers, is a stalled relay (the
same 2 minutes as the KinerjaOutboxStalled alert; tests lower it)."""

# Here rather than in metrics.py because the gauge is this module's own report; the alert's
# test reads both modules.
BROKER_UP = Gauge(
    "kinerja_broker_up",
    "1 while the service's Kafka broker answers (its consumers and outbox relay run), 0 while "
    "it does not; checked every CHECK_SECONDS.",
    ["service"],
)


class BrokerLink:
    """Keeps one service's broker started and says whether Kafka answers."""

    def __init__(self, service: str, broker: KafkaBroker) -> None:
        self._service = service
        self._broker = broker
        self._started = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def started(self) -> bool:
        return self._started.is_set()

    async def start(self) -> None:
        """Start the broker now if Kafka answers; otherwise keep trying in the background."""
        try:
            await self._broker.start()
            self._started.set()
        except (KafkaError, OSError) as exc:
            log.warning(
                "Kafka unreachable at start; serving HTTP and retrying",
                extra={"service": self._service, "error": repr(exc)},
            )
        BROKER_UP.labels(self._service).set(1 if self.started else 0)
        self._task = asyncio.create_task(self._run(), name=f"{self._service}-broker-link")

    async def when_started(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` once the broker has started (the outbox relay: no lock held in vain)."""
        await self._started.wait()
        await work()

    async def reachable(self) -> bool:
        return self.started and await self._broker.ping(timeout=PING_SECONDS)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(KeyError):
            BROKER_UP.remove(self._service)
        await self._broker.stop()

    async def _run(self) -> None:
        delay = RETRY_FIRST_SECONDS
        while not self.started:
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)
            try:
                await self._broker.start()
            except Exception as exc:
                log.warning(
                    "Kafka still unreachable; next attempt in %.0f s",
                    delay,
                    extra={"service": self._service, "error": repr(exc)},
                )
                continue
            self._started.set()
            log.info("Kafka reachable: consumers started", extra={"service": self._service})
        while True:
            BROKER_UP.labels(self._service).set(1 if await self.reachable() else 0)
            await asyncio.sleep(CHECK_SECONDS)


class RelayHealth:
    """Whether one replica's outbox relay does its work, for /healthz/relay and the gauge."""

    def __init__(self, service: str, pool: Callable[[], asyncpg.Pool], broker: BrokerLink) -> None:
        self._service = service
        self._pool = pool
        self._broker = broker
        self._relay: outbox.OutboxRelay | None = None
        self._relay_task: asyncio.Task[Any] | None = None
        self._task: asyncio.Task[None] | None = None

    def watch(self, relay: outbox.OutboxRelay, task: asyncio.Task[Any]) -> None:
        """Report on ``relay``, run by ``task``, and keep the gauge current."""
        self._relay, self._relay_task = relay, task
        self._task = asyncio.create_task(self._run(), name=f"{self._service}-relay-health")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(KeyError):
            metrics.OUTBOX_RELAY_HEALTHY.remove(self._service)

    async def check(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, what /healthz/relay answers)."""
        body: dict[str, Any] = {"service": self._service}
        relay, task = self._relay, self._relay_task
        if relay is None or task is None:
            return False, {**body, "status": "not started"}
        body["relay"] = relay.status.state
        body["restarts"] = relay.status.restarts
        if relay.status.last_error:
            body["last_error"] = relay.status.last_error
        if task.done() and not relay.stopping:
            died = "cancelled" if task.cancelled() else repr(task.exception())
            return False, {**body, "status": "dead", "relay": "dead", "error": died}
        try:
            async with asyncio.timeout(DATABASE_SECONDS):
                counts = await outbox.counts(self._pool())
        except Exception as exc:
            return False, {**body, "status": "database unreachable", "error": type(exc).__name__}
        body["outbox"] = {
            "pending": counts.pending,
            "oldest_pending_age_seconds": round(counts.oldest_pending_age, 1),
            "set_aside": counts.set_aside,
            "held": counts.held,
        }
        if counts.pending == 0 or counts.oldest_pending_age <= RELAY_STALL_SECONDS:
            return True, {**body, "status": "ok"}
        if not await self._broker.reachable():
            return True, {**body, "status": "waiting for Kafka"}
        return False, {**body, "status": "stalled"}

    async def _run(self) -> None:
        # Housekeeping, like the metrics sampler: no spans for its SQL every CHECK_SECONDS.
        with suppress_instrumentation():
            while True:
                try:
                    healthy, _ = await self.check()
                except Exception:
                    log.warning("relay health check failed", exc_info=True)
                    healthy = False
                metrics.OUTBOX_RELAY_HEALTHY.labels(self._service).set(1 if healthy else 0)
                await asyncio.sleep(CHECK_SECONDS)


def health_router(
    service: str,
    pool: Callable[[], asyncpg.Pool],
    broker: BrokerLink,
    relay: RelayHealth | None = None,
) -> APIRouter:
    """``/healthz``, ``/readyz``, ``/healthz/broker`` and (given ``relay``) ``/healthz/relay``;
    ``pool`` answers once started."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Alive: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get("/readyz", summary="Ready to serve: the database answers (Kafka is not needed)")
    async def readyz() -> JSONResponse:
        try:
            async with asyncio.timeout(DATABASE_SECONDS):
                await pool().fetchval("SELECT 1")
            database = "ok"
        except Exception as exc:
            database = f"error: {type(exc).__name__}"
        ready = database == "ok"
        return JSONResponse(
            {"ready": ready, "checks": {"database": database}}, status_code=200 if ready else 503
        )

    # Out of the OpenAPI document: it is for probes and people, like /metrics.
    @router.get("/healthz/broker", include_in_schema=False)
    async def broker_health() -> JSONResponse:
        if await broker.reachable():
            return JSONResponse({"status": "ok", "service": service})
        status = "unreachable" if broker.started else "not connected yet"
        return JSONResponse({"status": status, "service": service}, status_code=503)

    if relay is not None:

        @router.get("/healthz/relay", include_in_schema=False)
        async def relay_health() -> JSONResponse:
            healthy, body = await relay.check()
            return JSONResponse(body, status_code=200 if healthy else 503)

    return router
