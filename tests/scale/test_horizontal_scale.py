"""Horizontal scale on the real broker (issue 7): replicas of one service share a consumer group,
one is SIGKILLed mid-stream, its partitions move to the survivors, nothing is lost and nothing is
applied twice.

Two checks, both with three separate processes sharing one consumer group and one schema:

1. **Generic**: the shape every service has (``inbox.subscribe`` → effect + ``outbox.add`` in one
   transaction → ``OutboxRelay``), with an effect table that has *no* unique key, so a double
   application would show up as a second row. The instance killed is the relay leader, so the
   relay fails over as well; every output event must reach Kafka (at least once).
2. **A real service**: ``assessment serve`` ×3, fed ``kinerja.observation.conducted.v1`` (its
   simplest input: evidence is stored even before the plan arrives, docs/domain.md §2.6), checked in
   its own tables (``inbox``, ``evidence``, ``assessments``).

The stream is paced by progress, not by time: never more than ``WINDOW`` events ahead of what
was applied, so the kill lands with records in flight on every partition and the stream keeps
flowing during the rebalance (Kafka notices a SIGKILLed member after ``session.timeout.ms``,
10 s by default in aiokafka).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka.partitioner import DefaultPartitioner
from scale_harness import Work, work_topic
from scale_support import (
    BIN,
    GroupView,
    Instance,
    base_env,
    create_topics,
    describe_group,
    free_port,
    nip,
    read_topic,
    relay_lock_holders,
    scratch_topic,
    spawn,
    start_groups_at_end,
    stop_all,
    stream,
    wait_ready,
)

from kinerja_shared import db
from kinerja_shared.auth.devtoken import DevIdentityProvider
from kinerja_shared.envelope import Envelope
from kinerja_shared.events.observation import ObservationConducted
from kinerja_shared.topics import (
    COMPETENCY_REPORTED,
    DUTY_REPORTED,
    FOLLOWUP_REFLECTED,
    OBSERVATION_CONDUCTED,
    PLAN_AGREED,
    PLAN_REVISED,
    ROSTER_PEGAWAI,
    ROSTER_SEKOLAH,
)
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.stack import Stack

pytestmark = [pytest.mark.infra, pytest.mark.timeout(180)]

HARNESS = Path(__file__).parent / "scale_harness.py"
NO_MIGRATIONS = Path(db.__file__).parent / "testing" / "no_migrations"
PARTITIONS = 12  # the registry's default (topics.Topic.partitions)
REPLICAS = 3
WINDOW = 600


def partition_for(key: str) -> int:
    """Where aiokafka's default partitioner (murmur2, as Java's) puts ``key``."""
    return int(_PARTITIONER(key.encode(), list(range(PARTITIONS)), list(range(PARTITIONS))))


_PARTITIONER = DefaultPartitioner()


def report(*lines: object) -> None:
    # Shown with -s; the figures are the point of the exercise.
    print("\n[scale]", *lines, sep="\n  ")


@pytest.fixture
async def admin_conn(stack: Stack) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(stack.pg_admin_dsn)
    yield conn
    await conn.close()


async def drop_schema(conn: asyncpg.Connection, schema: str) -> None:
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def wait_group(
    bootstrap: str, group_id: str, topic: str, what: str, ok: Callable[[GroupView], bool]
) -> GroupView:
    async def probe() -> GroupView | None:
        view = await describe_group(bootstrap, group_id, topic)
        return view if ok(view) else None

    return await wait_for(probe, timeout=60, interval=0.5, what=what)


async def kill(victim: Instance) -> None:
    os.kill(victim.proc.pid, signal.SIGKILL)
    victim.proc.wait(timeout=10)
    assert victim.proc.returncode == -signal.SIGKILL


class Clock:
    """Seconds since the test started, per phase: the failover time is a capacity figure."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.marks: dict[str, float] = {}

    def mark(self, name: str) -> None:
        self.marks[name] = round(time.monotonic() - self.t0, 1)

    def since(self, a: str, b: str) -> float:
        return round(self.marks[b] - self.marks[a], 1)


@dataclass
class Killed:
    sent: int
    applied: int
    failover: asyncio.Task[GroupView]


