"""The transactional outbox (docs/architecture.md "Never lose, never apply twice").

``add`` writes an event in the caller's transaction, together with the trace context of the
request that caused it. ``OutboxRelay`` publishes unpublished rows in id order with the broker's
idempotent producer and marks them published only after Kafka acknowledged them: a crash in
between publishes those rows again (consumers deduplicate on event id), it never drops one.
One relay per schema holds an advisory lock, so replicas never reorder one teacher's events.

Every failure has an end (docs/adr/0003-set-aside-outbox-rows.md). A row Kafka refuses for good
(too large, an invalid or long-unknown topic, a header that is not text) is *set aside* with the
reason and the time; the later rows of its topic and key are *held* behind it, so none of them
overtakes it, and every other row is published. An operator retries or discards a set-aside row
(``kinerja-outbox``; who and why go to ``outbox_set_aside_log``). Anything else is transient and
retried. The relay outlives its database connection: when the session that holds its lock
ends, it reconnects with a bounded backoff and takes the lock again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
import re
import time
import uuid
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

import asyncpg
from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from pydantic import BaseModel

from . import failpoints, metrics, telemetry
from .db import Conn, Executor
from .envelope import Envelope, new_event_id
from .topics import REGISTRY, Topic

log = logging.getLogger(__name__)

BATCH = 500


class Publisher(Protocol):
    async def publish(
        self,
        message: Any,
        topic: str = "",
        *,
        key: Any = None,
        headers: dict[str, str] | None = None,
        no_confirm: bool = False,
    ) -> Any: ...


_CHANNEL_PREFIX = "outbox_"


def _channel(schema: str) -> str:
    return f"{_CHANNEL_PREFIX}{schema}"


@dataclass(frozen=True)
class Staged:
    """One record to stage: an envelope of ours (``Staged.of``) or bytes as they are (e.g. a
    copy of a consumed record for a retry topic), with the headers to publish it with."""

    topic: str
    key: str
    value: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    event_id: uuid.UUID = field(default_factory=new_event_id)

    @classmethod
    def of(
        cls,
        topic: Topic[Any],
        envelope: Envelope[Any],
        headers: Mapping[str, str] | None = None,
        key: str | None = None,
    ) -> Staged:
        return cls(
            topic.name,
            key or envelope.subject,
            envelope.model_dump_json().encode(),
            headers or {},
            envelope.event_id,
        )


async def add(
    conn: Conn,
    topic: Topic[Any],
    envelope: Envelope[Any],
    *,
    key: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Stage ``envelope`` for ``topic``; it is published only if the transaction commits."""
    stored_headers = {**telemetry.current_trace_headers(), **(headers or {})}
    await add_many(conn, [Staged.of(topic, envelope, stored_headers, key)])


async def add_many(conn: Conn, records: Sequence[Staged]) -> None:
    """Stage records in one statement, published in the order given and only if the
    transaction commits. Each keeps its own headers: a batch's records come from many traces."""
    if not records:
        return
    # One round trip: the rows and the wake-up of the relay. NOTIFY is delivered on commit only
    # (and once per transaction for the same channel), so the relay wakes exactly when there
    # is work. Headers go in as text so this works on any connection, with or without a JSON
    # codec; WITH ORDINALITY keeps the ids (the publishing order) in the order given.
    await conn.execute(
        "WITH staged AS ("
        " INSERT INTO outbox (event_id, topic, key, value, headers)"
        " SELECT e, t, k, v, h::jsonb"
        " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::text[])"
        " WITH ORDINALITY AS x(e, t, k, v, h, n) ORDER BY n RETURNING 1)"
        f" SELECT pg_notify('{_CHANNEL_PREFIX}' || current_schema(), '')"
        " WHERE EXISTS (SELECT 1 FROM staged)",
        [r.event_id for r in records],
        [r.topic for r in records],
        [r.key for r in records],
        [r.value for r in records],
        [json.dumps(dict(r.headers)) for r in records],
    )


async def add_event(
    conn: Conn, topic: Topic[Any], subject: str, payload: BaseModel
) -> Envelope[Any]:
    envelope = topic.envelope(subject, payload)
    await add(conn, topic, envelope)
    return envelope


@functools.cache
def topics_carrying(payload: type[BaseModel]) -> tuple[Topic[Any], ...]:
    """Every registered topic whose records carry ``payload``, in registry order."""
    found = tuple(t for t in REGISTRY if t.payload is payload)
    if not found:
        raise LookupError(f"no topic in the registry carries {payload.__name__}")
    return found


