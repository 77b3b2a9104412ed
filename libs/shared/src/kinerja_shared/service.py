"""What every Kinerja service process is made of: one FastAPI app with the Kafka broker, the
database pool and the outbox relay living in its lifespan.

A service supplies its settings, its HTTP routers and a ``register`` function that adds its
subscribers (qserv-kafka's shape: handlers are registered after configuration is known, so tests
build the app with their own settings) and returns the service's own long-lived parts (its
clients, caches, semaphores), which handlers and routes then reach, typed, as
``runtime.parts``. A service may also name background ``tasks`` (started once everything else
is, cancelled before the consumers stop) and a ``stop`` for its parts (after the consumers and
the relay stopped, before the pool closes).

Every request passes ``middleware.AccessLog`` (one line, by route template), the metrics
middleware, then ``middleware.RequestLimits`` (413/431 before anything reads or parses it) on
its way to the routes. /docs and /openapi.json are served in dev only unless ``api_docs`` says
otherwise; with ``metrics_port`` set, /metrics is served there and not on the API port
(docs/security.md, "What each control stops").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from faststream.kafka import KafkaBroker
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest, start_http_server

from . import db, metrics, pii, telemetry, tracing_attrs
from .auth import TokenVerifier
from .auth.verify import install_auth_errors
from .broker_telemetry import KafkaTelemetry
from .errors import install_error_handlers
from .health import BrokerLink, RelayHealth, health_router
from .logging import setup_logging
from .middleware import AccessLog, RequestLimits
from .outbox import KafkaTopicCatalog, OutboxRelay, TopicFacts, purge_published
from .settings import ServiceSettings

log = logging.getLogger(__name__)


S = TypeVar("S", bound=ServiceSettings)
P = TypeVar("P")


@dataclass
class Runtime(Generic[S, P]):
    """The long-lived clients of one service process, built in the lifespan: the shared ones,
    and the service's own ``parts`` (what its ``register`` returned)."""

    name: str
    settings: S
    broker: KafkaBroker
    verifier: TokenVerifier
    pool: asyncpg.Pool | None = None
    own: P | None = None

    @property
    def db(self) -> asyncpg.Pool:
        assert self.pool is not None, "the database pool exists only inside the lifespan"
        return self.pool

    @property
    def parts(self) -> P:
        assert self.own is not None, "a service's parts exist only inside the lifespan"
        return self.own


# ``register`` adds the subscribers and returns the service's parts (None if it has none).
Register = Callable[[Runtime[S, P]], P]
Tasks = Callable[[Runtime[S, P]], Sequence[Coroutine[Any, Any, None]]]


def make_broker(name: str, settings: ServiceSettings) -> KafkaBroker:
    provider = telemetry.setup_tracing(name)
    return KafkaBroker(
        # FastStream takes a string as one address; aiokafka's own "a:1,b:2" would not bootstrap.
        [server.strip() for server in settings.kafka_bootstrap.split(",")],
        client_id=name,
        # None (PLAINTEXT, the default) or SCRAM-SHA-512 over TLS (settings.kafka_*).
        security=settings.kafka_security(),
        enable_idempotence=True,
        acks="all",
        # Topics are kinerja-topics' (or the cluster operators') to make, with the registry's
        # partitions and cleanup policy. A subscriber that started first would otherwise make
        # its topic with the client's defaults (one partition, not compacted), and
        # kinerja-topics leaves an existing topic as it is.
        allow_auto_create_topics=False,
        graceful_timeout=settings.graceful_shutdown_seconds,
        middlewares=(KafkaTelemetry(tracer_provider=provider),),
        logger=logging.getLogger(f"{name}.kafka"),
    )


class _AuthenticatedTopicCatalog(KafkaTopicCatalog):
    """The relay's topic questions over SASL_SSL: the admin client logs in as the service."""

    def __init__(self, bootstrap: str, client_options: dict[str, Any]) -> None:
        super().__init__(bootstrap)
        self._client_options = client_options

    async def _ask(self, topic: str) -> TopicFacts | None:
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self._bootstrap,
                client_id="kinerja-outbox-relay",
                **self._client_options,
            )
            await admin.start()
            self._admin = admin
        return await super()._ask(topic)


