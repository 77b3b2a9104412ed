"""Prometheus metrics of every Kinerja service (docs/architecture.md "Observability").

Every metric object lives here, at module level, registered once in prometheus_client's default
registry, which the shared ``/metrics`` route serves: a process may build any number of service
apps (tests do) without "Duplicated timeseries". Metric names start with ``kinerja_``; the
scrape job says which service answered.

What records what:

* ``HttpMetricsMiddleware`` (added by ``create_service_app``): request latency by route template.
* ``observe_handler`` (called by ``inbox.subscribe``): handler latency and outcome.
* ``Sampler`` (started in the service lifespan): outbox backlog and age, set-aside and held rows
  from the outbox table, and consumer lag of every Kafka consumer of the broker, every
  ``SAMPLE_SECONDS``.
* ``OutboxRelay`` counts the rows it sets aside (``OUTBOX_SET_ASIDE``).
* bkn-sync's delivery metrics are its own (bkn_sync/metrics.py), in the same registry.

The names are what deploy/prometheus/alerts.yml and deploy/grafana/delivery-pipeline.json use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Mapping
from typing import Any

import asyncpg
from opentelemetry.instrumentation.utils import suppress_instrumentation
from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import outbox

log = logging.getLogger(__name__)

SAMPLE_SECONDS = 5.0
"""How often a service samples its outbox and consumer lag (tests lower it)."""

# --- HTTP -----------------------------------------------------------------------------------

HTTP_REQUEST_SECONDS = Histogram(
    "kinerja_http_request_duration_seconds",
    "Duration of one HTTP request, by method, route template (not the raw path) and status "
    "code. Unmatched paths are counted under route '<unmatched>'.",
    ["service", "method", "route", "status"],
)

# --- Kafka consumers ------------------------------------------------------------------------

APPLIED = "applied"
DUPLICATE = "duplicate"
DEAD_LETTERED = "dead_lettered"
ERROR = "error"
OUTCOMES = (APPLIED, DUPLICATE, DEAD_LETTERED, ERROR)

HANDLER_SECONDS = Histogram(
    "kinerja_handler_duration_seconds",
    "Duration of one idempotent handler call (decode, claim, effect, commit), by consumer "
    "group and topic; for a batch subscriber, one call handles a whole batch.",
    ["group", "topic"],
)
HANDLER_MESSAGES = Counter(
    "kinerja_handler_messages_total",
    "Records handled, by consumer group, topic and outcome: applied (the effect committed), "
    "duplicate (already claimed: a redelivery), dead_lettered (poison or PermanentError, sent "
    "to the group's DLQ) or error (raised; the offset is not committed and the record is "
    "read again).",
    ["group", "topic", "outcome"],
)
CONSUMER_LAG = Gauge(
    "kinerja_consumer_lag",
    "Records of a partition not yet handed to this process's consumer: end offset minus the "
    "consumer's position, by Kafka consumer group id, topic and partition (only partitions "
    "assigned to this process).",
    ["group", "topic", "partition"],
)

# --- Outbox ---------------------------------------------------------------------------------

OUTBOX_BACKLOG = Gauge(
    "kinerja_outbox_backlog",
    "Outbox rows the relay is to publish (sampled from the service's outbox table): not yet "
    "published, not set aside, not held behind a set-aside row.",
    ["service"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "kinerja_outbox_oldest_unpublished_age_seconds",
    "Age of the oldest outbox row the relay is to publish (set-aside and held rows are "
    "counted by kinerja_outbox_set_aside_rows and kinerja_outbox_held_rows); 0 when there is none.",
    ["service"],
)
OUTBOX_SET_ASIDE_ROWS = Gauge(
    "kinerja_outbox_set_aside_rows",
    "Outbox rows set aside because Kafka refuses them for good (too large, invalid or unknown "
    "topic, headers not text); each waits for an operator (kinerja-outbox retry|discard).",
    ["service"],
)
OUTBOX_HELD = Gauge(
    "kinerja_outbox_held_rows",
    "Outbox rows held behind a set-aside row of the same topic and key (so they never overtake "
    "it); published once that row is retried successfully or discarded.",
    ["service"],
)
OUTBOX_SET_ASIDE = Counter(
    "kinerja_outbox_set_aside_total",
    "Outbox rows the relay set aside, by refusal code (MESSAGE_TOO_LARGE, RECORD_TOO_LARGE, "
    "INVALID_TOPIC, SERIALISATION, UNKNOWN_TOPIC); counted each time, a retry refused again "
    "included.",
    ["service", "code"],
)
OUTBOX_RELAY_HEALTHY = Gauge(
    "kinerja_outbox_relay_healthy",
    "1 while this replica's outbox relay runs and the service's outbox is not stalled; 0 when "
    "the relay task has died, the database does not answer, or a row the relay is to publish "
    "is older than health.RELAY_STALL_SECONDS while Kafka answers (kinerja_shared.health, "
    "/healthz/relay; checked every health.CHECK_SECONDS). Kafka away is kinerja_broker_up's.",
    ["service"],
)
_OUTBOX_GAUGES = (OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE, OUTBOX_SET_ASIDE_ROWS, OUTBOX_HELD)

# --- Recording ------------------------------------------------------------------------------


async def observe_handler(group: str, topic: str, handling: Awaitable[str]) -> None:
    """Await one handler call that returns its outcome; time it and count the outcome.

    An exception is counted as ``error`` and re-raised (the record is read again).
    """
    started = time.perf_counter()
    outcome = ERROR
    try:
        outcome = await handling
    finally:
        HANDLER_SECONDS.labels(group, topic).observe(time.perf_counter() - started)
        HANDLER_MESSAGES.labels(group, topic, outcome).inc()


async def observe_batch_handler(
    group: str, topic: str, size: int, handling: Awaitable[Mapping[str, int]]
) -> None:
    """``observe_handler`` for a batch: one call timed, each record counted by its outcome (all
    ``size`` as ``error`` when the call raises)."""
    started = time.perf_counter()
    outcomes: Mapping[str, int] = {ERROR: size}
    try:
        outcomes = await handling
    finally:
        HANDLER_SECONDS.labels(group, topic).observe(time.perf_counter() - started)
        for outcome, n in outcomes.items():
            if n:
                HANDLER_MESSAGES.labels(group, topic, outcome).inc(n)


class HttpMetricsMiddleware:
    """Pure ASGI middleware: request latency by method, route template and status."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = "500"  # what the client gets if the app raises before answering

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            # The router writes the matched route into the (shared) scope.
            route = getattr(scope.get("route"), "path", None) or "<unmatched>"
            HTTP_REQUEST_SECONDS.labels(self.service, scope["method"], route, status).observe(
                time.perf_counter() - started
            )