async def add_events(conn: Conn, events: Iterable[BaseModel]) -> None:
    """Stage domain events, in the order given, on every topic that carries each one's payload
    type (``PredikatDitetapkan`` goes to the history and to the compacted current-state topic),
    in the caller's transaction.

    The record key follows the topic's declared key (``nip``, ``npsn``, ``nip:period_id``) and
    is the envelope's subject too (``Topic.event``): no caller picks either, so a topic's key
    can never differ between two places that publish to it, nor from its subject.
    """
    headers = telemetry.current_trace_headers()
    staged = []
    for event in events:
        for topic in topics_carrying(type(event)):
            staged.append(Staged.of(topic, topic.event(event), headers))
    await add_many(conn, staged)


# --- What Kafka refuses for good ------------------------------------------------------------

MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"
"""Larger than the producer's ``max_request_size`` or the topic's ``max.message.bytes``."""
RECORD_TOO_LARGE = "RECORD_TOO_LARGE"
"""The broker's RECORD_LIST_TOO_LARGE (larger than a log segment), for the record sent alone."""
INVALID_TOPIC = "INVALID_TOPIC"
"""A topic name Kafka can never accept (characters, length), or the broker's INVALID_TOPIC."""
SERIALISATION = "SERIALISATION"
"""The stored headers are not a JSON object of text (only another writer than ``add*`` stores
such a row)."""
UNKNOWN_TOPIC = "UNKNOWN_TOPIC"
"""The cluster says the topic does not exist, ``UNKNOWN_TOPIC_GRACE_SECONDS`` after the row was
written (a topic created by a deployment step shortly after the service is simply waited for)."""
CODES = (MESSAGE_TOO_LARGE, RECORD_TOO_LARGE, INVALID_TOPIC, SERIALISATION, UNKNOWN_TOPIC)

UNKNOWN_TOPIC_GRACE_SECONDS = 600.0
RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0
"""Waits after a lost database or broker connection double from the first up to this."""

MISSING_TOPIC_SKIP_SECONDS = 5.0
"""A topic found missing is left out of the relay's rounds this long: its rows, however many,
do not keep the rows after them from being read."""

RELAY_ACTOR = "outbox-relay"

_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")


@dataclass(frozen=True)
class Refusal:
    """Why Kafka will never take a record as it is: a code of ``CODES`` and the error."""

    code: str
    error: str


def _refused_by_client(exc: BaseException) -> Refusal | None:
    """An error ``publish`` raised before anything was sent that no retry can change.

    aiokafka checks a record's size against ``max_request_size`` itself. Everything else
    raised there (no metadata, a full buffer, no connection, a bug) is about the cluster or the
    client, not the record: the relay checked the record's topic name and headers before.
    """
    if isinstance(exc, kafka_errors.MessageSizeTooLargeError):
        return Refusal(MESSAGE_TOO_LARGE, str(exc))
    return None


def _refused_by_broker(exc: BaseException) -> Refusal | None:
    """A produce response that no retry of the same record can change.

    The broker answers per partition batch, so a refusal may be about the batch rather than
    this record: the relay sends the record again on its own before setting it aside.
    """
    if isinstance(exc, kafka_errors.MessageSizeTooLargeError):
        return Refusal(MESSAGE_TOO_LARGE, f"the broker refused it: {exc}")
    if isinstance(exc, kafka_errors.RecordListTooLargeError):
        return Refusal(RECORD_TOO_LARGE, f"the broker refused it: {exc}")
    if isinstance(exc, kafka_errors.InvalidTopicError):
        return Refusal(INVALID_TOPIC, f"the broker refused the topic: {exc}")
    return None


# After these the producer's idempotence state is broken for good (a refused batch used up its
# sequence numbers, so every later batch of that partition is out of order): only a new producer,
# with a new producer id, publishes again.
_PRODUCER_BROKEN = (
    kafka_errors.OutOfOrderSequenceNumber,
    kafka_errors.UnknownProducerId,
    kafka_errors.InvalidProducerEpoch,
    kafka_errors.InvalidProducerIdMapping,
    kafka_errors.ProducerFenced,
    kafka_errors.ProducerClosed,
)
# Raised by ``publish`` when the cluster does not answer: every later row would wait as long.
_CLUSTER_AWAY = (
    kafka_errors.KafkaTimeoutError,
    kafka_errors.KafkaConnectionError,
    kafka_errors.NoBrokersAvailable,
    kafka_errors.NodeNotReadyError,
    TimeoutError,
    OSError,
)
# The relay's database session ended (and with it the lock), or its producer could not be
# replaced: this leadership is over, the relay starts again.
_SESSION_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    # asyncpg's protocol state when the server went away mid-statement: the session is unusable.
    asyncpg.InternalClientError,
    OSError,
)


