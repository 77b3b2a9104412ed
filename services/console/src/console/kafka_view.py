"""What the console reads from Kafka itself: consumer lag per group, the size of each DLQ, and
DLQ records with their headers; and the one thing it writes: a DLQ record republished to the
topic it came from. It never joins a consumer group (nothing it reads moves an offset)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import ClusterAuthorizationFailedError, TopicAuthorizationFailedError

ORIGINAL_TOPIC = "kinerja-original-topic"
REPUBLISHED_FROM = "kinerja-republished-from"
# How long the list of the cluster's consumer groups is reused. Listing is the slow part of a
# lag view on a cluster with many groups (a test cluster holds thousands); a service's
# subscriptions change with a deployment, and one shows up on the overview within this time.
GROUPS_TTL_SECONDS = 30.0


class RepublishRefused(Exception):
    """The broker does not let the console write the record's topic: with per-service ACLs
    (docs/security.md §8) only the topic's own service may, so the page says so instead of
    failing."""

    def __init__(self, topic: str, why: str) -> None:
        super().__init__(
            f"Kafka refused the console's write to {topic} ({why}): with per-service ACLs "
            "only the service that owns the topic may write it"
        )
        self.topic = topic


@dataclass(frozen=True)
class GroupLag:
    group: str
    lag: int
    topics: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DlqRecord:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    timestamp: datetime
    headers: dict[str, str]

    @property
    def ref(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def original_topic(self) -> str | None:
        return self.headers.get(ORIGINAL_TOPIC)

    @property
    def preview(self) -> str:
        return self.value[:600].decode(errors="replace")


class KafkaView:
    def __init__(self, bootstrap: str, client_options: Mapping[str, Any] | None = None) -> None:
        self._bootstrap = bootstrap
        # The console's own login (ServiceSettings.kafka_client_options: SASL over TLS where
        # the broker asks for it), on every client it makes.
        self._options = dict(client_options or {})
        self._lock = asyncio.Lock()
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._groups: tuple[float, list[str]] | None = None

    async def close(self) -> None:
        for client in (self._consumer, self._producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()
        if self._admin is not None:
            with contextlib.suppress(Exception):
                await self._admin.close()

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        async with self._lock:
            if self._admin is None:
                admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, **self._options)
                await admin.start()
                self._admin = admin
            if self._consumer is None:
                consumer = AIOKafkaConsumer(
                    bootstrap_servers=self._bootstrap,
                    group_id=None,
                    enable_auto_commit=False,
                    **self._options,
                )
                await consumer.start()
                self._consumer = consumer
            return self._admin, self._consumer

    async def _partitions(self, topics: Sequence[str]) -> list[TopicPartition]:
        _, consumer = await self._clients()
        # Every topic's metadata, fresh (topics created since the last look). Not the client's
        # own refresh: once end_offsets has named topics (the lag view), that asks for those
        # alone, and a DLQ not among them would read as missing.
        cluster = await consumer._client.fetch_all_metadata()
        found: list[TopicPartition] = []
        for topic in topics:
            for p in sorted(cluster.partitions_for_topic(topic) or ()):
                found.append(TopicPartition(topic, p))
        return found

    async def lag(self, groups: Sequence[str]) -> list[GroupLag]:
        """Lag of each named service group: its per-subscription groups ``<group>:<topic>``
        (and a plain group of that name) summed."""
        admin, consumer = await self._clients()
        names = await self._group_names(admin)
        wanted = {
            group: [n for n in names if n == group or n.startswith(f"{group}:")] for group in groups
        }
        members = sorted({m for found in wanted.values() for m in found})
        offsets = await asyncio.gather(*(admin.list_consumer_group_offsets(m) for m in members))
        committed = {
            member: {tp: meta.offset for tp, meta in got.items() if meta is not None}
            for member, got in zip(members, offsets, strict=True)
        }
        tps = sorted({tp for got in committed.values() for tp in got})
        ends = await consumer.end_offsets(tps) if tps else {}
        result: list[GroupLag] = []
        for group, found in wanted.items():
            per_topic: dict[str, int] = defaultdict(int)
            for member in found:
                for tp, offset in committed[member].items():
                    per_topic[tp.topic] += max(0, ends[tp] - offset) if offset >= 0 else ends[tp]
            result.append(GroupLag(group, sum(per_topic.values()), dict(per_topic)))
        return result

    async def _group_names(self, admin: AIOKafkaAdminClient) -> list[str]:
        now = time.monotonic()
        if self._groups is None or now - self._groups[0] > GROUPS_TTL_SECONDS:
            listed = await admin.list_consumer_groups()
            self._groups = (now, [g[0] for g in listed])
        return self._groups[1]

    async def sizes(self, topics: Sequence[str]) -> dict[str, int | None]:
        """Records held by each topic (None: no such topic on this cluster)."""
        _, consumer = await self._clients()
        tps = await self._partitions(topics)
        sizes: dict[str, int | None] = dict.fromkeys(topics)
        if tps:
            starts = await consumer.beginning_offsets(tps)
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                sizes[tp.topic] = (sizes[tp.topic] or 0) + ends[tp] - starts[tp]
        return sizes

    async def records(self, topic: str, *, newest: int) -> list[DlqRecord]:
        """Up to ``newest`` of the newest records of every partition, newest first."""
        tps = await self._partitions([topic])
        if not tps:
            return []
        reader = await self._reader()
        try:
            starts = await reader.beginning_offsets(tps)
            ends = await reader.end_offsets(tps)
            wanted = {tp: ends[tp] for tp in tps if ends[tp] > starts[tp]}
            if not wanted:
                return []
            reader.assign(list(wanted))
            for tp in wanted:
                reader.seek(tp, max(starts[tp], ends[tp] - newest))
            found: list[DlqRecord] = []
            async for record in _until_ends(reader, wanted):
                found.append(_record(record))
        finally:
            await reader.stop()
        found.sort(key=lambda r: r.timestamp, reverse=True)
        return found[: newest * len(tps)]

    async def record(self, topic: str, partition: int, offset: int) -> DlqRecord | None:
        tp = TopicPartition(topic, partition)
        reader = await self._reader()
        try:
            ends = await reader.end_offsets([tp])
            if offset >= ends.get(tp, 0):
                return None
            reader.assign([tp])
            reader.seek(tp, offset)
            batch = await reader.getmany(tp, timeout_ms=5000, max_records=1)
            for msg in batch.get(tp, []):
                if msg.offset == offset:
                    return _record(msg)
            return None
        finally:
            await reader.stop()

    async def republish(self, record: DlqRecord) -> str:
        """Send the record's value, key and headers to the topic it came from; that topic."""
        target = record.original_topic
        if not target:
            raise ValueError("the record names no original topic (kinerja-original-topic)")
        headers = {**record.headers, REPUBLISHED_FROM: f"{record.topic}:{record.ref}"}
        try:
            producer = await self._writer()
            await producer.send_and_wait(
                target,
                record.value,
                key=record.key.encode() if record.key is not None else None,
                headers=[(k, v.encode()) for k, v in headers.items()],
            )
        except (TopicAuthorizationFailedError, ClusterAuthorizationFailedError) as exc:
            raise RepublishRefused(target, type(exc).__name__) from exc
        return target

    async def _reader(self) -> AIOKafkaConsumer:
        # One per read: assignments and positions of concurrent page views never mix.
        reader = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self._options,
        )
        await reader.start()
        return reader

    async def _writer(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap,
                    enable_idempotence=True,
                    acks="all",
                    **self._options,
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer


async def _until_ends(
    reader: AIOKafkaConsumer, ends: dict[TopicPartition, int]
) -> AsyncIterator[object]:
    remaining = dict(ends)
    while remaining:
        batch = await reader.getmany(*remaining, timeout_ms=5000)
        if not batch:
            return  # nothing more arrives within the wait: show what was read
        for tp, messages in batch.items():
            for msg in messages:
                if msg.offset < remaining.get(tp, 0):
                    yield msg
            if messages and messages[-1].offset + 1 >= remaining.get(tp, 0):
                remaining.pop(tp, None)


def _record(msg: object) -> DlqRecord:
    m: Any = msg
    return DlqRecord(
        topic=m.topic,
        partition=m.partition,
        offset=m.offset,
        key=m.key.decode(errors="replace") if m.key is not None else None,
        value=m.value or b"",
        timestamp=datetime.fromtimestamp(m.timestamp / 1000, UTC),
        headers={k: bytes(v).decode(errors="replace") for k, v in (m.headers or ())},
    )
