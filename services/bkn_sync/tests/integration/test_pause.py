"""Pausing deliveries to e-Kinerja (BKN's maintenance window): while paused, e-Kinerja sees no
PUT and no attempt is spent; resumed (by hand or by the pause's end time), every delivery goes.

The pause lives in the database every replica reads: a pause written by another replica (here
straight into the table) holds this one on its next read, without any call to its API.

Its own simulator and bkn-sync instance: the pause holds every delivery of the instance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from bkn_sync import metrics
from kinerja_shared.auth import DevIdentityProvider
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.http import SIMULATOR_CLIENT_LIMITS
from kinerja_tools.testing.service import ServiceUnderTest

if TYPE_CHECKING:
    from conftest import Feed, Teacher

pytestmark = pytest.mark.infra

HOLD_MAX = 2.0


@dataclass
class Rig:
    running: ServiceUnderTest
    sim: httpx.AsyncClient
    operator: dict[str, str]
    idp: DevIdentityProvider

    async def rows(self, teachers: list[Teacher]) -> list[Any]:
        return await self.running.fetch(
            "SELECT nip, state, attempts, delivered_at FROM deliveries WHERE nip = ANY($1)",
            [t.nip for t in teachers],
        )

    async def puts_seen(self, teachers: list[Teacher]) -> int:
        seen = 0
        for t in teachers:
            got = await self.sim.get("/ledger/attempts", params={"nip": t.nip})
            seen += got.json()["count"]
        return seen

    async def knows_paused(self) -> bool:
        held = self.running.app.state.runtime.parts.pause
        return bool(held.record is not None)


@pytest.fixture(scope="module")
async def rig(bkn_sync: Any, idp: DevIdentityProvider) -> AsyncIterator[Rig]:
    from ekinerja_sim.serving import running_simulator

    async with (
        running_simulator() as sim,
        bkn_sync(
            ekinerja_url=sim.url,
            # The simulator answers from this process's event loop: on a loaded CI machine a
            # stall of seconds timed every PUT of a batch out (BKN-T01), a second attempt this
            # test is not about. Timeouts have their own tests (test_faults.py).
            ekinerja_timeout_seconds=60.0,
            pause_poll_seconds=0.3,
            retry_hold_max_seconds=HOLD_MAX,
        ) as running,
        httpx.AsyncClient(base_url=sim.url, limits=SIMULATOR_CLIENT_LIMITS) as sim_client,
    ):
        operator = {"Authorization": f"Bearer {idp.mint(role='operator', subject='op-uji')}"}
        rig = Rig(running, sim_client, operator, idp)
        yield rig
        await running.client.delete("/pause", headers=operator)


async def _all(rig: Rig, teachers: list[Teacher], state: str) -> list[Any]:
    async def probe() -> list[Any] | None:
        rows = await rig.rows(teachers)
        done = len(rows) == len(teachers) and all(r["state"] == state for r in rows)
        return rows if done else None

    rows: list[Any] = await wait_for(probe, timeout=60, what=f"all {state}")
    return rows


async def _held_through_a_whole_hold(rig: Rig) -> None:
    """A handler holds at most HOLD_MAX, then fails and reads its records again, holding anew:
    two more holds counted mean the pause held a batch past its first hold's end."""
    before = metrics.BREAKER_HOLDS._value.get()

    async def held_again() -> bool:
        return metrics.BREAKER_HOLDS._value.get() >= before + 2

    await wait_for(held_again, timeout=30, what="a batch held twice while paused")


async def test_a_pause_from_another_replica_holds_deliveries_without_attempts_until_resumed(
    rig: Rig, feed: Feed
) -> None:
    # Written to the shared table, as another replica's PUT /pause does.
    await rig.running.fetch(
        "INSERT INTO delivery_pause (reason, paused_by) VALUES ($1, $2) RETURNING 1",
        "Pemeliharaan e-Kinerja BKN",
        "replika-lain",
    )
    await wait_for(rig.knows_paused, timeout=10, what="this replica reads the pause")
    teachers = feed.school(3)
    for t in teachers:
        await feed.plan_agreed(t)

    rows = await _all(rig, teachers, "QUEUED")
    await _held_through_a_whole_hold(rig)
    assert await rig.puts_seen(teachers) == 0
    rows = await rig.rows(teachers)
    assert {(r["state"], r["attempts"]) for r in rows} == {("QUEUED", 0)}
    state = (await rig.running.client.get("/pause", headers=rig.operator)).json()
    assert state["paused"] is True
    assert state["reason"] == "Pemeliharaan e-Kinerja BKN"
    assert state["paused_by"] == "replika-lain"

    resumed = await rig.running.client.delete("/pause", headers=rig.operator)
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["paused"] is False

    rows = await _all(rig, teachers, "DELIVERED")
    assert {r["attempts"] for r in rows} == {1}
    assert await rig.puts_seen(teachers) == len(teachers)
    for t in teachers:
        assert (await rig.sim.get("/ledger", params={"nip": t.nip})).json()["count"] == 1


async def test_a_pause_with_an_end_time_resumes_by_itself(rig: Rig, feed: Feed) -> None:
    until = datetime.now(UTC) + timedelta(seconds=4)
    paused = await rig.running.client.put(
        "/pause",
        json={"reason": "Jendela pemeliharaan BKN", "until": until.isoformat()},
        headers=rig.operator,
    )
    assert paused.status_code == 200, paused.text
    body = paused.json()
    assert body["paused"] is True
    assert body["paused_by"] == "op-uji"
    assert datetime.fromisoformat(body["until"]) == until
    assert await rig.knows_paused()  # the replica that took the request knows at once

    teachers = feed.school(2)
    for t in teachers:
        await feed.plan_agreed(t)
    await _all(rig, teachers, "QUEUED")
    assert await rig.puts_seen(teachers) == 0

    rows = await _all(rig, teachers, "DELIVERED")
    assert all(r["delivered_at"] >= until for r in rows)
    assert {r["attempts"] for r in rows} == {1}
    assert (await rig.running.client.get("/pause", headers=rig.operator)).json() == {
        "paused": False,
        "reason": None,
        "paused_by": None,
        "paused_at": None,
        "until": None,
    }


async def test_only_an_operator_pauses_and_an_end_time_must_lie_ahead(rig: Rig) -> None:
    for role, scope in (("dinas", {"area": "31"}), ("guru", {"nip": "198001012005011001"})):
        if role == "guru":
            scope["npsn"] = "20100001"
        headers = {"Authorization": f"Bearer {rig.idp.mint(role=role, **scope)}"}
        for method in ("GET", "PUT", "DELETE"):
            body = {"reason": "coba jeda"} if method == "PUT" else None
            got = await rig.running.client.request(method, "/pause", json=body, headers=headers)
            assert got.status_code == 403, (role, method, got.text)
            assert got.json()["code"] == "ROLE_FORBIDDEN"

    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    far = (datetime.now(UTC) + timedelta(days=31)).isoformat()  # a year typed wrong, say
    for until in (past, far, "2030-01-01T10:00:00"):
        refused = await rig.running.client.put(
            "/pause", json={"reason": "jeda uji", "until": until}, headers=rig.operator
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "PAUSE_UNTIL_INVALID"
    short = await rig.running.client.put("/pause", json={"reason": "x"}, headers=rig.operator)
    assert short.status_code == 422
    assert (await rig.running.client.get("/pause", headers=rig.operator)).json()["paused"] is False