def _lost(conn: Conn) -> bool:
    """Whether the session is gone. A pool detaches a connection the server ended, and its
    proxy then raises even on ``is_closed``."""
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:
        return True


class PublisherLost(Exception):
    """The relay's own producer could not be replaced (Kafka away): it leads again later."""


def valid_topic_name(name: str) -> bool:
    """Kafka's own rule (org.apache.kafka.common.internals.Topic.validate)."""
    return name not in {".", ".."} and _TOPIC_NAME.fullmatch(name) is not None


def _headers_of(stored: str) -> dict[str, str] | Refusal:
    try:
        headers = json.loads(stored)
    except ValueError as exc:
        return Refusal(SERIALISATION, f"headers are not JSON: {exc}")
    if not isinstance(headers, dict):
        return Refusal(SERIALISATION, "headers are not a JSON object")
    for name, value in headers.items():
        if not isinstance(value, str):
            return Refusal(SERIALISATION, f"header {name!r} is {type(value).__name__}, not text")
        try:
            value.encode()
        except UnicodeError as exc:
            return Refusal(SERIALISATION, f"header {name!r} cannot be encoded: {exc}")
    return headers


def record_size(key: bytes, value: bytes, headers: Mapping[str, str]) -> int:
    """An upper bound of the record batch Kafka checks against ``max.message.bytes`` when the
    record is sent on its own (FastStream adds a ``content-type`` header)."""
    wire = [(k, v.encode()) for k, v in {"content-type": "", **headers}.items()]
    size: int = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, wire)
    return size


# --- What the cluster says about a topic -----------------------------------------------------


@dataclass(frozen=True)
class TopicFacts:
    exists: bool
    max_message_bytes: int | None = None


class TopicCatalog(Protocol):
    async def facts(self, topic: str, *, fresh: bool = False) -> TopicFacts | None:
        """What the cluster says about ``topic``; None when it could not be asked. ``fresh``
        asks again rather than answer from what was asked before."""

    async def close(self) -> None: ...


ASK_SECONDS = 5.0


class KafkaTopicCatalog:
    """Asks the cluster (DescribeConfigs) whether a topic exists and its ``max.message.bytes``.

    The relay asks before it sends: a record larger than its topic accepts is set aside without
    reaching the broker (a refused batch would break the producer's sequence for the partition),
    and a row of a topic that does not exist is not sent at all (aiokafka would wait
    ``request_timeout_ms`` for its metadata, on every round, holding every other row). Answers
    are cached; an unanswered question (the cluster away, no DescribeConfigs right) is None and
    the relay just sends.
    """

    def __init__(
        self, bootstrap: str, *, ttl_seconds: float = 300.0, missing_ttl_seconds: float = 5.0
    ) -> None:
        self._bootstrap = bootstrap
        self._ttl = ttl_seconds
        self._missing_ttl = missing_ttl_seconds
        self._admin: AIOKafkaAdminClient | None = None
        self._cache: dict[str, tuple[float, TopicFacts | None]] = {}
        self._away_until = 0.0

    async def facts(self, topic: str, *, fresh: bool = False) -> TopicFacts | None:
        now = time.monotonic()
        if now < self._away_until and not fresh:
            return None
        cached = self._cache.get(topic)
        if cached is not None and cached[0] > now and not fresh:
            return cached[1]
        try:
            async with asyncio.timeout(ASK_SECONDS):
                found = await self._ask(topic)
        except Exception:
            # Not asked again for a while: a round must not wait on every row's question.
            log.debug("topics not described; publishing without their limits", exc_info=True)
            self._away_until = now + self._missing_ttl
            await self.close()
            return None
        # A topic that does not exist (yet), or a refused question (no DescribeConfigs right),
        # is asked again soon; a topic's limit rarely changes.
        ttl = self._ttl if found is not None and found.exists else self._missing_ttl
        self._cache[topic] = (now + ttl, found)
        return found

    async def _ask(self, topic: str) -> TopicFacts | None:
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self._bootstrap, client_id="kinerja-outbox-relay"
            )
            await admin.start()
            self._admin = admin
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": None})
        for response in await self._admin.describe_configs([resource]):
            for error_code, _message, _type, name, entries, *_ in response.resources:
                if name != topic:
                    continue
                if error_code == kafka_errors.UnknownTopicOrPartitionError.errno:
                    return TopicFacts(exists=False)
                if error_code != 0:
                    return None
                limit = next((e[1] for e in entries if e[0] == "max.message.bytes"), None)
                return TopicFacts(True, int(limit) if limit is not None else None)
        return None

    async def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()


