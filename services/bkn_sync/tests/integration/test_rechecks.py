"""Scheduled checks of parked deliveries on the real stack, against the simulator over HTTP.

A delivery parked for a cause outside Kinerja is checked with e-Kinerja again on a schedule of
its own (test-sized here: seconds instead of hours), so a fix made at BKN that Kinerja never
hears of still delivers it, with nobody pressing redrive. Each check is an attempt in the
delivery's history, and its status tells when the next check is; after the last one it says
none will come. Kemenag (BKN-E07) is left alone by the schedule and by roster fixes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from bkn_sync.domain.delivery import NO_MORE_CHECKS
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.http import SIMULATOR_CLIENT_LIMITS
from kinerja_tools.testing.service import ServiceUnderTest

if TYPE_CHECKING:
    from conftest import Feed, StatusWatch, Teacher

pytestmark = pytest.mark.infra

# Checked every second, for far longer than any of these tests runs.
SCHEDULE = {
    "parked_recheck_every_seconds": 1.0,
    "parked_recheck_first_seconds": 600.0,
    "parked_recheck_then_every_seconds": 600.0,
    "parked_recheck_days": 1.0,
    "parked_recheck_poll_seconds": 0.2,
}


@dataclass
class Rig:
    running: ServiceUnderTest
    sim: httpx.AsyncClient
    operator: dict[str, str]

    async def row(self, t: Teacher) -> dict[str, Any] | None:
        rows = await self.running.fetch("SELECT * FROM deliveries WHERE nip = $1", t.nip)
        return dict(rows[0]) if rows else None

    async def sim_attempts(self, t: Teacher) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (
            await self.sim.get("/ledger/attempts", params={"nip": t.nip})
        ).json()["attempts"]
        return found

    async def knows(self, t: Teacher, nama: str) -> None:
        sql = "SELECT 1 FROM roster_pegawai WHERE nip = $1 AND nama = $2"
        await wait_for(lambda: self.running.fetch(sql, t.nip, nama), what=f"roster {nama}")


@contextlib.asynccontextmanager
async def rig_with(bkn_sync: Any, idp: Any, **settings: Any) -> AsyncIterator[Rig]:
    from ekinerja_sim.serving import running_simulator

    async with (
        running_simulator() as sim,
        bkn_sync(ekinerja_url=sim.url, **settings) as running,
        httpx.AsyncClient(base_url=sim.url, limits=SIMULATOR_CLIENT_LIMITS) as sim_client,
    ):
        token = idp.mint(role="operator")
        yield Rig(running, sim_client, {"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="module")
async def rig(bkn_sync: Any, idp: Any) -> AsyncIterator[Rig]:
    async with rig_with(bkn_sync, idp, **SCHEDULE) as made:
        yield made


async def row_where(rig: Rig, t: Teacher, what: str, **wanted: Any) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        row = await rig.row(t)
        return row if row and all(row[k] == v for k, v in wanted.items()) else None

    found: dict[str, Any] = await wait_for(probe, timeout=60, what=what)
    return found


async def told(rig: Rig, watch: StatusWatch, t: Teacher) -> list[dict[str, Any]]:
    """What this rig's bkn-sync told of ``t``, in order. The watch reads the shared status topic,
    where the session's other instances, reading the same source topics, tell of the same
    teacher too: only the events in this instance's own outbox are its."""
    ours = {str(r["event_id"]) for r in await rig.running.fetch("SELECT event_id FROM outbox")}
    return [e["payload"] for e in watch.events if e["subject"] == t.nip and e["event_id"] in ours]