async def stream_and_kill(
    stack: Stack,
    topic: str,
    envelopes: Sequence[Envelope[Any]],
    *,
    progress: Callable[[], Awaitable[int]],
    victim: Instance,
    group_id: str,
    clock: Clock,
) -> Killed:
    """Publish the stream; SIGKILL ``victim`` once a third of it is applied and watch the group
    until the survivors own every partition."""
    killed: list[Killed] = []

    async def rebalanced() -> GroupView:
        view = await wait_group(
            stack.kafka_bootstrap,
            group_id,
            topic,
            "the survivors owning all partitions",
            lambda v: v.balanced_over(REPLICAS - 1, PARTITIONS),
        )
        clock.mark("rebalanced")
        return view

    async def maybe_kill(sent: int, done: int) -> None:
        if not killed and done >= len(envelopes) // 3:
            await kill(victim)
            clock.mark("killed")
            killed.append(Killed(sent, done, asyncio.create_task(rebalanced())))

    clock.mark("stream")
    await stream(
        stack.kafka_bootstrap,
        topic,
        envelopes,
        progress=progress,
        window=WINDOW,
        on_chunk=maybe_kill,
    )
    clock.mark("published")
    assert killed, "the victim was killed mid-stream"
    assert killed[0].sent < len(envelopes), "records were still being published at the kill"
    return killed[0]


# --- 1. the generic consumer: inbox → effect + outbox → relay ---------------------------------


async def test_generic_consumer_group_survives_sigkill_of_a_replica(
    stack: Stack, fresh_schema: str, admin_conn: asyncpg.Connection, tmp_path: Path
) -> None:
    n_events = 2000
    schema = fresh_schema
    source, sink = scratch_topic("work"), scratch_topic("done")
    await create_topics(stack.kafka_bootstrap, [source, sink], PARTITIONS)
    group = f"scale-{secrets.token_hex(4)}"
    group_id = f"{group}:{source}"  # inbox.subscribe: one Kafka group per subscription
    # No unique key on purpose: an event applied twice would be two rows.
    await admin_conn.execute(
        f'CREATE TABLE "{schema}".applied (event_id uuid NOT NULL, n int NOT NULL, '
        "out_event_id uuid NOT NULL, worker text NOT NULL, pid int NOT NULL, "
        "at timestamptz NOT NULL DEFAULT clock_timestamp())"
    )

    def worker(i: int) -> Instance:
        argv = [sys.executable, HARNESS, "--name", f"worker-{i}", "--dsn", stack.pg_admin_dsn]
        argv += ["--schema", schema, "--bootstrap", stack.kafka_bootstrap, "--group", group]
        argv += ["--input", source, "--output", sink]
        return spawn(f"worker-{i}", argv, base_env(), tmp_path)

    async def applied() -> int:
        return int(await admin_conn.fetchval(f'SELECT count(*) FROM "{schema}".applied'))

    instances: list[Instance] = []
    clock = Clock()
    try:
        # The first replica alone: it takes the relay lock, so the leader is known.
        instances.append(worker(0))
        leader_backend = await wait_for(
            lambda: relay_lock_holders(admin_conn, schema), timeout=60, what="relay leader"
        )
        instances += [worker(1), worker(2)]
        before = await wait_group(
            stack.kafka_bootstrap,
            group_id,
            source,
            "3 members sharing all partitions",
            lambda v: v.balanced_over(REPLICAS, PARTITIONS),
        )
        victim = instances[0]
        (victim_member,) = [m for m in before.members if m.client_id == victim.name]

        clock.mark("ready")
        envelopes = [work_topic(source).envelope(nip(i), Work(n=i)) for i in range(n_events)]
        killed = await stream_and_kill(
            stack,
            source,
            envelopes,
            progress=applied,
            victim=victim,
            group_id=group_id,
            clock=clock,
        )

        await wait_for(
            lambda: admin_conn.fetchval(
                f'SELECT count(DISTINCT event_id) >= $1 FROM "{schema}".applied', n_events
            ),
            timeout=90,
            interval=0.2,
            what=f"all {n_events} events applied by the survivors",
        )
        clock.mark("applied")
        await killed.failover
        after = await describe_group(stack.kafka_bootstrap, group_id, source)
        assert after.balanced_over(REPLICAS - 1, PARTITIONS), after
        await wait_for(
            lambda: admin_conn.fetchval(
                f'SELECT count(*) = 0 FROM "{schema}".outbox WHERE published_at IS NULL'
            ),
            timeout=60,
            what="outbox drained by the new relay leader",
        )
        new_leader = await relay_lock_holders(admin_conn, schema)

        # Partitions moved: the dead member is gone and its partitions belong to survivors.
        assert victim.name not in {m.client_id for m in after.members}
        assert victim_member.partitions <= after.owned()
        assert {m.client_id for m in after.members} == {i.name for i in instances[1:]}

        # Nothing lost, nothing applied twice.
        rows = await admin_conn.fetch(
            f'SELECT event_id, n, out_event_id, worker FROM "{schema}".applied'
        )
        per_event = Counter(r["event_id"] for r in rows)
        assert len(rows) == n_events, f"{len(rows) - n_events} extra effect rows"
        assert set(per_event.values()) == {1}
        assert sorted(r["n"] for r in rows) == list(range(n_events))
        assert {r["event_id"] for r in rows} == {e.event_id for e in envelopes}
        claims = await admin_conn.fetchval(
            f'SELECT count(*) FROM "{schema}".inbox WHERE consumer = $1', group_id
        )
        assert claims == n_events, "inbox claims = events"
        by_worker = Counter(r["worker"] for r in rows)
        # The victim's partitions were finished by the survivors (the producer's partitioner
        # tells which partition each event went to).
        partition_of = {e.event_id: partition_for(e.subject) for e in envelopes}
        taken_over = Counter(
            r["worker"]
            for r in rows
            if partition_of[r["event_id"]] in victim_member.partitions
            and r["worker"] != victim.name
        )
        assert taken_over, "survivors applied events of the victim's partitions"

        # The relay: one leader at a time, a new one after the kill, every output published.
        assert len(leader_backend) == 1
        assert len(new_leader) == 1
        assert new_leader != leader_backend, "the relay lock moved to a survivor"
        staged = await admin_conn.fetchval(f'SELECT count(*) FROM "{schema}".outbox')
        assert staged == n_events, "one output staged per applied event, none per redelivery"
        published = [
            work_topic(sink).decode(v).event_id
            for v in await read_topic(stack.kafka_bootstrap, sink, PARTITIONS)
        ]
        expected = {r["out_event_id"] for r in rows}
        assert set(published) == expected, (
            f"missing {len(expected - set(published))}, unknown {len(set(published) - expected)}"
        )
        republished = len(published) - len(set(published))
        report(
            f"generic: {n_events} events, 3 replicas, killed {victim.name} (relay leader, "
            f"partitions {sorted(victim_member.partitions)}) after {killed.applied} "
            f"applied / {killed.sent} sent",
            f"timeline (s): {clock.marks}; kill -> survivors own all partitions "
            f"{clock.since('killed', 'rebalanced')} s; stream -> all applied "
            f"{n_events / clock.since('stream', 'applied'):.0f} events/s",
            f"effects per worker: {dict(sorted(by_worker.items()))}; of the victim's "
            f"partitions, after the kill: {dict(sorted(taken_over.items()))}",
            f"survivors now own: {[(m.client_id, sorted(m.partitions)) for m in after.members]}",
            f"output records {len(published)} for {len(expected)} events "
            f"({republished} republished by the relay, at least once)",
        )
    finally:
        stop_all(instances)