# --- The relay -------------------------------------------------------------------------------


class Restartable(Protocol):
    """A publisher the relay owns: connected when it leads, replaced when its producer breaks."""

    async def connect(self) -> Any: ...

    async def stop(self) -> None: ...


@dataclass
class RelayStatus:
    """What the relay is doing, for /healthz/relay."""

    state: str = "starting"
    """starting, standby (another replica holds the lock), leading, reconnecting, stopped."""
    last_error: str | None = None
    last_round_at: float | None = None
    """time.monotonic() of the last round that reached the database and Kafka without error."""
    restarts: int = 0
    """Leaderships ended by a lost database session or broker (each followed by a new start)."""


@dataclass
class _Round:
    published: list[asyncpg.Record] = field(default_factory=list)
    set_aside: list[tuple[asyncpg.Record, Refusal]] = field(default_factory=list)
    failed: int = 0
    last_error: str | None = None


_PENDING = (
    "SELECT o.id, o.event_id, o.topic, o.key, o.value, o.headers::text AS headers,"
    " o.set_aside_count,"
    " EXTRACT(EPOCH FROM now() - o.created_at)::float8 AS age"
    " FROM outbox o"
    " WHERE o.published_at IS NULL AND o.set_aside_at IS NULL"
    " AND o.topic <> ALL($2::text[])"
    # Held: an earlier row of the same topic and key is set aside (docs/adr/0003).
    " AND NOT EXISTS (SELECT 1 FROM outbox s WHERE s.set_aside_at IS NOT NULL"
    " AND s.topic = o.topic AND s.key = o.key AND s.id < o.id)"
    " ORDER BY o.id LIMIT $1 FOR UPDATE OF o SKIP LOCKED"
)


