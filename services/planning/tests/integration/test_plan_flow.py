"""The plan API and its events against the real PostgreSQL and Kafka."""

from __future__ import annotations

from typing import Any

import pytest

from kinerja_shared.topics import (
    PLAN_AGREED,
    PLAN_APPROVED,
    PLAN_RETURNED,
    PLAN_REVISED,
    PLAN_SUBMITTED,
)
from kinerja_tools.testing import wait_for

from .conftest import Planning, events_for, random_nip

pytestmark = pytest.mark.infra

CONTENT = {
    "sub_indikator": "D1.4",
    "indikator_kompetensi": "KP.3",
    "tugas_pokok": ["Mengajar IPA kelas VIII"],
    "tugas_tambahan": [{"nama": "Wali kelas", "deskripsi": "Wali kelas VIII-B"}],
    "perilaku_fokus": ["KOLABORATIF", "AKUNTABEL"],
}
REVISED = {
    **CONTENT,
    "sub_indikator": "D1.2",
    "tugas_pokok": ["Mengajar IPA kelas IX"],
    "perilaku_fokus": ["ADAPTIF"],
}


async def test_agreed_plan_is_published_as_the_skp(planning: Planning) -> None:
    school = await planning.school()
    ks = random_nip()
    nip = await planning.teacher(school, atasan=ks)
    plan = await planning.draft(nip, school)
    pid, c = plan["plan_id"], planning.client

    r = await c.post(f"/plans/{pid}/submit", headers=planning.guru(nip, school))
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "DIAJUKAN"
    r = await c.post(f"/plans/{pid}/approve", headers=planning.ks(ks, school))
    assert r.json()["state"] == "DISETUJUI", r.text
    r = await c.post(
        f"/plans/{pid}/agree", headers={**planning.guru(nip, school), "If-Match": r.headers["ETag"]}
    )
    assert r.json()["state"] == "DISEPAKATI", r.text

    (agreed,) = await events_for(planning.stack, PLAN_AGREED, nip)
    skp = agreed.payload
    assert agreed.subject == nip
    assert (skp.plan_id, skp.period_id, skp.npsn, skp.atasan_nip) == (
        pid,
        planning.open_period,
        school.npsn,
        ks,
    )
    assert skp.sub_indikator == "D1.4"
    assert skp.indikator_kompetensi == "KP.3"
    assert skp.tugas_pokok == ["Mengajar IPA kelas VIII"]
    assert skp.tugas_tambahan == ["Wali kelas: Wali kelas VIII-B"]
    assert skp.perilaku_fokus == ["KOLABORATIF", "AKUNTABEL"]
    assert skp.version == r.json()["version"]
    (approved,) = await events_for(planning.stack, PLAN_APPROVED, nip)
    assert approved.payload.approved_by == "KEPALA_SEKOLAH"
    assert len(await events_for(planning.stack, PLAN_SUBMITTED, nip)) == 1


async def test_plt_atasan_approves_on_submit(planning: Planning) -> None:
    school = await planning.school()
    nip = await planning.teacher(school, atasan=random_nip(), plt=True)
    plan = await planning.draft(nip, school)

    r = await planning.client.post(
        f"/plans/{plan['plan_id']}/submit", headers=planning.guru(nip, school)
    )
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["approved_by"]) == ("DISETUJUI", "SYSTEM_PLT")
    (approved,) = await events_for(planning.stack, PLAN_APPROVED, nip)
    assert approved.payload.approved_by == "SYSTEM_PLT"


async def test_submit_without_atasan_is_422_with_the_exact_message(planning: Planning) -> None:
    school = await planning.school()
    nip = await planning.teacher(school, atasan=None)
    plan = await planning.draft(nip, school)

    r = await planning.client.post(
        f"/plans/{plan['plan_id']}/submit", headers=planning.guru(nip, school)
    )
    assert r.status_code == 422
    body = r.json()
    assert (body["code"], body["message"]) == ("V-03", "Data atasan Anda tidak ditemukan")
    assert "Admin Dapodik Dinas" in body["detail"]["remedy"]
    r = await planning.client.get(f"/plans/{plan['plan_id']}", headers=planning.guru(nip, school))
    assert r.json()["state"] == "DRAF"


async def test_kepala_sekolah_who_is_not_the_atasan_gets_403_v10(planning: Planning) -> None:
    school = await planning.school()
    nip = await planning.teacher(school, atasan=random_nip())
    plan = await planning.draft(nip, school)
    pid = plan["plan_id"]
    await planning.client.post(f"/plans/{pid}/submit", headers=planning.guru(nip, school))

    stranger = planning.ks(random_nip(), school)
    r = await planning.client.post(f"/plans/{pid}/approve", headers=stranger)
    assert (r.status_code, r.json()["code"]) == (403, "V-10")
    r = await planning.client.post(
        f"/plans/{pid}/return", json={"note": "Perbaiki tugas pokok Anda ya."}, headers=stranger
    )
    assert (r.status_code, r.json()["code"]) == (403, "V-10")


