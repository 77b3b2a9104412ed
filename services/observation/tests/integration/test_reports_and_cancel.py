"""Reschedule/reflection events, §2.5 reports, cancellation and the V-28 window on the real
PostgreSQL and Kafka."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kinerja_shared.events.roster import Pegawai, StatusKepegawaian
from kinerja_shared.topics import (
    COMPETENCY_REPORTED,
    DUTY_REPORTED,
    FOLLOWUP_REFLECTED,
    OBSERVATION_RESCHEDULED,
    OBSERVATION_SCHEDULED,
    ROSTER_PEGAWAI,
)
from kinerja_tools.testing import wait_for
from observation.rules import packaged_rubrics

from .conftest import Clock, Env, School, events_for

pytestmark = pytest.mark.infra

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
AT = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
AFTER_HARD_END = datetime(2027, 3, 2, 3, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _today(env: Env) -> Iterator[Clock]:
    env.clock.now = START
    yield env.clock
    env.clock.now = START


def url(nip: str, action: str = "") -> str:
    return f"/observations/{nip}/2026" + (f"/{action}" if action else "")


async def agreed_teacher(env: Env, school: School | None = None) -> tuple[School, str]:
    school = school or await env.school()
    nip = await env.teacher(school)
    await env.agree_plan(nip, school)
    return school, nip


async def post(env: Env, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return await env.client.post(path, json=body, headers=headers)


async def put(env: Env, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return await env.client.put(path, json=body, headers=headers)


async def test_reschedule_publishes_rescheduled_and_the_new_scheduled(env: Env) -> None:
    school, nip = await agreed_teacher(env)
    guru = env.guru(nip, school)
    assert (
        await post(env, url(nip, "schedule"), {"scheduled_at": AT.isoformat()}, guru)
    ).is_success
    later = AT + timedelta(days=1)
    body = {"scheduled_at": later.isoformat(), "reason": "KS rapat dinas", "expected_revision": 1}
    assert (await post(env, url(nip, "reschedule"), body, guru)).is_success
    # The retry of the same move publishes nothing more.
    assert (await post(env, url(nip, "reschedule"), body, guru)).is_success

    (moved,) = await events_for(env.stack, OBSERVATION_RESCHEDULED, nip)
    p = moved.payload
    assert (p.scheduled_at, p.previous_at, p.reason, p.revision, p.observer_nip) == (
        later, AT, "KS rapat dinas", 2, school.ks,
    )  # fmt: skip
    assert (p.observation_id, p.plan_id, p.npsn) == (f"OBS-{nip}-2026", f"PLAN-{nip}", school.npsn)
    scheduled = await events_for(env.stack, OBSERVATION_SCHEDULED, nip, at_least=2)
    assert [(e.payload.revision, e.payload.scheduled_at) for e in scheduled] == [
        (1, AT),
        (2, later),
    ]


async def test_followup_reflection_publishes_followup_reflected(env: Env) -> None:
    school, nip = await agreed_teacher(env)
    guru, ks = env.guru(nip, school), env.ks(school.ks, school)
    assert (await post(env, url(nip, "schedule"), {"scheduled_at": AT.isoformat()}, ks)).is_success
    env.clock.now = AT
    rubric = packaged_rubrics().get("D1.1")
    assert rubric is not None
    scores = dict.fromkeys(rubric.codes, 3)
    assert (await post(env, url(nip, "conduct"), {"rubric_scores": scores}, ks)).is_success
    assert (await post(env, url(nip, "feedback"), {"feedback": "Perjelas tujuan."}, ks)).is_success
    for action in ("Kesepakatan kelas", "Asesmen awal"):
        assert (await post(env, url(nip, "followup/actions"), {"action": action}, guru)).is_success
    for _ in range(2):  # the second is a retry: one event
        r = await post(env, url(nip, "followup/reflection"), {"reflection": "Kelas tertib."}, guru)
        assert r.json()["state"] == "REFLEKSI_DIKIRIM"

    (reflected,) = await events_for(env.stack, FOLLOWUP_REFLECTED, nip)
    p = reflected.payload
    assert (p.actions, p.reflection, p.reflected_at, p.observation_id) == (
        2, "Kelas tertib.", AT, f"OBS-{nip}-2026",
    )  # fmt: skip


async def test_competency_report_runs_to_verification_and_publishes_each_update(env: Env) -> None:
    school, nip = await agreed_teacher(env)
    guru, ks = env.guru(nip, school), env.ks(school.ks, school)
    r = await env.client.get(url(nip, "competency"), headers=ks)
    assert (r.json()["state"], r.json()["rules_version"]) == ("KOSONG", 2025)

    r = await put(env, url(nip, "competency"), {"activities": [{"text": "Webinar"}]}, guru)
    assert (r.status_code, r.json()["code"]) == (422, "V-17")
    assert r.json()["message"] == "Tuliskan refleksi hasil belajar Anda."

    first = {"activities": [{"text": "Webinar diferensiasi"}], "reflection": "Kelas lebih hidup."}
    r = await put(env, url(nip, "competency"), first, guru)
    assert (r.status_code, r.json()["state"], r.json()["revision"]) == (200, "DIISI", 1), r.text
    r = await post(env, url(nip, "competency/verify"), {}, ks)
    assert (r.json()["state"], r.json()["verified_by"]) == ("DIVERIFIKASI", school.ks)
    second = {**first, "activities": [{"text": "Webinar diferensiasi"}, {"text": "KKG"}]}
    r = await put(env, url(nip, "competency"), second, guru)
    assert (r.json()["state"], r.json()["verified_by"]) == ("DIISI", None)
    assert (await put(env, url(nip, "competency"), second, guru)).is_success  # retry: no event

    reported = await events_for(env.stack, COMPETENCY_REPORTED, nip, at_least=2)
    assert [e.payload.activities for e in reported] == [
        ["Webinar diferensiasi"], ["Webinar diferensiasi", "KKG"],
    ]  # fmt: skip
    assert {(e.payload.npsn, e.payload.reflection) for e in reported} == {
        (school.npsn, "Kelas lebih hidup.")
    }


async def test_duty_report_publishes_and_only_the_atasan_verifies(env: Env) -> None:
    school, nip = await agreed_teacher(env)
    guru = env.guru(nip, school)
    r = await post(env, url(nip, "duties/verify"), {}, env.ks(school.ks, school))
    assert (r.status_code, r.json()["code"]) == (409, "INVALID_STATE")
    r = await put(env, url(nip, "duties"), {"tugas": ["Mengajar", "Menilai hasil belajar"]}, guru)
    assert r.json()["state"] == "DIISI", r.text
    r = await post(env, url(nip, "duties/verify"), {}, guru)
    assert (r.status_code, r.json()["code"]) == (403, "ROLE_FORBIDDEN")
    other = await env.school()
    r = await post(env, url(nip, "duties/verify"), {}, env.ks(other.ks, other))
    assert (r.status_code, r.json()["code"]) == (403, "V-10")
    r = await post(env, url(nip, "duties/verify"), {}, env.ks(school.ks, school))
    assert r.json()["state"] == "DIVERIFIKASI"
    assert (await env.client.get(url(nip, "duties"), headers=guru)).json()["tugas"] == [
        "Mengajar", "Menilai hasil belajar",
    ]  # fmt: skip

    (reported,) = await events_for(env.stack, DUTY_REPORTED, nip)
    assert (reported.payload.tugas, reported.payload.period_id) == (
        ["Mengajar", "Menilai hasil belajar"], "2026",
    )  # fmt: skip


async def test_reports_of_another_teacher_or_without_a_plan_are_refused(env: Env) -> None:
    school, nip = await agreed_teacher(env)
    colleague = await env.teacher(school)
    body = {"activities": [], "reflection": "Refleksi"}
    r = await put(env, url(nip, "competency"), body, env.guru(colleague, school))
    assert (r.status_code, r.json()["code"]) == (403, "NOT_OWN_RECORD")
    r = await put(env, url(colleague, "competency"), body, env.guru(colleague, school))
    assert (r.status_code, r.json()["code"]) == (422, "V-12")
    r = await env.client.get(url(colleague, "duties"), headers=env.guru(colleague, school))
    assert (r.status_code, r.json()["code"]) == (422, "V-12")


async def test_writes_after_the_pelaksanaan_hard_end_are_v28(env: Env) -> None:
    school, nip = await agreed_teacher(env)
    guru = env.guru(nip, school)
    env.clock.now = AFTER_HARD_END
    writes = [
        post(env, url(nip, "schedule"), {"scheduled_at": AT.isoformat()}, guru),
        put(env, url(nip, "competency"), {"activities": [], "reflection": "Refleksi"}, guru),
        put(env, url(nip, "duties"), {"tugas": ["Mengajar"]}, guru),
        post(env, url(nip, "cancel"), {"reason": "Guru mutasi"}, env.ks(school.ks, school)),
    ]
    for write in writes:
        r = await write
        assert (r.status_code, r.json()["code"]) == (422, "V-28"), r.text
        assert r.json()["message"] == "Tahap ini sudah ditutup untuk periode tersebut."
    assert (await env.client.get(url(nip), headers=guru)).status_code == 200


async def test_cancel_frees_the_observer_slot_and_can_be_scheduled_again(env: Env) -> None:
    school, first = await agreed_teacher(env)
    _, second = await agreed_teacher(env, school)
    ks = env.ks(school.ks, school)
    at = {"scheduled_at": AT.isoformat()}
    assert (await post(env, url(first, "schedule"), at, env.guru(first, school))).is_success
    r = await post(env, url(first, "cancel"), {"reason": "  "}, ks)
    assert (r.status_code, r.json()["code"]) == (422, "CANCEL_REASON_REQUIRED")
    r = await post(env, url(first, "cancel"), {"reason": "Guru mutasi"}, env.guru(first, school))
    assert (r.status_code, r.json()["code"]) == (403, "ROLE_FORBIDDEN")

    r = await post(env, url(first, "cancel"), {"reason": "Guru mutasi", "expected_revision": 1}, ks)
    assert (r.json()["state"], r.json()["scheduled_at"]) == ("DIBATALKAN", None), r.text
    r = await post(env, url(second, "schedule"), at, env.guru(second, school))
    assert r.status_code == 200, r.text

    history = (await env.client.get(url(first, "history"), headers=ks)).json()
    assert [(h["kind"], h["reason"]) for h in history] == [
        ("DIJADWALKAN", None), ("DIBATALKAN", "Guru mutasi"),
    ]  # fmt: skip
    assert datetime.fromisoformat(history[-1]["previous_at"]) == AT
    later = {"scheduled_at": (AT + timedelta(hours=2)).isoformat()}
    r = await post(env, url(first, "schedule"), later, ks)
    assert (r.json()["state"], r.json()["revision"]) == ("DIJADWALKAN", 3)


async def test_transferred_out_teacher_has_open_observation_cancelled(env: Env) -> None:
    school, leaving = await agreed_teacher(env)
    _, staying = await agreed_teacher(env, school)
    at = {"scheduled_at": AT.isoformat()}
    assert (await post(env, url(leaving, "schedule"), at, env.guru(leaving, school))).is_success

    tombstone = Pegawai(
        nip=leaving, nama="Guru pindah", npsn=school.npsn, jenis_ptk="Guru Mapel",
        status_kepegawaian=StatusKepegawaian.PNS, kode_wilayah=school.kode_wilayah,
        atasan_nip=school.ks, aktif=False,
    )  # fmt: skip
    await env.publish(ROSTER_PEGAWAI, leaving, tombstone)

    async def cancelled() -> bool:
        row = await env.fetchrow("SELECT state FROM observations WHERE nip = $1", leaving)
        return row is not None and row["state"] == "DIBATALKAN"

    await wait_for(cancelled, timeout=60, what=f"observation of {leaving} cancelled")
    line = await env.fetchrow(
        "SELECT kind, by_nip, previous_at FROM observation_schedule_history WHERE nip = $1 "
        "ORDER BY id DESC LIMIT 1",
        leaving,
    )
    assert line is not None
    assert (line["kind"], line["by_nip"], line["previous_at"]) == ("DIBATALKAN", "SYSTEM", AT)
    # The freed slot is bookable by a colleague.
    r = await post(env, url(staying, "schedule"), at, env.guru(staying, school))
    assert r.status_code == 200, r.text