class OutboxRelay:
    """Publishes a schema's outbox while it holds the schema's relay lock.

    ``run`` never ends on an error: a lost database session (a PostgreSQL restart,
    ``pg_terminate_backend``) or a broker that does not answer ends the current leadership, and
    the relay tries again after a bounded, doubling wait. The lock is a session lock on the same
    connection that reads and marks the rows, so a relay whose session ended cannot mark
    anything: at most it published a batch that the next leader publishes again.

    With ``owns_publisher`` the relay connects ``publisher`` when it starts to lead, stops it
    when it stops, and replaces it when Kafka broke its producer's idempotence state.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        publisher: Publisher,
        schema: str,
        poll_seconds: float = 1.0,
        *,
        service: str | None = None,
        owns_publisher: bool = False,
        topics: TopicCatalog | None = None,
    ) -> None:
        self._pool = pool
        self._publisher = publisher
        self._schema = schema
        self._service = service or schema
        self._poll = poll_seconds
        self._owns = owns_publisher
        self._topics = topics
        self._wake = asyncio.Event()
        self._stopping = False
        self._reconnect_wait = RECONNECT_FIRST_SECONDS
        self._missing: dict[str, float] = {}
        self.status = RelayStatus()

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def _lock_key(self) -> str:
        return f"relay:{self._schema}"

    async def run(self) -> None:
        """Publish until ``stop``; only the holder of the schema's relay lock publishes."""
        # Its polls are no one's flow; the records it publishes carry their own context.
        with telemetry.poller():
            await self._run()

    async def _run(self) -> None:
        try:
            while not self._stopping:
                try:
                    await self._lead()
                except Exception as exc:
                    if self.stopping:
                        break
                    wait = self._reconnect_wait * random.uniform(0.5, 1.0)
                    self._reconnect_wait = min(self._reconnect_wait * 2, RECONNECT_MAX_SECONDS)
                    self.status.state = "reconnecting"
                    self.status.last_error = repr(exc)
                    self.status.restarts += 1
                    log.warning(
                        "outbox relay lost its connection; trying again in %.1f s",
                        wait,
                        extra={"schema": self._schema, "error": repr(exc)},
                    )
                    await self._sleep(wait)
        finally:
            self.status.state = "stopped"
            if self._topics is not None:
                await self._topics.close()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float | None = None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._poll if seconds is None else seconds)
        self._wake.clear()

    async def _lead(self) -> None:
        """Wait for the lock, then publish until ``stop``; raises when the session is lost."""
        async with self._pool.acquire() as conn:
            self.status.state = "standby"
            while not self._stopping:
                if await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", self._lock_key):
                    break
                await self._sleep()
            if self._stopping:
                return
            try:
                await conn.add_listener(_channel(self._schema), self._on_notify)
                if self._owns:
                    await cast(Restartable, self._publisher).connect()
                self.status.state = "leading"
                log.info("outbox relay leads", extra={"schema": self._schema})
                while not self._stopping:
                    try:
                        published = await self.publish_batch(conn)
                    except Exception as exc:
                        if _lost(conn) or isinstance(exc, (*_SESSION_LOST, PublisherLost)):
                            raise  # the session (and with it the lock) or the producer is gone
                        log.exception("outbox relay failed; retrying")
                        self.status.last_error = repr(exc)
                        published = 0
                    if published < BATCH:
                        await self._sleep()
            finally:
                if self._owns:
                    with contextlib.suppress(Exception):
                        await cast(Restartable, self._publisher).stop()
                if not _lost(conn):
                    with contextlib.suppress(Exception):
                        await conn.remove_listener(_channel(self._schema), self._on_notify)
                        await conn.execute(
                            "SELECT pg_advisory_unlock(hashtext($1))", self._lock_key
                        )

    async def publish_batch(self, conn: Conn | None = None) -> int:
        """One round: publish what may be published, set aside what Kafka refuses for good;
        returns how many rows were published. ``conn`` is the lock holder's session (tests and
        one-off tools may leave it out and use the pool)."""
        async with contextlib.AsyncExitStack() as stack:
            if conn is None:
                conn = await stack.enter_async_context(self._pool.acquire())
            await stack.enter_async_context(conn.transaction())
            now = time.monotonic()
            self._missing = {t: until for t, until in self._missing.items() if until > now}
            rows = await conn.fetch(_PENDING, BATCH, list(self._missing))
            if not rows:
                self._round_ok()
                return 0
            done = await self._publish(rows)
            failpoints.hit("outbox.published_before_marked")
            if done.published:
                await conn.execute(
                    "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                    [r["id"] for r in done.published],
                )
            for row, refusal in done.set_aside:
                await self._set_aside(conn, row, refusal, done.published)
        for row, refusal in done.set_aside:
            metrics.OUTBOX_SET_ASIDE.labels(self._service, refusal.code).inc()
            log.error(
                "outbox row set aside: Kafka refuses it for good",
                extra={
                    "schema": self._schema,
                    "outbox_id": row["id"],
                    "event_id": str(row["event_id"]),
                    "topic": row["topic"],
                    "code": refusal.code,
                    "error": refusal.error,
                },
            )
        if done.failed:
            self.status.last_error = done.last_error
            log.warning(
                "outbox relay: %d row(s) not published this round; retrying",
                done.failed,
                extra={"schema": self._schema, "error": done.last_error},
            )
        else:
            self._round_ok()
        return len(done.published)

    def _round_ok(self) -> None:
        self.status.last_round_at = time.monotonic()
        self._reconnect_wait = RECONNECT_FIRST_SECONDS

    async def _publish(self, rows: Sequence[asyncpg.Record]) -> _Round:
        done = _Round()
        # Per (topic, key): set aside this round (its later rows are held, as they will be by
        # the query from the next round on), or the smallest id not published for a transient
        # reason (no later row of the key may be sent before it).
        held: set[tuple[str, str]] = set()
        blocked: dict[tuple[str, str], int] = {}
        missing_topics: set[str] = set()
        sent: list[tuple[asyncpg.Record, dict[str, str], Any]] = []

        def key(row: asyncpg.Record) -> tuple[str, str]:
            return row["topic"], row["key"]

        def fail(row: asyncpg.Record, error: BaseException | str) -> None:
            blocked[key(row)] = min(row["id"], blocked.get(key(row), row["id"]))
            done.failed += 1
            done.last_error = error if isinstance(error, str) else repr(error)

        def set_aside(row: asyncpg.Record, refusal: Refusal) -> None:
            done.set_aside.append((row, refusal))
            held.add(key(row))

        def waits(row: asyncpg.Record) -> bool:
            """Whether ``row`` must not be sent now; counted as a failure unless held."""
            if key(row) in held:
                return True
            if blocked.get(key(row), row["id"]) < row["id"] or row["topic"] in missing_topics:
                fail(row, done.last_error or "an earlier row of its key was not published")
                return True
            return False

        for index, row in enumerate(rows):
            if waits(row):
                continue
            checked = await self._check(row)
            if isinstance(checked, Refusal):
                set_aside(row, checked)
                continue
            if checked is None:
                missing_topics.add(row["topic"])
                fail(row, f"topic {row['topic']} does not exist (yet)")
                continue
            try:
                confirmation = await self._send(row, checked, confirm=False)
            except Exception as exc:
                refusal = _refused_by_client(exc)
                if refusal is not None:
                    set_aside(row, refusal)
                    continue
                fail(row, exc)
                if isinstance(exc, kafka_errors.UnknownTopicOrPartitionError):
                    # No metadata for the topic after request_timeout_ms: missing, or Kafka away.
                    missing_topics.add(row["topic"])
                elif isinstance(exc, _CLUSTER_AWAY):
                    # Kafka does not answer: every other row would wait just as long.
                    done.failed += len(rows) - index - 1
                    break
                continue
            sent.append((row, checked, confirmation))

        until = time.monotonic() + MISSING_TOPIC_SKIP_SECONDS
        self._missing.update(dict.fromkeys(missing_topics, until))
        results = await asyncio.gather(*(c for _, _, c in sent), return_exceptions=True)
        broken = False
        suspects: list[tuple[asyncpg.Record, dict[str, str]]] = []
        for (row, headers, _), result in zip(sent, results, strict=True):
            if not isinstance(result, BaseException):
                done.published.append(row)
            elif _refused_by_broker(result) is not None:
                suspects.append((row, headers))
                broken = True
            else:
                broken = broken or isinstance(result, _PRODUCER_BROKEN)
                fail(row, result)
        if broken:
            await self._restart_publisher()
        # The broker refuses a whole partition batch: it may hold records it would take on their
        # own. Send each alone, in id order, and set aside only what is refused again.
        for row, headers in suspects:
            if waits(row):
                continue
            try:
                await self._send(row, headers, confirm=True)
            except Exception as exc:
                refusal = _refused_by_broker(exc) or _refused_by_client(exc)
                if refusal is not None:
                    set_aside(row, refusal)
                else:
                    fail(row, exc)
                if refusal is not None or isinstance(exc, _PRODUCER_BROKEN):
                    await self._restart_publisher()
                continue
            done.published.append(row)
        return done

    async def _check(self, row: asyncpg.Record) -> dict[str, str] | Refusal | None:
        """The row's headers if it may be sent; a ``Refusal`` if it never can be; None if its
        topic does not exist yet."""
        topic: str = row["topic"]
        if not valid_topic_name(topic):
            return Refusal(INVALID_TOPIC, f"{topic!r} is not a valid Kafka topic name")
        headers = _headers_of(row["headers"])
        if isinstance(headers, Refusal) or self._topics is None:
            return headers
        # A retried row was set aside before: its operator has just changed the topic (created
        # it, raised its limit), which a cached answer would not know yet.
        facts = await self._topics.facts(topic, fresh=row["set_aside_count"] > 0)
        if facts is None:
            return headers
        if not facts.exists:
            if row["age"] < UNKNOWN_TOPIC_GRACE_SECONDS:
                return None
            return Refusal(
                UNKNOWN_TOPIC,
                f"topic {topic} does not exist, {row['age']:.0f} s after the row was written",
            )
        size = record_size(row["key"].encode(), bytes(row["value"]), headers)
        if facts.max_message_bytes is not None and size > facts.max_message_bytes:
            return Refusal(
                MESSAGE_TOO_LARGE,
                f"the record is about {size} bytes; topic {topic} accepts at most "
                f"{facts.max_message_bytes} (max.message.bytes)",
            )
        return headers

    async def _send(self, row: asyncpg.Record, headers: dict[str, str], *, confirm: bool) -> Any:
        def publish() -> Awaitable[Any]:
            return self._publisher.publish(
                bytes(row["value"]),
                row["topic"],
                key=row["key"].encode(),
                headers=headers,
                no_confirm=not confirm,
            )

        if telemetry.carries_unsampled_trace(headers):
            # No span will be made for it (broker_telemetry): no context to build and attach.
            return await publish()
        token = telemetry.attach_headers(headers)
        try:
            return await publish()
        finally:
            telemetry.detach(token)

    async def _restart_publisher(self) -> None:
        if not self._owns:
            return
        publisher = cast(Restartable, self._publisher)
        log.warning("outbox relay: replacing its Kafka producer", extra={"schema": self._schema})
        with contextlib.suppress(Exception):
            await publisher.stop()
        try:
            await publisher.connect()
        except Exception as exc:
            raise PublisherLost(repr(exc)) from exc

    async def _set_aside(
        self,
        conn: Conn,
        row: asyncpg.Record,
        refusal: Refusal,
        published: Sequence[asyncpg.Record],
    ) -> None:
        error = refusal.error
        # Only a refusal after sending can let a later record of the key through first (the
        # broker refused its batch while a later batch was taken); say so, never silently.
        overtaken = [
            r["id"]
            for r in published
            if (r["topic"], r["key"]) == (row["topic"], row["key"]) and r["id"] > row["id"]
        ]
        if overtaken:
            error += f"; later rows of its key were published before it: {overtaken}"
            log.error(
                "outbox row set aside after later rows of its key were published",
                extra={"schema": self._schema, "outbox_id": row["id"], "later": overtaken},
            )
        await conn.execute(
            "UPDATE outbox SET set_aside_at = now(), set_aside_code = $2, set_aside_error = $3,"
            " set_aside_count = set_aside_count + 1 WHERE id = $1",
            row["id"],
            refusal.code,
            error[:4000],
        )
        await conn.execute(
            "INSERT INTO outbox_set_aside_log"
            " (action, actor, reason, outbox_id, event_id, topic, key, code)"
            " VALUES ('set_aside', $1, $2, $3, $4, $5, $6, $7)",
            RELAY_ACTOR,
            error[:4000],
            row["id"],
            row["event_id"],
            row["topic"],
            row["key"],
            refusal.code,
        )