def topic_catalog(settings: ServiceSettings) -> KafkaTopicCatalog:
    """The outbox relay's catalog; with SASL_SSL its admin client authenticates too."""
    options = settings.kafka_client_options()
    if not options:
        return KafkaTopicCatalog(settings.kafka_bootstrap)
    return _AuthenticatedTopicCatalog(settings.kafka_bootstrap, options)


def create_service_app(
    name: str,
    settings: S,
    *,
    routers: Sequence[APIRouter],
    register: Register[S, P],
    tasks: Tasks[S, P] | None = None,
    stop: Callable[[P], Awaitable[None]] | None = None,
    on_started: Callable[[Runtime[S, P]], Any] | None = None,
    title: str | None = None,
    description: str = "",
) -> FastAPI:
    setup_logging()
    key = settings.nip_hash_key.get_secret_value() if settings.nip_hash_key else None
    pii.configure(key, dev=settings.dev)
    _warn_about_exposure(name, settings)
    telemetry.setup_tracing(name)
    AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]
    runtime: Runtime[S, P] = Runtime(
        name=name,
        settings=settings,
        broker=make_broker(name, settings),
        verifier=TokenVerifier(settings.auth()),
    )
    broker_link = BrokerLink(name, runtime.broker)
    relay_health = RelayHealth(name, lambda: runtime.db, broker_link)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.pool = await db.create_pool(
            settings.database_url,
            settings.db_schema,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
        )
        runtime.own = register(runtime)
        await broker_link.start()
        # The relay has a producer of its own: it replaces it when Kafka breaks the producer's
        # idempotence state (a refused batch), which must not touch the consumers' broker.
        relay = OutboxRelay(
            runtime.pool,
            make_broker(name, settings),
            settings.db_schema,
            settings.outbox_poll_seconds,
            service=name,
            owns_publisher=True,
            topics=topic_catalog(settings),
        )
        relay_task = asyncio.create_task(
            broker_link.when_started(relay.run), name=f"{name}-outbox-relay"
        )
        relay_health.watch(relay, relay_task)
        sampler = metrics.Sampler(name, runtime.pool, runtime.broker).start()
        metrics_server = (
            start_http_server(settings.metrics_port, addr=settings.http_host)[0]
            if settings.metrics_port is not None
            else None
        )
        housekeeping = asyncio.create_task(_housekeeping(runtime.pool), name=f"{name}-housekeeping")
        if on_started is not None:
            started = on_started(runtime)
            if asyncio.iscoroutine(started):
                await started
        background = [
            asyncio.create_task(work, name=f"{name}-{getattr(work, '__name__', 'task')}")
            for work in (tasks(runtime) if tasks is not None else ())
        ]
        log.info("service started", extra={"service": name, "port": settings.http_port})
        try:
            yield
        finally:
            # The service's own background work first: nothing the consumers wait for runs
            # there. Then stop consuming (in-flight handlers finish and commit), then drain the
            # relay.
            for task in background:
                task.cancel()
            if background:
                await asyncio.wait(background, timeout=settings.graceful_shutdown_seconds)
            await sampler.stop()
            await relay_health.stop()
            if metrics_server is not None:
                metrics_server.shutdown()
                metrics_server.server_close()
            housekeeping.cancel()
            # FastStream waits up to the graceful timeout for handlers, then closes every
            # consumer (each leaving its group) and the producer; bounded like the pool below,
            # so a client that cannot leave cleanly cannot hold the stop. Kafka expires such a
            # member after its session timeout; no offset moved past work not stored.
            if not await within(broker_link.stop(), 2 * settings.graceful_shutdown_seconds):
                log.warning("Kafka clients still closing at the shutdown bound were left")
            relay.stop()
            if not broker_link.started:
                relay_task.cancel()  # still waiting for Kafka: nothing to drain
            with contextlib.suppress(asyncio.CancelledError):
                await within(relay_task, settings.graceful_shutdown_seconds)
            if stop is not None and runtime.own is not None:
                # No consumer or relay uses the parts any more; the pool is still open. Bounded
                # like the rest: what is left is ended by the pool's close below.
                try:
                    if not await within(stop(runtime.own), settings.graceful_shutdown_seconds):
                        log.warning("the service's parts still stopping at the bound were left")
                except Exception:
                    log.exception("the service's parts did not stop cleanly")
            await close_pool(runtime.pool, settings.graceful_shutdown_seconds)
            telemetry.shutdown_tracing()

    docs = settings.serves_api_docs
    app = FastAPI(
        title=title or f"Kinerja {name}",
        description=description,
        lifespan=lifespan,
        openapi_url="/openapi.json" if docs else None,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    install_auth_errors(app)
    # Added innermost first: the limits act before anything below them reads the request, and
    # the metrics and the access line see their refusals too.
    app.add_middleware(RequestLimits, max_body_bytes=settings.max_request_bytes)
    app.add_middleware(metrics.HttpMetricsMiddleware, service=name)
    app.add_middleware(AccessLog, router=app.router)
    app.include_router(_ops_router(runtime, broker_link, relay_health))
    for router in routers:
        app.include_router(router, dependencies=[Depends(_annotate_span)])
    # No internal spans per ASGI receive/send message: two or three more spans per request to
    # build and export, and an SRE learns nothing from them that the server span lacks.
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="healthz,readyz,metrics", exclude_spans=["receive", "send"]
    )
    return app


