"""A Dinas redrives its own area's deliveries parked for a roster-fixable reason (BKN-E01–E06),
and nothing else: not another area's, not a reason a roster fix cannot solve. The dry run
counts exactly what applying redrives; the answer says who redrove and why.

Its own simulator and bkn-sync instance, so the refusals scripted here touch no other test."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from kinerja_shared.auth import DevIdentityProvider
from kinerja_shared.events.roster import Sekolah
from kinerja_shared.topics import ROSTER_SEKOLAH
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.http import SIMULATOR_CLIENT_LIMITS
from kinerja_tools.testing.service import ServiceUnderTest

if TYPE_CHECKING:
    from conftest import Feed, Teacher

pytestmark = pytest.mark.infra


@dataclass
class Rig:
    running: ServiceUnderTest
    sim: httpx.AsyncClient
    idp: DevIdentityProvider

    def as_(self, role: str, **scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.idp.mint(role=role, **scope)}"}

    async def redrive(self, headers: dict[str, str], **body: Any) -> httpx.Response:
        return await self.running.client.post("/redrive", json=body, headers=headers)

    async def state(self, nip: str) -> tuple[str, str | None] | None:
        rows = await self.running.fetch(
            "SELECT state, reason_code FROM deliveries WHERE nip = $1", nip
        )
        return (rows[0]["state"], rows[0]["reason_code"]) if rows else None


@pytest.fixture(scope="module")
async def rig(bkn_sync: Any, idp: DevIdentityProvider) -> AsyncIterator[Rig]:
    from ekinerja_sim.serving import running_simulator

    async with (
        running_simulator() as sim,
        bkn_sync(ekinerja_url=sim.url, ekinerja_timeout_seconds=2.0) as running,
        httpx.AsyncClient(base_url=sim.url, limits=SIMULATOR_CLIENT_LIMITS) as sim_client,
    ):
        yield Rig(running, sim_client, idp)


def _areas() -> tuple[str, str]:
    mine = f"{random.randint(11, 94)}{random.randint(1, 99):02d}"
    theirs = mine
    while theirs[:2] == mine[:2]:
        theirs = f"{random.randint(11, 94)}{random.randint(1, 99):02d}"
    return mine, theirs


async def _parked(rig: Rig, feed: Feed, t: Teacher, refusal: str, reason_code: str) -> None:
    # The roster first, known to this instance: its arrival would itself redrive E01–E06.
    await feed.roster(t, nama="Guru Uji")

    async def on_roster() -> bool:
        teacher = await rig.running.fetch("SELECT 1 FROM roster_pegawai WHERE nip = $1", t.nip)
        school = await rig.running.fetch("SELECT 1 FROM roster_sekolah WHERE npsn = $1", t.npsn)
        return bool(teacher and school)

    await wait_for(on_roster, timeout=30, what=f"{t.nip} and its school on the roster")
    await rig.sim.put(f"/admin/refusals/{t.nip}", json={"codes": [refusal]})
    await feed.plan_agreed(t)

    async def parked() -> bool:
        return await rig.state(t.nip) == ("PARKED", reason_code)

    await wait_for(parked, timeout=60, what=f"{t.nip} PARKED {reason_code}")


async def _school(feed: Feed, area: str) -> list[Teacher]:
    teachers = feed.school(3)
    for t in teachers:
        t.area = area
    npsn = teachers[0].npsn
    await feed.publish(ROSTER_SEKOLAH, npsn, Sekolah(npsn=npsn, nama="SD Uji", kode_wilayah=area))
    return teachers


async def test_a_dinas_redrives_only_its_areas_roster_fixable_deliveries(
    rig: Rig, feed: Feed
) -> None:
    mine, theirs = _areas()
    fixable, periode, _ = await _school(feed, mine)
    (elsewhere, *_) = await _school(feed, theirs)
    await _parked(rig, feed, fixable, "NIP_NOT_FOUND", "BKN-E01")
    await _parked(rig, feed, periode, "PERIODE_INVALID", "BKN-E09")
    await _parked(rig, feed, elsewhere, "NIP_NOT_FOUND", "BKN-E01")
    dinas = rig.as_("dinas", area=mine, subject="dinas-uji")

    dry = await rig.redrive(dinas, filters={}, dry_run=True)
    assert dry.status_code == 200, dry.text
    assert [d["nip"] for d in dry.json()["deliveries"]] == [fixable.nip]
    assert dry.json()["count"] == 1
    assert await rig.state(fixable.nip) == ("PARKED", "BKN-E01")  # a dry run changes nothing

    for t in (fixable, elsewhere):  # the school operators fix the NIPs in Verval PTK
        await rig.sim.delete(f"/admin/refusals/{t.nip}")
    why = "NIP diperbaiki di Verval PTK"
    applied = await rig.redrive(dinas, filters={}, dry_run=False, reason=why)
    assert applied.status_code == 200, applied.text
    body = applied.json()
    assert body["count"] == dry.json()["count"]
    assert [d["nip"] for d in body["deliveries"]] == [fixable.nip]
    assert body["actor"] == {"subject": "dinas-uji", "role": "dinas", "area": mine}
    assert body["reason"] == why

    async def delivered() -> bool:
        return await rig.state(fixable.nip) == ("DELIVERED", None)

    await wait_for(delivered, timeout=60, what="the redriven delivery DELIVERED")
    assert await rig.state(periode.nip) == ("PARKED", "BKN-E09")
    assert await rig.state(elsewhere.nip) == ("PARKED", "BKN-E01")
    ledger = (await rig.sim.get("/ledger", params={"nip": fixable.nip})).json()
    assert ledger["count"] == 1


async def test_a_dinas_naming_what_it_may_not_redrive_is_refused_with_a_code(
    rig: Rig, feed: Feed
) -> None:
    mine, theirs = _areas()
    (own, *_) = await _school(feed, mine)
    (other, *_) = await _school(feed, theirs)
    await _parked(rig, feed, own, "PERIODE_INVALID", "BKN-E09")
    await _parked(rig, feed, other, "USER_PMM_MISSING", "BKN-E03")
    dinas = rig.as_("dinas", area=mine)

    cases: list[tuple[dict[str, Any], str]] = [
        ({"reason_codes": ["BKN-E09"], "npsn": own.npsn}, "REDRIVE_REASON_FORBIDDEN"),
        ({"reason_codes": ["BKN-E01", "BKN-E07"]}, "REDRIVE_REASON_FORBIDDEN"),
        ({"npsn": other.npsn}, "OUTSIDE_AREA"),
        ({"nip": other.nip}, "OUTSIDE_AREA"),
    ]
    for filters, code in cases:
        for dry_run in (True, False):
            refused = await rig.redrive(dinas, filters=filters, dry_run=dry_run, reason="uji")
            assert refused.status_code == 403, (filters, refused.text)
            assert refused.json()["code"] == code, (filters, refused.text)
            assert refused.json()["message"]
    # Refused means untouched, and a school or teacher of its own with nothing fixable is 0.
    assert await rig.state(own.nip) == ("PARKED", "BKN-E09")
    assert await rig.state(other.nip) == ("PARKED", "BKN-E03")
    nothing = await rig.redrive(dinas, filters={"npsn": own.npsn}, dry_run=False, reason="uji")
    assert nothing.status_code == 200, nothing.text
    assert nothing.json()["count"] == 0
    assert await rig.state(own.nip) == ("PARKED", "BKN-E09")


async def test_an_operator_still_redrives_any_reason_and_the_rest_are_refused(
    rig: Rig, feed: Feed
) -> None:
    mine, _ = _areas()
    (t, *_) = await _school(feed, mine)
    await _parked(rig, feed, t, "PERIODE_INVALID", "BKN-E09")
    guru = rig.as_("guru", nip=t.nip, npsn=t.npsn)
    refused = await rig.redrive(guru, filters={"nip": t.nip}, dry_run=False)
    assert refused.status_code == 403
    assert refused.json()["code"] == "ROLE_FORBIDDEN"

    await rig.sim.delete(f"/admin/refusals/{t.nip}")  # the Admin Instansi fixes the period
    operator = rig.as_("operator", subject="operator-uji")
    done = await rig.redrive(operator, filters={"nip": t.nip}, dry_run=False, reason="periode")
    assert done.status_code == 200, done.text
    assert done.json()["count"] == 1
    assert done.json()["actor"] == {"subject": "operator-uji", "role": "operator", "area": None}

    async def delivered() -> bool:
        return await rig.state(t.nip) == ("DELIVERED", None)

    await wait_for(delivered, timeout=60, what="the operator's redrive DELIVERED")