async def purge_published(conn: Conn, older_than_seconds: int = 86400) -> int:
    """Published rows are only an audit trail; keep a day of them."""
    result: str = await conn.execute(
        "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)",
        older_than_seconds,
    )
    return int(result.split()[-1])


# --- What waits, and what an operator does about set-aside rows -----------------------------


@dataclass(frozen=True)
class Counts:
    pending: int
    """Rows the relay is to publish: unpublished, not set aside, not held."""
    oldest_pending_age: float
    """Seconds since the oldest pending row was written; 0 when none is."""
    set_aside: int
    held: int
    """Rows waiting behind a set-aside row of their topic and key."""


async def counts(executor: Executor) -> Counts:
    row = await executor.fetchrow(
        "WITH waiting AS ("
        " SELECT o.created_at, EXISTS (SELECT 1 FROM outbox s WHERE s.set_aside_at IS NOT NULL"
        " AND s.topic = o.topic AND s.key = o.key AND s.id < o.id) AS held"
        " FROM outbox o WHERE o.published_at IS NULL AND o.set_aside_at IS NULL)"
        " SELECT count(*) FILTER (WHERE NOT held) AS pending,"
        " COALESCE(EXTRACT(EPOCH FROM now() - min(created_at) FILTER (WHERE NOT held)), 0)"
        "::float8 AS age,"
        " count(*) FILTER (WHERE held) AS held,"
        " (SELECT count(*) FROM outbox WHERE set_aside_at IS NOT NULL) AS set_aside"
        " FROM waiting",
        timeout=10,
    )
    assert row is not None
    return Counts(row["pending"], max(0.0, row["age"]), row["set_aside"], row["held"])


