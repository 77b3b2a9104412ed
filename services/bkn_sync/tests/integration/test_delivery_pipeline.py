"""bkn-sync against the real Kafka and PostgreSQL and the e-Kinerja simulator over HTTP."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from bkn_sync.domain.deliveries import idempotency_key
from kinerja_shared.auth import DevIdentityProvider
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.scrape import total
from kinerja_tools.testing.service import ServiceUnderTest

if TYPE_CHECKING:  # fixtures provide the objects; conftest is not importable as a module
    from collections.abc import Awaitable, Callable

    from conftest import Feed, StatusWatch, Teacher

    Known = Callable[[Teacher], Awaitable[None]]

pytestmark = pytest.mark.infra


def guru(idp: DevIdentityProvider, t: Teacher) -> dict[str, str]:
    return {"Authorization": f"Bearer {idp.mint(role='guru', nip=t.nip, npsn=t.npsn)}"}


def operator(idp: DevIdentityProvider) -> dict[str, str]:
    return {"Authorization": f"Bearer {idp.mint(role='operator')}"}


async def deliveries(
    service: httpx.AsyncClient, idp: DevIdentityProvider, t: Teacher
) -> list[dict[str, Any]]:
    response = await service.get(f"/deliveries/{t.nip}", headers=operator(idp))
    if response.status_code == 404:  # the roster record has not arrived yet
        return []
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


async def wait_state(
    service: httpx.AsyncClient,
    idp: DevIdentityProvider,
    t: Teacher,
    state: str,
    *,
    kind: str = "SKP",
    version: int | None = None,
    timeout: float = 30,
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        for row in await deliveries(service, idp, t):
            if (row["kind"], row["state"]) == (kind, state) and version in (None, row["version"]):
                return row
        return None

    found: dict[str, Any] = await wait_for(probe, timeout=timeout, what=f"{kind} {state}")
    return found


async def attempts(ekinerja: httpx.AsyncClient, nip: str) -> list[dict[str, Any]]:
    body = (await ekinerja.get("/ledger/attempts", params={"nip": nip})).json()
    found: list[dict[str, Any]] = body["attempts"]
    return found


async def records(ekinerja: httpx.AsyncClient, nip: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await ekinerja.get("/ledger", params={"nip": nip})).json()[
        "records"
    ]
    return found


async def statuses(watch: StatusWatch, nip: str, state: str) -> list[dict[str, Any]]:
    return [e for e in watch.of(nip) if e["state"] == state]


async def test_agreed_plan_is_put_once_with_its_key_and_reported_delivered(
    service: httpx.AsyncClient,
    ekinerja: httpx.AsyncClient,
    watch: StatusWatch,
    feed: Feed,
    idp: DevIdentityProvider,
) -> None:
    t = await feed.teacher()
    await feed.plan_agreed(t, version=1)

    row = await wait_state(service, idp, t, "DELIVERED")

    key = str(idempotency_key("SKP", t.nip, "2025", 1))
    assert row["idempotency_key"] == key
    assert row["attempts"] == 1
    sent = await attempts(ekinerja, t.nip)
    assert [(a["kind"], a["key"], a["status"]) for a in sent] == [("skp", key, 201)]
    await wait_for(lambda: statuses(watch, t.nip, "DELIVERED"), what="DELIVERED status event")
    seen = [e["state"] for e in watch.of(t.nip)]
    # Ingested straight to IN_FLIGHT, as its attempt follows at once (predikat shows QUEUED
    # and IN_FLIGHT alike as "menunggu"): one status event less per delivery.
    assert seen[:2] == ["IN_FLIGHT", "DELIVERED"]
    # The teacher sees their own delivery.
    own = await service.get(f"/deliveries/{t.nip}", headers=guru(idp, t))
    assert own.status_code == 200
    assert own.json()[0]["state"] == "DELIVERED"


async def test_predikat_follows_the_skp_and_is_delivered(
    service: httpx.AsyncClient, ekinerja: httpx.AsyncClient, feed: Feed, idp: DevIdentityProvider
) -> None:
    t = await feed.teacher()
    await feed.plan_agreed(t)
    await wait_state(service, idp, t, "DELIVERED")
    await feed.predikat(t)

    await wait_state(service, idp, t, "DELIVERED", kind="PREDIKAT")

    assert sorted(r["kind"] for r in await records(ekinerja, t.nip)) == ["predikat", "skp"]


async def test_a_503_then_success_is_delivered_exactly_once(
    service: httpx.AsyncClient, ekinerja: httpx.AsyncClient, feed: Feed, idp: DevIdentityProvider
) -> None:
    t = await feed.teacher()
    faults = {"rules": [{"fault": "error", "nip": t.nip, "statuses": [503], "times": 1}]}
    assert (await ekinerja.put("/admin/faults", json=faults)).status_code == 200
    await feed.plan_agreed(t)

    row = await wait_state(service, idp, t, "DELIVERED")

    assert row["attempts"] == 2
    assert row["first_error"].startswith("BKN-T02")
    assert len(await records(ekinerja, t.nip)) == 1
    assert [a["status"] for a in await attempts(ekinerja, t.nip)] == [503, 201]


async def test_a_lost_response_is_retried_under_the_same_key_without_a_duplicate(
    service: httpx.AsyncClient, ekinerja: httpx.AsyncClient, feed: Feed, idp: DevIdentityProvider
) -> None:
    t = await feed.teacher()
    faults = {"rules": [{"fault": "lost_response", "nip": t.nip, "times": 1}]}
    assert (await ekinerja.put("/admin/faults", json=faults)).status_code == 200
    await feed.plan_agreed(t)

    await wait_state(service, idp, t, "DELIVERED")

    sent = await attempts(ekinerja, t.nip)
    assert len({a["key"] for a in sent}) == 1
    assert len(sent) == 2
    assert len(await records(ekinerja, t.nip)) == 1


async def test_nip_unknown_to_bkn_parks_with_remedy_then_a_roster_fix_redrives_it(
    service: httpx.AsyncClient,
    ekinerja: httpx.AsyncClient,
    watch: StatusWatch,
    feed: Feed,
    idp: DevIdentityProvider,
    known: Known,
) -> None:
    t = await feed.teacher()
    await known(t)
    await ekinerja.put(f"/admin/refusals/{t.nip}", json={"codes": ["NIP_NOT_FOUND"]})
    await feed.plan_agreed(t)

    row = await wait_state(service, idp, t, "PARKED")

    assert row["reason_code"] == "BKN-E01"
    assert row["actor"] == "Operator Sekolah"
    assert "Verval PTK" in row["remedy"]
    assert row["attempts"] == 1  # permanent: no quick retries
    parked = await wait_for(lambda: statuses(watch, t.nip, "PARKED"), what="PARKED event")
    assert parked[0]["reason_code"] == "BKN-E01"
    assert parked[0]["remedy"] == row["remedy"]

    # The operator fixes the NIP in Verval PTK: BKN knows it, and the roster entry changes.
    await ekinerja.delete(f"/admin/refusals/{t.nip}")
    await feed.roster(t, nama="Guru Uji (NIP diperbaiki)")

    await wait_state(service, idp, t, "DELIVERED")
    assert len(await records(ekinerja, t.nip)) == 1


async def test_an_older_version_after_a_newer_was_delivered_is_superseded_never_sent(
    service: httpx.AsyncClient,
    ekinerja: httpx.AsyncClient,
    watch: StatusWatch,
    feed: Feed,
    idp: DevIdentityProvider,
) -> None:
    t = await feed.teacher()
    await feed.plan_agreed(t, version=2)
    await wait_state(service, idp, t, "DELIVERED", version=2)

    await feed.plan_agreed(t, version=1)

    superseded = await wait_for(
        lambda: statuses(watch, t.nip, "SUPERSEDED"), what="SUPERSEDED event"
    )
    assert superseded[0]["version"] == 1
    assert [r["version"] for r in await records(ekinerja, t.nip)] == [2]
    assert len(await attempts(ekinerja, t.nip)) == 1
    rows = await deliveries(service, idp, t)
    assert [(r["version"], r["state"]) for r in rows] == [(2, "DELIVERED")]


async def test_redrive_dry_run_lists_and_a_real_run_requeues(
    service: httpx.AsyncClient,
    ekinerja: httpx.AsyncClient,
    feed: Feed,
    idp: DevIdentityProvider,
    known: Known,
) -> None:
    t = await feed.teacher()
    await known(t)
    await ekinerja.put(f"/admin/refusals/{t.nip}", json={"codes": ["USER_PMM_MISSING"]})
    await feed.plan_agreed(t)
    parked = await wait_state(service, idp, t, "PARKED")
    assert (parked["reason_code"], parked["actor"]) == ("BKN-E03", "Admin BKD")
    await ekinerja.delete(f"/admin/refusals/{t.nip}")
    request = {"filters": {"nip": t.nip}}

    dry = await service.post("/redrive", json=request, headers=operator(idp))

    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] is True
    assert [d["delivery_id"] for d in dry.json()["deliveries"]] == [parked["delivery_id"]]
    assert (await deliveries(service, idp, t))[0]["state"] == "PARKED"

    real = await service.post("/redrive", json=request | {"dry_run": False}, headers=operator(idp))

    assert real.status_code == 200, real.text
    assert real.json()["count"] == 1
    await wait_state(service, idp, t, "DELIVERED")


async def test_a_delivery_that_keeps_failing_goes_through_the_tiers_to_dead_and_the_dlq(
    service: httpx.AsyncClient,
    ekinerja: httpx.AsyncClient,
    watch: StatusWatch,
    feed: Feed,
    idp: DevIdentityProvider,
) -> None:
    t = await feed.teacher()
    faults = {"rules": [{"fault": "error", "nip": t.nip, "statuses": [500]}]}
    assert (await ekinerja.put("/admin/faults", json=faults)).status_code == 200
    before = (await service.get("/metrics")).text
    await feed.plan_agreed(t)

    row = await wait_state(service, idp, t, "DEAD", timeout=60)

    assert row["attempts"] == 8  # 2 quick tries in process and in each of the 3 tiers
    retrying = await statuses(watch, t.nip, "RETRYING")
    assert len(retrying) == 3
    assert all(e["next_attempt_at"] for e in retrying)
    dead = await wait_for(lambda: _dlq_of(watch, t.nip), what="DLQ record")
    headers = dead[0][1]
    assert headers["kinerja-original-topic"] == feed.sources.skp
    assert headers["kinerja-attempts"] == "8"
    assert headers["kinerja-first-error"].startswith("BKN-T02")
    assert dead[0][0]["payload"]["nip"] == t.nip
    assert (await ekinerja.delete("/admin/faults")).status_code == 200
    # What the DLQ alert and the dashboard's retry panel read (other tests may add to them).
    after = (await service.get("/metrics")).text
    assert (
        total(after, "kinerja_bkn_sync_dlq_total")
        >= total(before, "kinerja_bkn_sync_dlq_total") + 1
    )
    for tier in ("1", "2", "3"):
        name = "kinerja_bkn_sync_retries_total"
        assert total(after, name, tier=tier) >= total(before, name, tier=tier) + 1
    # Each of the 8 PUTs is timed under what came back: 500 here (on a loaded machine one may
    # also run past the 3 s timeout and count as TIMEOUT, still an attempt).
    calls = "kinerja_bkn_sync_ekinerja_request_seconds_count"
    assert total(after, calls, kind="skp") >= total(before, calls, kind="skp") + 8
    assert total(after, calls, kind="skp", status="500") >= 1 + total(
        before, calls, kind="skp", status="500"
    )


async def test_dead_lettered_again_after_a_redrive_is_a_second_dlq_record_of_the_same_event(
    service: httpx.AsyncClient,
    ekinerja: httpx.AsyncClient,
    running: ServiceUnderTest,
    watch: StatusWatch,
    feed: Feed,
    idp: DevIdentityProvider,
) -> None:
    t = await feed.teacher()
    # e-Kinerja cannot read what Kinerja sends for this teacher: Kinerja's own defect (E10).
    refuse = {"fault": "reject", "nip": t.nip, "status": 400, "code": "INVALID_PAYLOAD"}
    assert (await ekinerja.put("/admin/faults", json={"rules": [refuse]})).status_code == 200
    try:
        await feed.plan_agreed(t)
        await wait_state(service, idp, t, "DEAD")
        await wait_for(lambda: _dlq_of(watch, t.nip), what="the first DLQ record")
        redrive = {"filters": {"nip": t.nip}, "dry_run": False}
        answer = await service.post("/redrive", json=redrive, headers=operator(idp))
        assert answer.json()["count"] == 1

        async def twice() -> list[tuple[dict[str, Any], dict[str, str]]] | None:
            found = await _dlq_of(watch, t.nip)
            return found if len(found) == 2 else None

        records = await wait_for(twice, what="the second DLQ record")
    finally:
        await ekinerja.delete("/admin/faults")

    [source] = await running.fetch("SELECT source_record FROM deliveries WHERE nip = $1", t.nip)
    original = json.loads(bytes(source["source_record"]))["event_id"]
    ids = [value["event_id"] for value, _ in records]
    assert len(set(ids)) == 2
    assert original not in ids
    for value, headers in records:
        assert headers["kinerja-dead-letter-id"] == value["event_id"]
        assert headers["kinerja-original-event-id"] == original
        assert headers["kinerja-error-code"] == "BKN-E10"
        assert value["payload"]["nip"] == t.nip


async def _dlq_of(watch: StatusWatch, nip: str) -> list[tuple[dict[str, Any], dict[str, str]]]:
    return [d for d in watch.dlq if d[1].get("kinerja-original-key") == nip]


async def test_a_teacher_cannot_read_another_teachers_deliveries(
    service: httpx.AsyncClient, feed: Feed, idp: DevIdentityProvider
) -> None:
    me, other = await feed.teacher(), await feed.teacher()
    await feed.plan_agreed(other)
    await wait_state(service, idp, other, "DELIVERED")

    response = await service.get(f"/deliveries/{other.nip}", headers=guru(idp, me))

    assert response.status_code == 403
    assert response.json()["code"] == "NOT_OWN_RECORD"


async def test_a_school_role_may_not_redrive_and_a_dinas_only_within_its_rule(
    service: httpx.AsyncClient, feed: Feed, idp: DevIdentityProvider
) -> None:
    # The Dinas's own rule (its area, BKN-E01–E06) is test_dinas_redrive.py's.
    t = await feed.teacher()
    for token in (
        idp.mint(role="guru", nip=t.nip, npsn=t.npsn),
        idp.mint(role="kepala_sekolah", nip=t.atasan_nip, npsn=t.npsn),
    ):
        response = await service.post(
            "/redrive", json={"dry_run": True}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 403
        assert response.json()["code"] == "ROLE_FORBIDDEN"

    dinas = idp.mint(role="dinas", area=t.area)
    response = await service.post(
        "/redrive",
        json={"dry_run": True, "filters": {"reason_codes": ["BKN-E10"]}},
        headers={"Authorization": f"Bearer {dinas}"},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "REDRIVE_REASON_FORBIDDEN"


async def test_a_dinas_lists_and_counts_only_its_area(
    service: httpx.AsyncClient, feed: Feed, idp: DevIdentityProvider
) -> None:
    t = await feed.teacher()
    await feed.plan_agreed(t)
    await wait_state(service, idp, t, "DELIVERED")
    mine = {"Authorization": f"Bearer {idp.mint(role='dinas', area=t.area)}"}

    listed = await service.get("/deliveries", params={"npsn": t.npsn}, headers=mine)
    counted = await service.get("/deliveries/counts", params={"npsn": t.npsn}, headers=mine)

    assert [r["nip"] for r in listed.json()] == [t.nip]
    assert counted.json()["counts"] == [{"state": "DELIVERED", "reason_code": None, "count": 1}]
    assert counted.json()["breaker"]["state"] == "CLOSED"
    other_area = "99" if not t.area.startswith("99") else "98"
    theirs = {"Authorization": f"Bearer {idp.mint(role='dinas', area=other_area)}"}
    assert (await service.get("/deliveries", params={"npsn": t.npsn}, headers=theirs)).json() == []


HOLD_REASON = "Menunggu SKP pegawai tercatat di e-Kinerja; dikirim otomatis setelahnya"


async def test_a_predikat_sent_before_its_skp_waits_unattempted_and_follows_it(
    service: httpx.AsyncClient,
    ekinerja: httpx.AsyncClient,
    watch: StatusWatch,
    feed: Feed,
    idp: DevIdentityProvider,
) -> None:
    t = await feed.teacher()
    await feed.predikat(t)

    held = await wait_state(service, idp, t, "PARKED", kind="PREDIKAT")

    assert (held["reason_code"], held["reason"], held["actor"]) == ("BKN-E08", HOLD_REASON, None)
    assert (held["attempts"], held["next_attempt_at"]) == (0, None)
    parked = await wait_for(lambda: statuses(watch, t.nip, "PARKED"), what="PARKED told")
    assert (parked[0]["kind"], parked[0]["reason"]) == ("PREDIKAT", HOLD_REASON)

    await feed.plan_agreed(t)

    delivered = await wait_state(service, idp, t, "DELIVERED", kind="PREDIKAT")
    # Waiting cost the predikat no attempt: e-Kinerja saw it once, after the SKP was there.
    assert delivered["attempts"] == 1
    sent = await attempts(ekinerja, t.nip)
    assert [(a["kind"], a["status"]) for a in sent] == [("skp", 201), ("predikat", 201)]
    assert [r["kind"] for r in await records(ekinerja, t.nip)] == ["skp", "predikat"]


async def test_a_predikat_held_behind_a_refused_skp_follows_the_next_skp_delivered(
    service: httpx.AsyncClient,
    ekinerja: httpx.AsyncClient,
    feed: Feed,
    idp: DevIdentityProvider,
) -> None:
    t = await feed.teacher()
    # e-Kinerja refuses the first SKP with an answer Kinerja does not know: parked, for people.
    refuse = {"fault": "reject", "nip": t.nip, "kind": "skp", "status": 422, "times": 1}
    assert (await ekinerja.put("/admin/faults", json={"rules": [refuse]})).status_code == 200
    try:
        await feed.plan_agreed(t, version=1)
        skp = await wait_state(service, idp, t, "PARKED")
        assert skp["reason_code"] == "BKN-E12"
        await feed.predikat(t)
        held = await wait_state(service, idp, t, "PARKED", kind="PREDIKAT")
        assert (held["reason_code"], held["attempts"]) == ("BKN-E08", 0)

        # The teacher's plan is agreed again; that SKP goes through.
        await feed.plan_agreed(t, version=2)

        delivered = await wait_state(service, idp, t, "DELIVERED", kind="PREDIKAT")
    finally:
        await ekinerja.delete("/admin/faults")
    assert delivered["attempts"] == 1
    sent = await attempts(ekinerja, t.nip)
    assert [(a["kind"], a["status"]) for a in sent] == [
        ("skp", 422),
        ("skp", 201),
        ("predikat", 201),
    ]


async def test_teachers_parked_for_a_missing_atasan_skp_are_redriven_when_it_is_delivered(
    service: httpx.AsyncClient,
    ekinerja: httpx.AsyncClient,
    feed: Feed,
    idp: DevIdentityProvider,
    known: Known,
) -> None:
    ks = await feed.teacher(nama="Kepala Sekolah Uji")
    t = await feed.teacher(atasan_nip=ks.nip)
    await known(t)
    await ekinerja.put(f"/admin/refusals/{t.nip}", json={"codes": ["SKP_ATASAN_MISSING"]})
    await feed.plan_agreed(t)
    parked = await wait_state(service, idp, t, "PARKED")
    assert (parked["reason_code"], parked["actor"]) == ("BKN-E05", "Kepala Sekolah")
    await ekinerja.delete(f"/admin/refusals/{t.nip}")

    await feed.plan_agreed(ks)

    await wait_state(service, idp, t, "DELIVERED")
