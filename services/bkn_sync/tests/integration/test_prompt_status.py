"""Each outcome of a batch is stored and told as its PUT completes, not when the batch ends:
while one teacher's PUT is still held by e-Kinerja, another's DELIVERED is already in the
database and on the status topic. The batch's offsets still wait for every outcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from bkn_sync import batch, handlers, pipeline
from kinerja_shared.service import Runtime
from kinerja_shared.topics import PLAN_AGREED
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.http import SIMULATOR_CLIENT_LIMITS
from kinerja_tools.testing.service import ServiceUnderTest

from .conftest import agreed

if TYPE_CHECKING:
    from conftest import Feed, StatusWatch, Teacher

pytestmark = pytest.mark.infra


def source(t: Teacher, offset: int) -> pipeline.Source:
    """An agreed plan as the SKP consumer reads it off Kafka (the offset made up)."""
    payload = agreed(t)
    return pipeline.Source(
        kind="SKP",
        nip=t.nip,
        npsn=t.npsn,
        period_id="2025",
        version=1,
        body=payload.model_dump(mode="json"),
        record=PLAN_AGREED.envelope(t.nip, payload).model_dump_json().encode(),
        topic=PLAN_AGREED.name,
        partition=0,
        offset=offset,
    )


@dataclass
class Rig:
    running: ServiceUnderTest
    sim: httpx.AsyncClient

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.running.app.state.runtime
        return runtime


@pytest.fixture(scope="module")
async def rig(bkn_sync: Any) -> AsyncIterator[Rig]:
    from ekinerja_sim.serving import running_simulator

    async with (
        running_simulator() as sim,
        # A PUT held by e-Kinerja must not time out while the test looks at the other one.
        bkn_sync(ekinerja_url=sim.url, ekinerja_timeout_seconds=600.0) as running,
        httpx.AsyncClient(base_url=sim.url, limits=SIMULATOR_CLIENT_LIMITS) as sim_client,
    ):
        yield Rig(running, sim_client)


async def test_a_fast_delivery_is_stored_and_told_while_a_slow_one_of_its_batch_is_in_flight(
    rig: Rig, feed: Feed, watch: StatusWatch
) -> None:
    slow, fast = feed.school(2)
    # e-Kinerja holds the slow teacher's PUT until its faults are next changed.
    held = {"latency": {"ms": 600_000, "nip": slow.nip, "until_changed": True}}
    assert (await rig.sim.put("/admin/faults", json=held)).status_code == 200
    routing = handlers.routing_of(rig.runtime)
    delivering = asyncio.create_task(
        batch.deliver(rig.runtime, [source(slow, 30), source(fast, 31)], routing)
    )
    try:

        async def state_of(nip: str) -> str | None:
            rows = await rig.running.fetch("SELECT state FROM deliveries WHERE nip = $1", nip)
            return rows[0]["state"] if rows else None

        async def fast_delivered_and_told() -> bool:
            told = any(e["state"] == "DELIVERED" for e in watch.of(fast.nip))
            return told and await state_of(fast.nip) == "DELIVERED"

        await wait_for(fast_delivered_and_told, timeout=60, what="fast DELIVERED, stored and told")

        # The slow one is still with e-Kinerja: its batch has not ended.
        faults = (await rig.sim.get("/admin/faults")).json()
        assert faults["held_requests"] == 1
        assert await state_of(slow.nip) == "IN_FLIGHT"
        assert not delivering.done()
        assert not any(e["state"] == "DELIVERED" for e in watch.of(slow.nip))
    finally:
        await rig.sim.delete("/admin/faults")  # lets the slow PUT through

    recorded = await asyncio.wait_for(delivering, timeout=60)

    assert sorted(d.state for d in recorded if d is not None) == ["DELIVERED", "DELIVERED"]
    for t in (slow, fast):
        ledger = (await rig.sim.get("/ledger", params={"nip": t.nip})).json()
        assert ledger["count"] == 1
