"""After an outage, deliveries waiting on a retry tier are attempted as soon as e-Kinerja is
back, not when their tier is due.

The second tier waits ten minutes here, far longer than this test waits for anything: every
delivery the outage pushed onto it is delivered well before it would have been due. Judged by
e-Kinerja's own ledger and the delivery rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from kinerja_tools.testing import wait_for
from kinerja_tools.testing.http import SIMULATOR_CLIENT_LIMITS
from kinerja_tools.testing.service import ServiceUnderTest

if TYPE_CHECKING:
    from conftest import Feed, StatusWatch

pytestmark = pytest.mark.infra

TEACHERS = 6
LONG_TIER = 600.0


@dataclass
class Rig:
    running: ServiceUnderTest
    sim: httpx.AsyncClient
    feed: Feed


@pytest.fixture(scope="module")
async def rig(bkn_sync: Any, own_sources: Any, feed_to: Any) -> AsyncIterator[Rig]:
    from ekinerja_sim.serving import running_simulator

    # Source topics of its own: what earlier tests of the session published would otherwise be
    # delivered here first, and their successes would count in the breaker's window.
    async with (
        own_sources() as sources,
        running_simulator() as sim,
        bkn_sync(
            own=sources,
            ekinerja_url=sim.url,
            ekinerja_timeout_seconds=3.0,
            quick_attempts=2,
            quick_wait_max_seconds=0.1,
            retry_delays_seconds=(0.2, LONG_TIER, LONG_TIER),
            retry_hold_max_seconds=2.0,
            breaker_window_seconds=3.0,
            breaker_min_failures=3,
            breaker_failure_ratio=0.5,
            breaker_cool_down_seconds=0.5,
        ) as running,
        httpx.AsyncClient(base_url=sim.url, limits=SIMULATOR_CLIENT_LIMITS) as sim_client,
    ):
        yield Rig(running, sim_client, feed_to(sources))


# The waits below, with room for a loaded machine; still well within the tier's ten minutes.
@pytest.mark.timeout(360)
async def test_deliveries_on_a_long_tier_are_delivered_soon_after_e_kinerja_is_back(
    rig: Rig, watch: StatusWatch
) -> None:
    feed = rig.feed
    teachers = feed.school(TEACHERS)
    nips = [t.nip for t in teachers]
    # e-Kinerja answers every request with 503, with no word of when it will be back.
    outage = {"rules": [{"fault": "error", "statuses": [503]}]}
    assert (await rig.sim.put("/admin/faults", json=outage)).status_code == 200
    try:
        for t in teachers:
            await feed.plan_agreed(t)

        async def all_on_the_long_tier() -> list[Any] | None:
            rows = await rig.running.fetch(
                "SELECT nip, state, retry_tier, next_attempt_at FROM deliveries "
                "WHERE nip = ANY($1::text[])",
                nips,
            )
            on_it = [r for r in rows if r["state"] == "RETRYING" and r["retry_tier"] == 2]
            return rows if len(on_it) == TEACHERS else None

        waiting = await wait_for(all_on_the_long_tier, timeout=120, what="all on tier 2")
    finally:
        # e-Kinerja is back.
        await rig.sim.delete("/admin/faults")
    due: dict[str, datetime] = {r["nip"]: r["next_attempt_at"] for r in waiting}

    async def all_delivered() -> list[Any] | None:
        rows = await rig.running.fetch(
            "SELECT nip, state, attempts, delivered_at FROM deliveries WHERE nip = ANY($1::text[])",
            nips,
        )
        done = len(rows) == TEACHERS and all(r["state"] == "DELIVERED" for r in rows)
        return rows if done else None

    delivered = await wait_for(all_delivered, timeout=180, what="all DELIVERED")

    for r in delivered:
        assert r["delivered_at"] < due[r["nip"]], (r["nip"], r["delivered_at"], due[r["nip"]])
    # Once each in e-Kinerja, and each attempt it saw is counted in the delivery's history.
    summary = (await rig.sim.get("/ledger/summary")).json()
    assert summary["duplicates"] == 0
    for r in delivered:
        ledger = (await rig.sim.get("/ledger", params={"nip": r["nip"]})).json()
        assert ledger["count"] == 1
        seen = (await rig.sim.get("/ledger/attempts", params={"nip": r["nip"]})).json()
        assert seen["count"] == r["attempts"]

    async def told_delivered() -> bool:
        return all(any(e["state"] == "DELIVERED" for e in watch.of(n)) for n in nips)

    await wait_for(told_delivered, what="DELIVERED told for all")