async def test_guru_cannot_read_another_teachers_plan(planning: Planning) -> None:
    school = await planning.school()
    owner = await planning.teacher(school, atasan=random_nip())
    other = await planning.teacher(school, atasan=random_nip())
    plan = await planning.draft(owner, school)

    r = await planning.client.get(f"/plans/{plan['plan_id']}", headers=planning.guru(other, school))
    assert r.status_code == 403
    r = await planning.client.get(f"/plans?nip={owner}", headers=planning.guru(other, school))
    assert r.status_code == 403
    r = await planning.client.get("/plans", headers=planning.guru(other, school))
    assert r.json() == []


async def test_missing_token_is_401(planning: Planning) -> None:
    assert (await planning.client.get("/plans")).status_code == 401
    assert (await planning.client.post("/plans", json={})).status_code == 401
    assert (await planning.client.get("/catalog")).status_code == 401


async def test_second_plan_for_the_same_period_is_409_v09(planning: Planning) -> None:
    school = await planning.school()
    nip = await planning.teacher(school, atasan=random_nip())
    await planning.draft(nip, school)
    r = await planning.client.post(
        "/plans", json={"period_id": planning.open_period}, headers=planning.guru(nip, school)
    )
    assert (r.status_code, r.json()["code"]) == (409, "V-09")


async def test_closed_or_unknown_period_is_422_v04(planning: Planning) -> None:
    school = await planning.school()
    nip = await planning.teacher(school, atasan=random_nip())
    for period_id in (planning.closed_period, "1999"):
        r = await planning.client.post(
            "/plans", json={"period_id": period_id}, headers=planning.guru(nip, school)
        )
        assert (r.status_code, r.json()["code"]) == (422, "V-04")
        # The label of the open period (here its id), never a year written into the code.
        assert r.json()["message"].endswith(
            f'Pastikan periode yang dipilih adalah "{planning.open_period}".'
        )
        assert r.json()["detail"]["open_periods"] == [planning.open_period]


async def test_stale_version_is_409_v15(planning: Planning) -> None:
    school = await planning.school()
    nip = await planning.teacher(school, atasan=random_nip())
    plan = await planning.draft(nip, school)
    r = await planning.client.put(
        f"/plans/{plan['plan_id']}",
        json={"sub_indikator": "D1.1", "expected_version": plan["version"] - 1},
        headers=planning.guru(nip, school),
    )
    assert (r.status_code, r.json()["code"]) == (409, "V-15")


async def test_returned_plan_carries_the_note_and_can_be_resubmitted(planning: Planning) -> None:
    school = await planning.school()
    ks = random_nip()
    nip = await planning.teacher(school, atasan=ks)
    plan = await planning.draft(nip, school)
    pid, c = plan["plan_id"], planning.client
    await c.post(f"/plans/{pid}/submit", headers=planning.guru(nip, school))

    short = await c.post(
        f"/plans/{pid}/return", json={"note": "kurang"}, headers=planning.ks(ks, school)
    )
    assert (short.status_code, short.json()["code"]) == (422, "V-11")
    note = "Indikator kompetensi belum sesuai fokus sub indikator."
    r = await c.post(f"/plans/{pid}/return", json={"note": note}, headers=planning.ks(ks, school))
    assert (r.json()["state"], r.json()["return_note"]) == ("DIKEMBALIKAN", note)
    (returned,) = await events_for(planning.stack, PLAN_RETURNED, nip)
    assert returned.payload.note == note
    # DIKEMBALIKAN → DRAF is explicit: the teacher edits before resubmitting.
    r = await c.post(f"/plans/{pid}/submit", headers=planning.guru(nip, school))
    assert (r.status_code, r.json()["code"]) == (409, "PLAN_STATE_CONFLICT")
    r = await c.put(f"/plans/{pid}", json=CONTENT, headers=planning.guru(nip, school))
    assert (r.json()["state"], r.json()["return_note"]) == ("DRAF", note)
    r = await c.post(f"/plans/{pid}/submit", headers=planning.guru(nip, school))
    assert r.json()["state"] == "DIAJUKAN"