# --- Sampling -------------------------------------------------------------------------------


def broker_consumers(broker: Any) -> list[tuple[str, Any]]:
    """(group id, aiokafka consumer) of every started subscriber of a FastStream KafkaBroker.

    A subscriber with ``max_workers > 1`` and manual commits keeps one consumer per worker in
    ``consumer_subgroup``; every other subscriber has one ``consumer``.
    """
    found: list[tuple[str, Any]] = []
    for sub in broker.subscribers:
        group = getattr(sub, "group_id", None) or ""
        consumers = list(getattr(sub, "consumer_subgroup", None) or ())
        if not consumers and getattr(sub, "consumer", None) is not None:
            consumers = [sub.consumer]
        found.extend((group, c) for c in consumers)
    return found


async def consumer_lag(consumer: Any, timeout: float = 5.0) -> dict[tuple[str, int], int]:
    """Lag per assigned (topic, partition) with a position: end offset minus position.

    End offsets are asked of the broker (a consumer's cached highwater stops moving while its
    handler is stuck, which is exactly when lag matters).
    """
    partitions = list(consumer.assignment())
    if not partitions:
        return {}
    # Not asyncio.wait_for: on its timeout it waits for the call to end, and aiokafka's
    # end_offsets does not end when cancelled while the broker does not answer.
    asking = asyncio.ensure_future(consumer.end_offsets(partitions))
    try:
        done, _ = await asyncio.wait({asking}, timeout=timeout)
    finally:
        if not asking.done():
            asking.cancel()  # asked to, without waiting for it to end
    if not done:
        raise TimeoutError(f"end offsets not answered in {timeout} s")
    ends = asking.result()
    lags: dict[tuple[str, int], int] = {}
    for tp in partitions:
        position = _position_now(consumer, tp)
        if position is not None and tp in ends:
            lags[(tp.topic, tp.partition)] = max(0, ends[tp] - position)
    return lags