# --- 2. a real service: assessment ×3 ---------------------------------------------------------

ASSESSMENT_TOPICS = (
    ROSTER_PEGAWAI,
    ROSTER_SEKOLAH,
    PLAN_AGREED,
    PLAN_REVISED,
    OBSERVATION_CONDUCTED,
    FOLLOWUP_REFLECTED,
    COMPETENCY_REPORTED,
    DUTY_REPORTED,
)


def conducted(i: int) -> ObservationConducted:
    return ObservationConducted(
        observation_id=f"scale-obs-{i}",
        plan_id=f"scale-plan-{i}",
        nip=nip(i),
        npsn="20100001",
        period_id="2025",
        observer_nip="197001012000011001",
        conducted_at=datetime(2025, 3, 3, 9, tzinfo=UTC),
        rubric_scores={"1.1": 3, "1.2": 4},
        practice_rating="SESUAI_EKSPEKTASI",
    )


async def test_assessment_replicas_share_partitions_and_survive_sigkill(
    stack: Stack, admin_conn: asyncpg.Connection, tmp_path: Path
) -> None:
    n_events = 2000
    run = secrets.token_hex(4)
    schema = f"scale_assessment_{run}"
    group = f"assessment.scale-{run}"
    group_id = f"{group}:{OBSERVATION_CONDUCTED.name}"
    jwks_url = DevIdentityProvider(tmp_path / "idp").jwks_url

    def env(port: int) -> dict[str, str]:
        return {
            **base_env(),
            "ASSESSMENT_DATABASE_URL": stack.pg_admin_dsn,
            "ASSESSMENT_DB_SCHEMA": schema,
            "ASSESSMENT_CONSUMER_GROUP": group,
            "ASSESSMENT_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
            "ASSESSMENT_JWT_JWKS_URL": jwks_url,
            "ASSESSMENT_HTTP_PORT": str(port),
            "ASSESSMENT_OUTBOX_POLL_SECONDS": "0.5",
            "ASSESSMENT_DB_POOL_MAX": "5",
            "OTEL_SERVICE_NAME": "assessment",
        }

    def replica(i: int) -> Instance:
        port = free_port()
        inst = spawn(f"assessment-{i}", [BIN / "assessment", "serve"], env(port), tmp_path)
        inst.url = f"http://127.0.0.1:{port}"
        return inst

    ids: list[object] = []

    async def applied() -> int:
        # Other tests may publish to the shared topic meanwhile; count only our events.
        return int(
            await admin_conn.fetchval(
                f'SELECT count(*) FROM "{schema}".inbox WHERE consumer = $1 '
                "AND event_id = ANY($2::uuid[])",
                group_id,
                ids,
            )
        )

    instances: list[Instance] = []
    clock = Clock()
    try:
        migrate = await asyncio.create_subprocess_exec(
            BIN / "assessment",
            "migrate",
            env=env(0),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await migrate.communicate()
        assert migrate.returncode == 0, out.decode(errors="replace")[-3000:]
        # Only what this run publishes: skip the shared topics' history for our fresh group.
        groups = {f"{group}:{t.name}": (t.name, t.partitions) for t in ASSESSMENT_TOPICS}
        await start_groups_at_end(stack.kafka_bootstrap, groups)

        instances.append(replica(0))
        await wait_ready(instances[0])
        leader_backend = await wait_for(
            lambda: relay_lock_holders(admin_conn, schema), timeout=30, what="relay leader"
        )
        instances += [replica(1), replica(2)]
        for inst in instances[1:]:
            await wait_ready(inst)
        before = await wait_group(
            stack.kafka_bootstrap,
            group_id,
            OBSERVATION_CONDUCTED.name,
            "3 replicas sharing all partitions",
            lambda v: v.balanced_over(REPLICAS, PARTITIONS),
        )

        clock.mark("ready")
        envelopes = [OBSERVATION_CONDUCTED.envelope(nip(i), conducted(i)) for i in range(n_events)]
        ids.extend(e.event_id for e in envelopes)
        victim = instances[0]  # also the relay leader
        killed = await stream_and_kill(
            stack,
            OBSERVATION_CONDUCTED.name,
            envelopes,
            progress=applied,
            victim=victim,
            group_id=group_id,
            clock=clock,
        )

        async def all_applied() -> bool:
            return await applied() >= n_events

        await wait_for(
            all_applied,
            timeout=90,
            interval=0.2,
            what=f"all {n_events} observations applied by the survivors",
        )
        clock.mark("applied")
        await killed.failover
        after = await describe_group(stack.kafka_bootstrap, group_id, OBSERVATION_CONDUCTED.name)
        assert after.balanced_over(REPLICAS - 1, PARTITIONS), after
        new_leader = await wait_for(
            lambda: relay_lock_holders(admin_conn, schema), timeout=30, what="new relay leader"
        )

        # The victim's member left and every partition it owned now has a survivor.
        gone = {m.member_id for m in before.members} - {m.member_id for m in after.members}
        assert len(gone) >= 1
        victim_partitions = {p for m in before.members if m.member_id in gone for p in m.partitions}
        assert victim_partitions <= after.owned()
        assert new_leader != leader_backend, "the relay lock moved to a survivor"
        assert all(i.alive() for i in instances[1:])

        # Exactly once in effect: one claim, one evidence row, one assessment per event.
        claims = await admin_conn.fetchval(
            f'SELECT count(*) FROM "{schema}".inbox WHERE consumer = $1 '
            "AND event_id = ANY($2::uuid[])",
            group_id,
            ids,
        )
        evidence = await admin_conn.fetch(
            f'SELECT nip, event_id FROM "{schema}".evidence '
            "WHERE kind = 'OBSERVATION' AND period_id = '2025' AND event_id = ANY($1::text[])",
            [str(i) for i in ids],
        )
        assessments = await admin_conn.fetchval(
            f'SELECT count(*) FROM "{schema}".assessments '
            "WHERE period_id = '2025' AND nip = ANY($1::text[])",
            [nip(i) for i in range(n_events)],
        )
        assert claims == n_events
        assert len(evidence) == n_events
        assert Counter(r["event_id"] for r in evidence).most_common(1)[0][1] == 1
        assert {r["nip"] for r in evidence} == {nip(i) for i in range(n_events)}
        assert assessments == n_events
        unpublished = await admin_conn.fetchval(
            f'SELECT count(*) FROM "{schema}".outbox WHERE published_at IS NULL'
        )
        assert unpublished == 0
        report(
            f"assessment: {n_events} observation.conducted, 3 replicas, killed {victim.name} "
            f"(relay leader, partitions {sorted(victim_partitions)}) after "
            f"{killed.applied} applied / {killed.sent} sent",
            f"timeline (s): {clock.marks}; kill -> survivors own all partitions "
            f"{clock.since('killed', 'rebalanced')} s; stream -> all applied "
            f"{n_events / clock.since('stream', 'applied'):.0f} events/s",
            f"survivors now own: {[sorted(m.partitions) for m in after.members]}",
        )
    finally:
        stop_all(instances)
        await drop_schema(admin_conn, schema)