@dataclass(frozen=True)
class SetAsideRow:
    id: int
    event_id: uuid.UUID
    topic: str
    key: str
    size: int
    created_at: datetime
    set_aside_at: datetime
    code: str
    error: str
    times: int
    """How often the relay set it aside (more than once after a retry Kafka refused again)."""
    held: int
    """Rows of the same topic and key waiting behind it."""


_SET_ASIDE_COLUMNS = (
    "o.id, o.event_id, o.topic, o.key, octet_length(o.value) AS size, o.created_at,"
    " o.set_aside_at, o.set_aside_code, o.set_aside_error, o.set_aside_count,"
    " (SELECT count(*) FROM outbox h WHERE h.topic = o.topic AND h.key = o.key"
    " AND h.id > o.id AND h.published_at IS NULL AND h.set_aside_at IS NULL) AS held"
)


def _set_aside_row(r: asyncpg.Record) -> SetAsideRow:
    return SetAsideRow(
        r["id"],
        r["event_id"],
        r["topic"],
        r["key"],
        r["size"],
        r["created_at"],
        r["set_aside_at"],
        r["set_aside_code"],
        r["set_aside_error"],
        r["set_aside_count"],
        r["held"],
    )


async def set_aside_rows(executor: Executor, ids: Sequence[int] | None = None) -> list[SetAsideRow]:
    """The set-aside rows (those of ``ids`` only, when given), oldest first."""
    rows = await executor.fetch(
        f"SELECT {_SET_ASIDE_COLUMNS} FROM outbox o WHERE o.set_aside_at IS NOT NULL"
        " AND ($1::bigint[] IS NULL OR o.id = ANY($1::bigint[])) ORDER BY o.id",
        None if ids is None else list(ids),
    )
    return [_set_aside_row(r) for r in rows]