def _position_now(consumer: Any, tp: Any) -> int | None:
    """The consumer's position of ``tp`` if it has one, else None (e.g. just assigned).

    Read from the subscription state, not with ``AIOKafkaConsumer.position()``: while that waits
    for a position it calls the coordinator's ``check_errors()``, which hands a pending consumer
    error (a failed commit, a lost group) to *its* caller and clears it; the sampler must never
    take that error away from the consume loop. aiokafka 0.14 keeps the state in
    ``_subscription``; if that changes, lag is simply not reported (libs/shared/tests/
    test_metrics.py notices).
    """
    try:
        state = consumer._subscription.subscription.assignment.state_value(tp)
        valid = bool(state.has_valid_position)
        position = state.position if valid else None
    except Exception:
        return None
    return int(position) if position is not None else None


STOP_BOUND_SECONDS = 5.0


class Sampler:
    """Samples the outbox table and the broker's consumer lag into gauges, periodically."""

    def __init__(
        self, service: str, pool: asyncpg.Pool, broker: Any, interval: float | None = None
    ) -> None:
        self._service = service
        self._pool = pool
        self._broker = broker
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._lag_labels: set[tuple[str, str, str]] = set()

    def start(self) -> Sampler:
        self._task = asyncio.create_task(self._run(), name=f"{self._service}-metrics-sampler")
        return self

    async def stop(self, bound: float = STOP_BOUND_SECONDS) -> None:
        if self._task is not None:
            self._task.cancel()
            # Bounded: a Kafka call that does not end when cancelled (aiokafka's end_offsets,
            # under asyncio.wait_for, which waits for it) held whole service stops for minutes.
            # Sampling is housekeeping; a round left behind dies with the consumers.
            done, _ = await asyncio.wait({self._task}, timeout=bound)
            if not done:
                log.warning("metrics sampler still in a call at stop; left behind")
            self._task = None
        for labels in self._lag_labels:
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(*labels)
        self._lag_labels.clear()
        for gauge in _OUTBOX_GAUGES:
            with contextlib.suppress(KeyError):
                gauge.remove(self._service)

    async def _run(self) -> None:
        interval = self._interval if self._interval is not None else SAMPLE_SECONDS
        # Sampling is housekeeping: no spans for its SQL and Kafka calls.
        with suppress_instrumentation():
            while True:
                await self.sample()
                await asyncio.sleep(interval)

    async def sample(self) -> None:
        """One round; a failing part is logged and skipped, never fatal."""
        try:
            await self.sample_outbox()
        except Exception:
            log.warning("outbox metrics sample failed", exc_info=True)
        try:
            await self.sample_lag()
        except Exception:
            log.warning("consumer lag sample failed", exc_info=True)

    async def sample_outbox(self) -> None:
        found = await outbox.counts(self._pool)
        OUTBOX_BACKLOG.labels(self._service).set(found.pending)
        OUTBOX_OLDEST_AGE.labels(self._service).set(found.oldest_pending_age)
        OUTBOX_SET_ASIDE_ROWS.labels(self._service).set(found.set_aside)
        OUTBOX_HELD.labels(self._service).set(found.held)

    async def sample_lag(self) -> None:
        seen: set[tuple[str, str, str]] = set()
        for group, consumer in broker_consumers(self._broker):
            try:
                lags = await consumer_lag(consumer)
            except Exception:
                # Rebalancing or stopping: keep the group's last values until the next round.
                log.debug("lag of a consumer of %s not sampled", group, exc_info=True)
                seen.update(labels for labels in self._lag_labels if labels[0] == group)
                continue
            for (topic, partition), lag in lags.items():
                labels = (group, topic, str(partition))
                CONSUMER_LAG.labels(*labels).set(lag)
                seen.add(labels)
        # Partitions this process no longer owns stop being reported here.
        for labels in self._lag_labels - seen:
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(*labels)
        self._lag_labels = seen
