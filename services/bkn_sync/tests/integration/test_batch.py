"""The source consumers' batch path on the real stack: many deliveries in flight at once (even
of one partition), never more than ``max_in_flight``, and one slot's versions in one batch
collapse to the newest, the only one sent.

Judged by e-Kinerja's own ledger: which keys reached it, and how many requests it was serving
at the same time (each attempt's arrival = logged time - simulated latency).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from bkn_sync import batch, handlers, pipeline
from bkn_sync.domain.deliveries import idempotency_key
from kinerja_shared.service import Runtime
from kinerja_shared.topics import PLAN_AGREED
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.http import SIMULATOR_CLIENT_LIMITS

from .conftest import agreed

if TYPE_CHECKING:
    from conftest import Feed, StatusWatch, Teacher

pytestmark = pytest.mark.infra

MAX_IN_FLIGHT = 8
LATENCY_MS = 300


@dataclass
class Rig:
    service: httpx.AsyncClient
    sim: httpx.AsyncClient
    runtime: Runtime
    operator: dict[str, str]


@pytest.fixture(scope="module")
async def rig(bkn_sync: Any, idp: Any) -> AsyncIterator[Rig]:
    from ekinerja_sim.serving import running_simulator

    async with (
        running_simulator() as sim,
        bkn_sync(ekinerja_url=sim.url, max_in_flight=MAX_IN_FLIGHT) as running,
        httpx.AsyncClient(base_url=sim.url, limits=SIMULATOR_CLIENT_LIMITS) as sim_client,
    ):
        token = idp.mint(role="operator")
        yield Rig(
            running.client,
            sim_client,
            running.app.state.runtime,
            {"Authorization": f"Bearer {token}"},
        )


def source(t: Teacher, version: int, offset: int) -> pipeline.Source:
    """A record as the SKP consumer would have read it (offsets made up: only order matters)."""
    payload = agreed(t, version)
    return pipeline.Source(
        kind="SKP",
        nip=t.nip,
        npsn=t.npsn,
        period_id="2025",
        version=version,
        body=payload.model_dump(mode="json"),
        record=PLAN_AGREED.envelope(t.nip, payload).model_dump_json().encode(),
        topic=PLAN_AGREED.name,
        partition=0,
        offset=offset,
    )


async def sim_attempts(rig: Rig, nip: str | None = None) -> list[dict[str, Any]]:
    params = {"nip": nip} if nip else {}
    found: list[dict[str, Any]] = (await rig.sim.get("/ledger/attempts", params=params)).json()[
        "attempts"
    ]
    return found


def most_at_once(attempts: list[dict[str, Any]]) -> int:
    """The most requests e-Kinerja was serving at one time: each attempt is logged when it is
    answered, after its simulated latency, so it was open during [at - delay, at]."""
    edges: list[tuple[datetime, int]] = []
    for a in attempts:
        end = datetime.fromisoformat(a["at"])
        edges += [(end - timedelta(milliseconds=a["delay_ms"]), 1), (end, -1)]
    # At equal times a request ending is counted before one starting: touching is not overlap.
    edges.sort()
    open_now = peak = 0
    for _, step in edges:
        open_now += step
        peak = max(peak, open_now)
    return peak


async def test_one_slots_versions_in_one_batch_send_only_the_newest(
    rig: Rig, feed: Feed, watch: StatusWatch
) -> None:
    newer_last, newer_first = feed.school(2)
    routing = handlers.routing_of(rig.runtime)
    # Versions 1, 3 and 2 of one slot in one batch, in offset order; and 2 before 1 for another.
    records = [
        source(newer_last, 1, 10),
        source(newer_last, 3, 11),
        source(newer_last, 2, 12),
        source(newer_first, 2, 13),
        source(newer_first, 1, 14),
    ]
    await batch.deliver(rig.runtime, records, routing)

    for t, newest in ((newer_last, 3), (newer_first, 2)):
        sent = await sim_attempts(rig, t.nip)
        assert [a["key"] for a in sent] == [str(idempotency_key("SKP", t.nip, "2025", newest))]
        ledger = (await rig.sim.get("/ledger", params={"nip": t.nip})).json()["records"]
        assert [r["version"] for r in ledger] == [newest]

        async def told(nip: str = t.nip, n: int = newest) -> list[dict[str, Any]] | None:
            events = watch.of(nip)
            done = any(e["state"] == "DELIVERED" and e["version"] == n for e in events)
            return events if done else None

        events = await wait_for(told, timeout=15, what="DELIVERED status event")
        older = [e for e in events if e["version"] != newest]
        # The older versions were never queued or sent: only told SUPERSEDED.
        assert older
        assert all(e["state"] == "SUPERSEDED" for e in older), older
        assert {e["version"] for e in older} == set(range(1, newest))


async def test_a_batch_read_again_after_a_crash_resends_only_what_was_pending(
    rig: Rig, feed: Feed
) -> None:
    pending, delivered = feed.school(2)
    routing = handlers.routing_of(rig.runtime)
    await batch.deliver(rig.runtime, [source(delivered, 1, 20)], routing)
    # As if the process died after ingesting `pending` (IN_FLIGHT) but before its PUT.
    async with rig.runtime.db.acquire() as conn, conn.transaction():
        [(ingested, _)] = await pipeline.ingest(conn, [source(pending, 1, 21)], claim=True)
    assert ingested.state == "IN_FLIGHT"

    # The uncommitted offsets bring both records back.
    rows = await batch.deliver(
        rig.runtime, [source(delivered, 1, 20), source(pending, 1, 21)], routing
    )

    assert [r.state for r in rows if r is not None] == ["DELIVERED"]
    for t in (pending, delivered):
        sent = await sim_attempts(rig, t.nip)
        assert [a["key"] for a in sent] == [str(idempotency_key("SKP", t.nip, "2025", 1))]


async def test_many_deliveries_of_one_partition_are_in_flight_at_once_never_more_than_the_cap(
    rig: Rig, feed: Feed, stack: Any
) -> None:
    teachers = feed.school(40)
    await rig.sim.post("/admin/reset")
    await rig.sim.put("/admin/faults", json={"latency": {"ms": LATENCY_MS}})
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, linger_ms=50)
    await producer.start()
    try:
        # One partition: before, its records were handled one at a time.
        for t in teachers:
            value = PLAN_AGREED.envelope(t.nip, agreed(t, 1)).model_dump_json().encode()
            await producer.send(feed.sources.skp, value, key=t.nip.encode(), partition=0)
        await producer.flush()

        async def all_delivered() -> list[dict[str, Any]] | None:
            got = await rig.service.get(
                "/deliveries", params={"npsn": teachers[0].npsn}, headers=rig.operator
            )
            rows: list[dict[str, Any]] = got.json()
            done = len(rows) == len(teachers) and all(r["state"] == "DELIVERED" for r in rows)
            return rows if done else None

        await wait_for(all_delivered, timeout=60, what="all DELIVERED")
    finally:
        await producer.stop()
        await rig.sim.delete("/admin/faults")

    mine = {t.nip for t in teachers}
    attempts = [a for a in await sim_attempts(rig) if a["nip"] in mine]
    assert len(attempts) == len(teachers)
    peak = most_at_once(attempts)
    assert 2 <= peak <= MAX_IN_FLIGHT, peak
