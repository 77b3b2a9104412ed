"""The observation API and its events against the real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from kinerja_shared.topics import (
    OBSERVATION_CONDUCTED,
    OBSERVATION_SCHEDULED,
    PLAN_AGREED,
    dlq_name,
)
from kinerja_tools.testing import wait_for
from observation.rules import packaged_rubrics

from .conftest import Clock, Env, School, events_for, plan_agreed

pytestmark = pytest.mark.infra

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
AT = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _today(env: Env) -> Iterator[Clock]:
    env.clock.now = START
    yield env.clock
    env.clock.now = START


def url(nip: str, action: str = "") -> str:
    return f"/observations/{nip}/2026" + (f"/{action}" if action else "")


def scores(sub: str = "D1.1", score: int = 3) -> dict[str, int]:
    rubric = packaged_rubrics().get(sub)
    assert rubric is not None
    return dict.fromkeys(rubric.codes, score)


async def agreed_teacher(env: Env, school: School | None = None) -> tuple[School, str]:
    school = school or await env.school()
    nip = await env.teacher(school)
    await env.agree_plan(nip, school)
    return school, nip


async def post(env: Env, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return await env.client.post(path, json=body, headers=headers)


async def test_agreed_plan_opens_an_observation_for_the_atasan(env: Env) -> None:
    school, nip = await agreed_teacher(env)
    r = await env.client.get(url(nip), headers=env.guru(nip, school))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["state"], body["sub_indikator"], body["observer_nip"], body["revision"]) == (
        "BELUM_DIJADWALKAN", "D1.1", school.ks, 0,
    )  # fmt: skip


async def test_later_plan_version_moves_the_focus(env: Env) -> None:
    school, nip = await agreed_teacher(env)
    await env.agree_plan(nip, school, version=2, sub="D1.4")
    r = await env.client.get(url(nip), headers=env.ks(school.ks, school))
    assert r.json()["sub_indikator"] == "D1.4"


async def test_without_an_agreed_plan_scheduling_is_v12(env: Env) -> None:
    school = await env.school()
    nip = await env.teacher(school)
    r = await post(env, url(nip, "schedule"), {"scheduled_at": AT.isoformat()},
                   env.guru(nip, school))  # fmt: skip
    assert r.status_code == 422
    assert r.json()["code"] == "V-12"
    assert r.json()["message"] == "Perencanaan kinerja belum disepakati."


async def test_schedule_reschedule_conduct_publishes_and_keeps_history(env: Env) -> None:
    school, nip = await agreed_teacher(env)
    guru, ks = env.guru(nip, school), env.ks(school.ks, school)

    r = await post(env, url(nip, "schedule"), {"scheduled_at": AT.isoformat()}, guru)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["revision"]) == ("DIJADWALKAN", 1)

    later = AT + timedelta(days=2)
    r = await post(
        env,
        url(nip, "reschedule"),
        {"scheduled_at": later.isoformat(), "reason": "KS rapat dinas", "expected_revision": 1},
        ks,
    )
    assert r.status_code == 200, r.text
    assert r.json()["revision"] == 2

    r = await env.client.get(url(nip, "history"), headers=guru)
    history = r.json()
    assert [h["kind"] for h in history] == ["DIJADWALKAN", "DIJADWALKAN_ULANG"]
    assert history[1]["reason"] == "KS rapat dinas"
    assert datetime.fromisoformat(history[1]["previous_at"]) == AT

    env.clock.now = later + timedelta(hours=1)
    r = await post(env, url(nip, "conduct"), {"rubric_scores": scores(score=4),
                                              "notes": "Tujuan jelas."}, ks)  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["practice_rating"]) == (
        "DILAKSANAKAN", "DI_ATAS_EKSPEKTASI",
    )  # fmt: skip

    scheduled = await events_for(env.stack, OBSERVATION_SCHEDULED, nip, at_least=2)
    assert [e.payload.revision for e in scheduled] == [1, 2]
    assert scheduled[-1].payload.scheduled_at == later
    (conducted,) = await events_for(env.stack, OBSERVATION_CONDUCTED, nip)
    assert conducted.payload.practice_rating == "DI_ATAS_EKSPEKTASI"
    assert conducted.payload.observer_nip == school.ks
    assert conducted.payload.rubric_scores == scores(score=4)

    r = await post(
        env,
        url(nip, "reschedule"),
        {"scheduled_at": (later + timedelta(days=1)).isoformat(), "reason": "ulang",
         "expected_revision": 3},
        guru,
    )  # fmt: skip
    assert r.status_code == 409
    assert r.json()["code"] == "V-14"

    r = await post(env, url(nip, "feedback"), {"feedback": "Perkuat umpan balik murid."}, ks)
    assert r.json()["state"] == "UMPAN_BALIK_DIBERIKAN"


async def test_observer_slot_taken_is_409(env: Env) -> None:
    school, first = await agreed_teacher(env)
    _, second = await agreed_teacher(env, school)
    r = await post(env, url(first, "schedule"), {"scheduled_at": AT.isoformat()},
                   env.guru(first, school))  # fmt: skip
    assert r.status_code == 200, r.text
    clash = AT + timedelta(minutes=30)
    r = await post(env, url(second, "schedule"), {"scheduled_at": clash.isoformat()},
                   env.guru(second, school))  # fmt: skip
    assert r.status_code == 409
    assert r.json()["code"] == "SLOT_TAKEN"


async def test_stale_revision_and_past_date_are_refused(env: Env) -> None:
    school, nip = await agreed_teacher(env)
    guru = env.guru(nip, school)
    r = await post(env, url(nip, "schedule"), {"scheduled_at": (START - timedelta(days=1))
                                               .isoformat()}, guru)  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (422, "V-13")
    assert (
        await post(env, url(nip, "schedule"), {"scheduled_at": AT.isoformat()}, guru)
    ).is_success
    r = await post(env, url(nip, "reschedule"), {"scheduled_at": (AT + timedelta(days=1))
                   .isoformat(), "reason": "bentrok", "expected_revision": 0}, guru)  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (409, "V-15")


async def test_incomplete_rubric_is_v16(env: Env) -> None:
    school, nip = await agreed_teacher(env)
    assert (await post(env, url(nip, "schedule"), {"scheduled_at": AT.isoformat()},
                       env.guru(nip, school))).is_success  # fmt: skip
    env.clock.now = AT
    partial = dict(list(scores().items())[1:])
    r = await post(env, url(nip, "conduct"), {"rubric_scores": partial},
                   env.ks(school.ks, school))  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (422, "V-16")


async def test_kepala_sekolah_who_is_not_the_atasan_is_403(env: Env) -> None:
    _, nip = await agreed_teacher(env)
    other = await env.school()
    r = await post(env, url(nip, "conduct"), {"rubric_scores": scores()},
                   env.ks(other.ks, other))  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (403, "V-10")
    r = await post(env, url(nip, "schedule"), {"scheduled_at": AT.isoformat()},
                   env.ks(other.ks, other))  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (403, "V-10")


async def test_guru_of_another_teacher_is_403(env: Env) -> None:
    school, nip = await agreed_teacher(env)
    colleague = await env.teacher(school)
    headers = env.guru(colleague, school)
    r = await post(env, url(nip, "schedule"), {"scheduled_at": AT.isoformat()}, headers)
    assert (r.status_code, r.json()["code"]) == (403, "NOT_OWN_RECORD")
    r = await env.client.get(url(nip), headers=headers)
    assert (r.status_code, r.json()["code"]) == (403, "NOT_OWN_RECORD")
    r = await post(env, url(nip, "conduct"), {"rubric_scores": scores()}, headers)
    assert (r.status_code, r.json()["code"]) == (403, "ROLE_FORBIDDEN")


async def test_followup_opens_with_feedback_and_runs_to_review(env: Env) -> None:
    school, nip = await agreed_teacher(env)
    guru, ks = env.guru(nip, school), env.ks(school.ks, school)
    r = await post(env, url(nip, "followup/actions"), {"action": "Kesepakatan kelas"}, guru)
    assert (r.status_code, r.json()["code"]) == (422, "FOLLOWUP_NOT_OPEN")

    assert (await post(env, url(nip, "schedule"), {"scheduled_at": AT.isoformat()}, ks)).is_success
    env.clock.now = AT
    assert (await post(env, url(nip, "conduct"), {"rubric_scores": scores()}, ks)).is_success
    assert (await post(env, url(nip, "feedback"), {"feedback": "Perjelas tujuan."}, ks)).is_success

    r = await post(env, url(nip, "followup/actions"), {"action": "Kesepakatan kelas"}, ks)
    assert (r.status_code, r.json()["code"]) == (403, "ROLE_FORBIDDEN")
    r = await post(env, url(nip, "followup/actions"), {"action": "Kesepakatan kelas"}, guru)
    assert r.json()["state"] == "UPAYA_BERJALAN"
    r = await post(env, url(nip, "followup/reflection"), {"reflection": "Lebih tertib."}, guru)
    assert r.json()["state"] == "REFLEKSI_DIKIRIM"
    r = await post(env, url(nip, "followup/review"), {"comment": "Bagus."}, ks)
    assert (r.json()["state"], r.json()["reviewed_by"]) == ("DITINJAU", school.ks)
    r = await env.client.get(url(nip, "followup"), headers=guru)
    assert [a["text"] for a in r.json()["actions"]] == ["Kesepakatan kelas"]


async def test_concurrent_bookings_of_one_slot_leave_one_live_schedule(env: Env) -> None:
    school, first = await agreed_teacher(env)
    _, second = await agreed_teacher(env, school)
    body = {"scheduled_at": AT.isoformat()}
    results = await asyncio.gather(
        post(env, url(first, "schedule"), body, env.guru(first, school)),
        post(env, url(second, "schedule"), body, env.guru(second, school)),
    )
    assert sorted(r.status_code for r in results) == [200, 409]


async def test_concurrent_reschedules_apply_once_and_the_other_is_v15(env: Env) -> None:
    school, nip = await agreed_teacher(env)
    guru = env.guru(nip, school)
    assert (
        await post(env, url(nip, "schedule"), {"scheduled_at": AT.isoformat()}, guru)
    ).is_success
    moves = [
        {"scheduled_at": (AT + timedelta(days=d)).isoformat(), "reason": "bentrok rapat",
         "expected_revision": 1}
        for d in (1, 2)
    ]  # fmt: skip
    results = await asyncio.gather(*(post(env, url(nip, "reschedule"), m, guru) for m in moves))
    assert sorted(r.status_code for r in results) == [200, 409]
    assert {r.json().get("code") for r in results if r.status_code == 409} == {"V-15"}
    history = (await env.client.get(url(nip, "history"), headers=guru)).json()
    assert len(history) == 2


async def test_plan_for_an_unknown_period_is_dead_lettered(env: Env) -> None:
    school = await env.school()
    nip = await env.teacher(school)
    await env.publish(PLAN_AGREED, nip, plan_agreed(nip, school, period_id="2031"))
    consumer = AIOKafkaConsumer(
        dlq_name(env.group),
        bootstrap_servers=env.stack.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:

        async def parked() -> str | None:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    if r.key == nip.encode():
                        return dict(r.headers)["kinerja-error-code"].decode()
            return None

        assert await wait_for(parked, timeout=60, what="the plan in the DLQ") == "UNKNOWN_PERIOD"
    finally:
        await consumer.stop()
    assert await env.fetchrow("SELECT 1 FROM observations WHERE nip = $1", nip) is None