async def test_a_nip_bkn_fixes_after_the_roster_fix_is_delivered_by_a_scheduled_check(
    rig: Rig, feed: Feed, watch: StatusWatch
) -> None:
    t = await feed.teacher()
    await rig.knows(t, "Guru Uji")
    await rig.sim.put(f"/admin/refusals/{t.nip}", json={"codes": ["NIP_NOT_FOUND"]})
    await feed.plan_agreed(t)

    first = await row_where(rig, t, "PARKED E01", state="PARKED", reason_code="BKN-E01")
    assert first["next_attempt_at"] is not None  # the principal sees when the next check is

    # With nothing changed anywhere, the schedule checks again: each check is attempts in the
    # delivery's history, and it stays parked for its cause with the next check ahead.
    async def checked_again() -> dict[str, Any] | None:
        row = await rig.row(t)
        return row if row and row["attempts"] > first["attempts"] else None

    checked = await wait_for(checked_again, timeout=60, what="a scheduled check")
    assert (checked["state"], checked["reason_code"]) == ("PARKED", "BKN-E01")
    assert checked["last_attempt_at"] > first["last_attempt_at"]
    assert checked["next_attempt_at"] > checked["last_attempt_at"]

    # The Operator Sekolah fixes Verval PTK: the roster changes and redrives the delivery, but
    # SIASN has not caught up yet, so e-Kinerja refuses it again and it is parked again.
    await feed.roster(t, nama="Guru Uji (Verval PTK)")

    async def parked_after_the_redrive() -> list[dict[str, Any]] | None:
        events = await told(rig, watch, t)
        queued = [i for i, e in enumerate(events) if e["state"] == "QUEUED"]
        after = events[queued[-1] :] if queued else []
        return after if any(e["state"] == "PARKED" for e in after) else None

    await wait_for(parked_after_the_redrive, timeout=60, what="redriven, then parked again")

    # Then BKN is fixed. Nobody presses redrive; no roster change comes.
    await rig.sim.delete(f"/admin/refusals/{t.nip}")

    delivered = await row_where(rig, t, "DELIVERED", state="DELIVERED")

    async def delivered_told() -> bool:
        return any(e["state"] == "DELIVERED" for e in await told(rig, watch, t))

    await wait_for(delivered_told, what="DELIVERED told")
    events = await told(rig, watch, t)
    last_redrive = max(i for i, e in enumerate(events) if e["state"] == "QUEUED")
    since = [e["state"] for e in events[last_redrive:]]
    # Parked after the redrive, then delivered straight from PARKED: by a check, not a redrive.
    assert since[-1] == "DELIVERED"
    assert since[-2] == "PARKED"
    assert "QUEUED" not in since[1:]
    parked_told = [e for e in events if e["state"] == "PARKED"]
    assert all(e["next_attempt_at"] for e in parked_told)
    assert [e["attempts"] for e in parked_told] == sorted(e["attempts"] for e in parked_told)
    # The checks are attempts e-Kinerja saw, and one record came of them. (A check still out
    # when the roster fix redrove the delivery lost its claim, but its PUT went out and is
    # counted all the same: Delivery.tally.)
    sent = await rig.sim_attempts(t)
    assert delivered["attempts"] == len(sent)
    assert delivered["attempts"] >= 4  # parked, a check, the redrive, the check that delivered
    assert [a["status"] for a in sent][-1] == 201
    assert all(a["status"] == 422 for a in sent[:-1])
    ledger = (await rig.sim.get("/ledger", params={"nip": t.nip})).json()
    assert ledger["count"] == 1


async def test_kemenag_is_left_alone_by_the_schedule_and_by_a_roster_fix(
    rig: Rig, feed: Feed
) -> None:
    t = await feed.teacher()
    await rig.knows(t, "Guru Uji")
    await rig.sim.put(f"/admin/refusals/{t.nip}", json={"codes": ["KEMENAG"]})
    await feed.plan_agreed(t)
    parked = await row_where(rig, t, "PARKED E07", state="PARKED", reason_code="BKN-E07")
    assert (parked["next_attempt_at"], parked["recheck_at"]) == (None, None)

    await feed.roster(t, nama="Guru Uji (pindah data)")
    # The roster change is applied (and its redrive decided) in one transaction.
    await rig.knows(t, "Guru Uji (pindah data)")

    row = await rig.row(t)
    assert row is not None
    assert (row["state"], row["attempts"], row["recheck_at"]) == ("PARKED", 1, None)
    assert len(await rig.sim_attempts(t)) == 1


async def test_parked_again_after_the_last_check_it_says_no_further_check_will_come(
    bkn_sync: Any, idp: Any, feed: Feed, watch: StatusWatch
) -> None:
    # Checks 0.5 s and 1 s after parking, then one more at 2 s; none after 2.5 s.
    short = {
        "parked_recheck_every_seconds": 0.5,
        "parked_recheck_first_seconds": 1.0,
        "parked_recheck_then_every_seconds": 1.0,
        "parked_recheck_days": 2.5 / 86400,
        "parked_recheck_poll_seconds": 0.1,
    }
    async with rig_with(bkn_sync, idp, **short) as rig:
        [t] = feed.school(1)
        await rig.sim.put(f"/admin/refusals/{t.nip}", json={"codes": ["UNOR_NOT_PADAN"]})
        await feed.plan_agreed(t)

        last = await row_where(
            rig, t, "parked after the last check", state="PARKED", recheck_at=None
        )

        assert last["reason_code"] == "BKN-E06"
        # Parked, then up to three scheduled checks (a check the poller takes late may skip
        # the one after it), each an attempt e-Kinerja saw.
        assert 2 <= last["attempts"] <= 4
        assert len(await rig.sim_attempts(t)) == last["attempts"]
        assert last["next_attempt_at"] is None
        assert NO_MORE_CHECKS in last["remedy"]

        async def final_told() -> dict[str, Any] | None:
            parked = [e for e in await told(rig, watch, t) if e["state"] == "PARKED"]
            return parked[-1] if parked and parked[-1]["attempts"] == last["attempts"] else None

        status = await wait_for(final_told, what="the last PARKED told")
        assert status["next_attempt_at"] is None
        assert NO_MORE_CHECKS in status["remedy"]