async def retry_set_aside(
    conn: Conn, ids: Sequence[int], *, actor: str, reason: str
) -> list[SetAsideRow]:
    """Give set-aside rows back to the relay, which tries them first among their key's rows; a
    row Kafka still refuses is set aside again. Returns the rows given back (ids that are not
    set aside are left out). Logged with ``actor`` and ``reason``."""
    async with conn.transaction():
        rows = await conn.fetch(
            f"SELECT {_SET_ASIDE_COLUMNS} FROM outbox o WHERE o.set_aside_at IS NOT NULL"
            " AND o.id = ANY($1::bigint[]) ORDER BY o.id FOR UPDATE OF o",
            list(ids),
        )
        found = [_set_aside_row(r) for r in rows]
        if not found:
            return []
        await conn.execute(
            "UPDATE outbox SET set_aside_at = NULL WHERE id = ANY($1::bigint[])",
            [r.id for r in found],
        )
        await _log(conn, "retry", actor, reason, found)
        await conn.execute(f"SELECT pg_notify('{_CHANNEL_PREFIX}' || current_schema(), '')")
    return found


async def discard_set_aside(
    conn: Conn, ids: Sequence[int], *, actor: str, reason: str
) -> list[SetAsideRow]:
    """Remove set-aside rows for good: they are never published, and the rows held behind them
    are published next. The record is kept in ``outbox_set_aside_log`` with ``actor`` and
    ``reason``. Returns the rows discarded (ids that are not set aside are left out)."""
    async with conn.transaction():
        rows = await conn.fetch(
            f"SELECT {_SET_ASIDE_COLUMNS} FROM outbox o WHERE o.set_aside_at IS NOT NULL"
            " AND o.id = ANY($1::bigint[]) ORDER BY o.id FOR UPDATE OF o",
            list(ids),
        )
        found = [_set_aside_row(r) for r in rows]
        if not found:
            return []
        await conn.execute(
            "WITH gone AS (DELETE FROM outbox WHERE id = ANY($1::bigint[]) RETURNING *)"
            " INSERT INTO outbox_set_aside_log"
            " (action, actor, reason, outbox_id, event_id, topic, key, code, value, headers)"
            " SELECT 'discard', $2, $3, id, event_id, topic, key, set_aside_code, value, headers"
            " FROM gone ORDER BY id",
            [r.id for r in found],
            actor,
            reason,
        )
        await conn.execute(f"SELECT pg_notify('{_CHANNEL_PREFIX}' || current_schema(), '')")
    return found


async def _log(
    conn: Conn, action: str, actor: str, reason: str, rows: Sequence[SetAsideRow]
) -> None:
    await conn.executemany(
        "INSERT INTO outbox_set_aside_log"
        " (action, actor, reason, outbox_id, event_id, topic, key, code)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [(action, actor, reason, r.id, r.event_id, r.topic, r.key, r.code) for r in rows],
    )


@dataclass(frozen=True)
class LogEntry:
    at: datetime
    action: str
    actor: str
    db_user: str
    reason: str
    outbox_id: int
    event_id: uuid.UUID
    topic: str
    key: str
    code: str | None


async def set_aside_log(executor: Executor, outbox_id: int | None = None) -> list[LogEntry]:
    """What happened to set-aside rows (one row's, when given), oldest first."""
    rows = await executor.fetch(
        "SELECT at, action, actor, db_user, reason, outbox_id, event_id, topic, key, code"
        " FROM outbox_set_aside_log WHERE $1::bigint IS NULL OR outbox_id = $1 ORDER BY id",
        outbox_id,
    )
    return [LogEntry(*r) for r in rows]


@dataclass(frozen=True)
class Fate:
    outbox_id: int
    state: str
    """published, set aside (refused again), pending (not tried yet), or gone."""


async def fates(
    executor: Executor, ids: Sequence[int], times_before: Mapping[int, int]
) -> list[Fate]:
    """Where retried rows stand: ``times_before`` is each row's set-aside count at the retry."""
    rows = await executor.fetch(
        "SELECT id, published_at IS NOT NULL AS published, set_aside_at IS NOT NULL AS aside,"
        " set_aside_count FROM outbox WHERE id = ANY($1::bigint[])",
        list(ids),
    )
    by_id = {r["id"]: r for r in rows}
    found = []
    for outbox_id in ids:
        r = by_id.get(outbox_id)
        if r is None:
            state = "gone"
        elif r["published"]:
            state = "published"
        elif r["aside"] and r["set_aside_count"] > times_before.get(outbox_id, 0):
            state = "set aside"
        else:
            state = "pending"
        found.append(Fate(outbox_id, state))
    return found