async def test_kepala_sekolah_lists_the_plans_of_their_teachers(planning: Planning) -> None:
    school = await planning.school()
    ks = random_nip()
    mine = await planning.teacher(school, atasan=ks)
    others = await planning.teacher(school, atasan=random_nip())
    await planning.draft(mine, school)
    await planning.draft(others, school)
    r = await planning.client.get(
        f"/plans?period_id={planning.open_period}", headers=planning.ks(ks, school)
    )
    assert [p["nip"] for p in r.json()] == [mine]
    dinas = planning.headers("dinas", area=school.kode_wilayah)
    r = await planning.client.get(f"/plans?nip={others}", headers=dinas)
    assert [p["nip"] for p in r.json()] == [others]


async def test_roster_change_moves_a_pending_plan_to_the_new_plt(planning: Planning) -> None:
    school = await planning.school()
    nip = await planning.teacher(school, atasan=random_nip())
    plan = await planning.draft(nip, school)
    pid = plan["plan_id"]
    await planning.client.post(f"/plans/{pid}/submit", headers=planning.guru(nip, school))

    plt = random_nip()
    await planning.teacher(school, atasan=plt, plt=True, nip=nip)

    async def approved() -> bool:
        r = await planning.client.get(f"/plans/{pid}", headers=planning.guru(nip, school))
        return r.json()["state"] == "DISETUJUI"

    await wait_for(approved, timeout=30, what="the pending plan approved for the Plt.")
    (event,) = await events_for(planning.stack, PLAN_APPROVED, nip)
    assert (event.payload.approved_by, event.payload.atasan_nip) == ("SYSTEM_PLT", plt)


async def test_catalog_serves_the_eight_sub_indicators(planning: Planning) -> None:
    r = await planning.client.get("/catalog", headers=planning.headers("operator"))
    body = r.json()
    assert len(body["sub_indikator"]) == 8
    assert len(body["perilaku_berakhlak"]) == 7


async def test_revision_after_agreement_is_agreed_again_and_keeps_history(
    planning: Planning,
) -> None:
    school = await planning.school()
    ks = random_nip()
    nip = await planning.teacher(school, atasan=ks)
    pid, c = (await planning.draft(nip, school))["plan_id"], planning.client
    guru, kepala = planning.guru(nip, school), planning.ks(ks, school)

    async def step(path: str, headers: dict[str, str], state: str, **body: object) -> int:
        r = await c.post(f"/plans/{pid}/{path}", json=body or None, headers=headers)
        assert (r.status_code, r.json()["state"]) == (200, state), r.text
        version: int = r.json()["version"]
        return version

    await step("submit", guru, "DIAJUKAN")
    await step("approve", kepala, "DISETUJUI")
    v1 = await step("agree", guru, "DISEPAKATI")

    short = await c.post(f"/plans/{pid}/revise", json={"reason": "ganti"}, headers=guru)
    assert (short.status_code, short.json()["code"]) == (422, "PLAN_REVISION_REASON")
    reason = "Mendapat tugas mengajar kelas IX mulai semester dua."
    r = await c.post(f"/plans/{pid}/revise", json={"reason": reason}, headers=guru)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["revision"]) == ("DIREVISI", 2)
    (revised,) = await events_for(planning.stack, PLAN_REVISED, nip)
    assert (revised.payload.reason, revised.payload.version) == (reason, r.json()["version"])

    r = await c.put(f"/plans/{pid}", json=REVISED, headers=guru)
    assert r.json()["state"] == "DIREVISI", r.text
    await step("submit", guru, "DIAJUKAN")
    await step("approve", kepala, "DISETUJUI")
    v2 = await step("agree", guru, "DISEPAKATI")

    agreed = await events_for(planning.stack, PLAN_AGREED, nip, at_least=2)
    assert [e.payload.version for e in agreed] == [v1, v2]
    assert v2 > v1
    assert (agreed[1].payload.sub_indikator, agreed[1].payload.tugas_pokok) == (
        "D1.2",
        ["Mengajar IPA kelas IX"],
    )
    approved = await events_for(planning.stack, PLAN_APPROVED, nip, at_least=2)
    assert approved[-1].payload.version == v2 - 1

    r = await c.get(f"/plans/{pid}/history", headers=kepala)
    assert r.status_code == 200, r.text
    history = r.json()
    assert (history["revision"], history["state"]) == (2, "DISEPAKATI")
    first, second = history["revisions"]
    assert (first["revision"], first["agreed"], first["reason"]) == (1, True, None)
    assert first["content"]["sub_indikator"] == ["D1.4"]
    assert first["content"]["tugas_pokok"] == ["Mengajar IPA kelas VIII"]
    assert (second["revision"], second["agreed"], second["reason"]) == (2, True, reason)
    assert second["content"]["sub_indikator"] == ["D1.2"]
    assert [v["state"] for v in first["versions"]] == [
        "DRAF",
        "DIAJUKAN",
        "DISETUJUI",
        "DISEPAKATI",
    ]
    assert [v["state"] for v in second["versions"]] == [
        "DIREVISI",
        "DIREVISI",
        "DIAJUKAN",
        "DISETUJUI",
        "DISEPAKATI",
    ]
    assert {v["actor"] for v in second["versions"]} == {nip, ks}


