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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from aiokafka.errors import KafkaError
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from prometheus_client import Gauge

log = logging.getLogger(__name__)

CHECK_SECONDS = 15.0
"""How often the broker's reachability is checked for the gauge (tests lower it)."""
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 30.0
"""Waits between attempts to start the broker double from the first up to this."""
PING_SECONDS = 2.0
DATABASE_SECONDS = 2.0

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


def health_router(service: str, pool: Callable[[], asyncpg.Pool], broker: BrokerLink) -> APIRouter:
    """``/healthz``, ``/readyz`` and ``/healthz/broker``; ``pool`` answers once started."""
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

    return router
