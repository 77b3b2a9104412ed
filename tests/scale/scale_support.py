"""Real-broker helpers for the horizontal-scale tests: processes, consumer groups, relay lock."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from kinerja_shared.envelope import Envelope
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.stack import REPO

BIN = REPO / ".venv" / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def nip(n: int) -> str:
    """A well-formed PNS NIP (docs/domain.md §6.2 layout), distinct for each ``n`` < 335,664."""
    day, month, seq = 1 + n % 28, 1 + (n // 28) % 12, 1 + n // 336
    return f"1985{month:02d}{day:02d}201001{1 + n % 2}{seq:03d}"


# --- processes -----------------------------------------------------------------------------


@dataclass
class Instance:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    url: str | None = None

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None


def spawn(name: str, argv: Sequence[str | Path], env: dict[str, str], logs: Path) -> Instance:
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(a) for a in argv], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return Instance(name, proc, log)


def stop_all(instances: Iterable[Instance]) -> None:
    """SIGTERM what still runs (graceful shutdown), SIGKILL what does not stop in time."""
    running = [i for i in instances if i.alive()]
    for i in running:
        i.proc.send_signal(signal.SIGTERM)
    for i in running:
        try:
            i.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            i.proc.kill()
            i.proc.wait(timeout=10)


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KINERJA_FAILPOINT"}
    # Spans would only load the shared machine; the scale test asserts on Kafka and SQL.
    env["OTEL_TRACES_EXPORTER"] = "none"
    return env


async def wait_ready(instance: Instance, timeout: float = 60) -> None:
    assert instance.url is not None

    async def ready() -> bool:
        if not instance.alive():
            raise AssertionError(f"{instance.name} exited:\n{instance.tail()}")
        try:
            async with httpx.AsyncClient(timeout=1) as client:
                return (await client.get(f"{instance.url}/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    await wait_for(ready, timeout=timeout, interval=0.2, what=f"{instance.name} /readyz")


# --- Kafka -----------------------------------------------------------------------------------


async def create_topics(bootstrap: str, names: Sequence[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


def scratch_topic(what: str) -> str:
    return f"kinerja.scale-{secrets.token_hex(4)}.{what}.v1"


async def start_groups_at_end(
    bootstrap: str, groups_and_topics: dict[str, tuple[str, int]]
) -> None:
    """Commit the current end of each topic for its group (``{group_id: (topic, partitions)}``),
    so a group on a shared registry topic sees only what this run publishes, not other tests'
    history."""
    for group_id, (topic, partitions) in groups_and_topics.items():
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False
        )
        await consumer.start()
        # aiokafka 0.14 raises CancelledError from stop() if its coordinator task never ran.
        await asyncio.sleep(0)
        try:
            tps = [TopicPartition(topic, p) for p in range(partitions)]
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            await consumer.commit(ends)
        finally:
            await consumer.stop()


@dataclass(frozen=True)
class Member:
    member_id: str
    client_id: str
    partitions: frozenset[int]


@dataclass(frozen=True)
class GroupView:
    state: str
    members: tuple[Member, ...] = field(default=())

    def owned(self) -> set[int]:
        return {p for m in self.members for p in m.partitions}

    def balanced_over(self, count: int, partitions: int) -> bool:
        """``count`` members, each with partitions, together owning every partition once."""
        owned = [p for m in self.members for p in m.partitions]
        return (
            self.state == "Stable"
            and len(self.members) == count
            and all(m.partitions for m in self.members)
            and sorted(owned) == list(range(partitions))
        )


async def describe_group(bootstrap: str, group_id: str, topic: str) -> GroupView:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group_id])
    finally:
        await admin.close()
    (group,) = response.groups
    _error, _gid, state, _ptype, _proto, raw_members = group[:6]
    members = []
    for member in raw_members:
        member_id, client_id, _host, _meta, assignment = member[:5]
        parts: frozenset[int] = frozenset()
        if assignment:
            decoded = ConsumerProtocolMemberAssignment.decode(assignment)
            parts = frozenset(tp.partition for tp in decoded.partitions() if tp.topic == topic)
        members.append(Member(member_id, client_id, parts))
    return GroupView(state, tuple(sorted(members, key=lambda m: m.member_id)))


async def read_topic(bootstrap: str, topic: str, partitions: int) -> list[bytes]:
    """Every record of ``topic`` from the beginning up to its current end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    await asyncio.sleep(0)
    values: list[bytes] = []
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + 60
        for tp in tps:
            while await consumer.position(tp) < ends[tp]:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"could not read {topic} to its end")
                for records in (await consumer.getmany(tp, timeout_ms=1000)).values():
                    values.extend(r.value for r in records if r.value is not None)
    finally:
        await consumer.stop()
    return values


async def stream(
    bootstrap: str,
    topic: str,
    envelopes: Sequence[Envelope[object]],
    *,
    progress: Callable[[], Awaitable[int]],
    window: int,
    chunk: int = 100,
    on_chunk: Callable[[int, int], Awaitable[None]] | None = None,
    timeout: float = 90,
) -> None:
    """Publish ``envelopes`` (keyed by subject) in chunks, never more than ``window`` ahead of
    ``progress()`` (events applied so far): the stream keeps flowing while consumers come and
    go, and a kill always lands with records in flight on every partition."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    sent = 0
    try:
        for start in range(0, len(envelopes), chunk):
            floor = sent - window

            async def caught_up(floor: int = floor) -> bool:
                return await progress() >= floor

            await wait_for(caught_up, timeout=timeout, interval=0.05, what="consumers to keep up")
            batch = envelopes[start : start + chunk]
            futures = [
                await producer.send(topic, e.model_dump_json().encode(), key=e.subject.encode())
                for e in batch
            ]
            await asyncio.gather(*futures)
            sent += len(batch)
            if on_chunk is not None:
                await on_chunk(sent, await progress())
    finally:
        await producer.stop()


# --- PostgreSQL ------------------------------------------------------------------------------

RELAY_LOCK_HOLDER = """
SELECT l.pid FROM pg_locks l
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtext($1)::bigint
"""


async def relay_lock_holders(conn: asyncpg.Connection, schema: str) -> list[int]:
    """Backend pids holding the outbox relay's advisory lock of ``schema`` (0 or 1 of them)."""
    rows = await conn.fetch(RELAY_LOCK_HOLDER, f"relay:{schema}")
    return [r["pid"] for r in rows]