async def test_only_an_agreed_plan_is_revised_and_strangers_cannot(planning: Planning) -> None:
    school = await planning.school()
    ks = random_nip()
    nip = await planning.teacher(school, atasan=ks)
    pid, c = (await planning.draft(nip, school))["plan_id"], planning.client
    reason = {"reason": "Perubahan tugas tambahan di sekolah."}

    r = await c.post(f"/plans/{pid}/revise", json=reason, headers=planning.guru(nip, school))
    assert (r.status_code, r.json()["code"]) == (409, "PLAN_STATE_CONFLICT")
    other = planning.ks(random_nip(), school)
    r = await c.post(f"/plans/{pid}/revise", json=reason, headers=other)
    assert (r.status_code, r.json()["code"]) == (403, "V-10")
    r = await c.get(f"/plans/{pid}/history", headers=planning.guru(random_nip(), school))
    assert r.status_code == 403


async def test_a_plt_approval_is_the_systems_in_the_history_not_the_teachers(
    planning: Planning,
) -> None:
    school = await planning.school()
    plt = random_nip()
    nip = await planning.teacher(school, atasan=plt, plt=True)
    plan = await planning.draft(nip, school)
    pid = plan["plan_id"]
    r = await planning.client.post(f"/plans/{pid}/submit", headers=planning.guru(nip, school))
    assert r.json()["state"] == "DISETUJUI"

    r = await planning.client.get(f"/plans/{pid}/history", headers=planning.guru(nip, school))
    last = r.json()["revisions"][-1]["versions"][-1]
    assert (last["state"], last["actor"]) == ("DISETUJUI", "SYSTEM_PLT")
    assert plt in last["note"]
    assert nip in last["note"]


async def test_a_roster_fix_submits_the_plan_that_waited_for_an_atasan(
    planning: Planning,
) -> None:
    school = await planning.school()
    nip = await planning.teacher(school, atasan=None)
    plan = await planning.draft(nip, school)
    pid = plan["plan_id"]
    r = await planning.client.post(f"/plans/{pid}/submit", headers=planning.guru(nip, school))
    assert (r.status_code, r.json()["code"]) == (422, "V-03")
    assert r.json()["detail"]["waits_for_atasan"] is True

    atasan = random_nip()
    await planning.teacher(school, atasan=atasan, nip=nip)

    async def submitted() -> dict[str, Any] | None:
        r = await planning.client.get(f"/plans/{pid}", headers=planning.guru(nip, school))
        body: dict[str, Any] = r.json()
        return body if body["state"] == "DIAJUKAN" else None

    now = await wait_for(submitted, timeout=30, what="the waiting plan submitted by itself")
    assert now["atasan_nip"] == atasan
    (event,) = await events_for(planning.stack, PLAN_SUBMITTED, nip)
    assert event.payload.atasan_nip == atasan
    r = await planning.client.get(f"/plans/{pid}/history", headers=planning.guru(nip, school))
    last = r.json()["revisions"][-1]["versions"][-1]
    assert (last["state"], last["actor"]) == ("DIAJUKAN", "SYSTEM_ROSTER")
    # The atasan can act on it at once, as on any submission.
    r = await planning.client.post(f"/plans/{pid}/approve", headers=planning.ks(atasan, school))
    assert (r.status_code, r.json()["state"]) == (200, "DISETUJUI")


async def test_a_plan_edited_after_the_refusal_waits_for_the_teacher_not_the_roster(
    planning: Planning,
) -> None:
    school = await planning.school()
    nip = await planning.teacher(school, atasan=None)
    plan = await planning.draft(nip, school)
    pid = plan["plan_id"]
    guru = planning.guru(nip, school)
    r = await planning.client.post(f"/plans/{pid}/submit", headers=guru)
    assert r.json()["code"] == "V-03"
    r = await planning.client.put(f"/plans/{pid}", json={"sub_indikator": "D1.2"}, headers=guru)
    assert r.status_code == 200, r.text

    await planning.teacher(school, atasan=random_nip(), nip=nip)
    # The roster change is applied (planning.teacher waits for the projection) in the same
    # transaction as any resumed submission: the plan is still the teacher's draft.
    r = await planning.client.get(f"/plans/{pid}", headers=guru)
    assert r.json()["state"] == "DRAF"