async def _annotate_span(request: Request) -> None:
    """The teacher, school and period a request is about, on its span (from the path)."""
    tracing_attrs.annotate_path_params(request.path_params)


HOUSEKEEPING_SECONDS = 3600
# Longer than any consumed topic's retention (90 days): a redelivery older than this cannot
# happen, so its claim is no longer needed.
INBOX_KEEP_SECONDS = 100 * 24 * 3600


async def close_pool(pool: asyncpg.Pool, timeout: float) -> None:
    """Close the pool, waiting at most ``timeout`` for connections still in use.

    ``Pool.close`` waits for every connection to be released, with no limit: one task left
    holding a connection (a handler past the graceful timeout, a write nobody awaits) would hold
    the process's exit for ever, and its open transaction would keep its locks meanwhile. After
    the wait the rest are terminated: the server rolls back what they had not committed, which
    is what a crash would leave, and every write here is made to survive that.
    """
    if not await within(pool.close(), timeout):
        log.warning("database connections still in use at shutdown were terminated")
        pool.terminate()


async def within(work: Awaitable[Any], seconds: float) -> bool:
    """Wait at most ``seconds`` for ``work``; True if it ended (its error raised), else False,
    with the work cancelled but not waited for. Not ``asyncio.wait_for``, which after its
    timeout waits for the cancelled work to end: a Kafka client that does not end when
    cancelled (aiokafka while the broker does not answer) then holds the stop for ever."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        return False
    task.result()
    return True


async def _housekeeping(pool: asyncpg.Pool) -> None:
    """Keep the outbox and inbox from growing forever (a day of published events as audit)."""
    while True:
        try:
            async with pool.acquire() as conn:
                await purge_published(conn)
                await conn.execute(
                    "DELETE FROM inbox WHERE processed_at < now() - make_interval(secs => $1)",
                    INBOX_KEEP_SECONDS,
                )
        except (asyncpg.PostgresError, OSError):
            log.warning("housekeeping failed; next round in an hour", exc_info=True)
        await asyncio.sleep(HOUSEKEEPING_SECONDS)


def _ops_router(
    runtime: Runtime[Any, Any], broker_link: BrokerLink, relay: RelayHealth
) -> APIRouter:
    router = health_router(runtime.name, lambda: runtime.db, broker_link, relay)
    if runtime.settings.metrics_port is not None:
        return router  # served on its own port, out of the API's reach

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def _warn_about_exposure(name: str, settings: ServiceSettings) -> None:
    """A dev process listening beyond this machine is most likely a production one that was
    never told it is (``<PREFIX>_ENV``): say so at start, once."""
    if settings.dev and settings.http_host not in _LOOPBACK:
        log.warning(
            "%s runs with env=dev on %s: the dev issuer and a file:// or http:// JWKS are "
            "accepted and /docs is served; set the env setting outside development",
            name,
            settings.http_host,
        )
    if not settings.dev and settings.nip_hash_key is None:
        log.warning(
            "%s: %s is not set, so logs and traces show every NIP as %s and no teacher can be "
            "followed through them",
            name,
            pii.KEY_ENV,
            pii.REDACTED,
        )
