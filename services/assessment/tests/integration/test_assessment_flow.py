"""Assessment on the real stack: ordering, idempotency, rating, V-18, V-20 and access."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace

from kinerja_shared import telemetry
from kinerja_shared.topics import (
    ASSESSMENT_RECOMMENDED,
    FOLLOWUP_REFLECTED,
    OBSERVATION_CONDUCTED,
    PLAN_AGREED,
    SCHOOL_SUBMITTED,
)
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.spans import captured_spans, trace_id_of

from .conftest import PERIOD, Env, School, make_school

pytestmark = pytest.mark.infra

BERAKHLAK = [
    "BERORIENTASI_PELAYANAN",
    "AKUNTABEL",
    "KOMPETEN",
    "HARMONIS",
    "LOYAL",
    "ADAPTIF",
    "KOLABORATIF",
]
ALL_SESUAI = dict.fromkeys(BERAKHLAK, "SESUAI_EKSPEKTASI")


async def opened(school: School, nip: str, *, actions: int | None = 2) -> dict[str, Any]:
    """Plan agreed, observation conducted (and follow-up), all consumed; the assessment view."""
    env = school.env
    await env.send(PLAN_AGREED, nip, school.plan_agreed(nip))
    await env.send(OBSERVATION_CONDUCTED, nip, school.conducted(nip))
    if actions is not None:
        await env.send(FOLLOWUP_REFLECTED, nip, school.followup(nip, actions))

    async def ready() -> dict[str, Any] | None:
        r = await env.client.get(f"/assessments/{nip}/{PERIOD}", headers=school.ks_auth)
        if r.status_code != 200:
            return None
        view: dict[str, Any] = r.json()
        if actions is not None and view["follow_up_effort"] is None:
            return None
        return view

    return await wait_for(ready, timeout=90, what="assessment opened")


async def rate(school: School, nip: str, **body: Any) -> Any:
    return await school.env.client.put(
        f"/assessments/{nip}/{PERIOD}/rating",
        json={"behaviours": ALL_SESUAI, **body},
        headers=school.ks_auth,
    )


# Fresh consumer groups read each input topic from the start: slow on a busy shared stack.
@pytest.mark.timeout(400)
async def test_evidence_before_its_plan_waits_then_applies(env: Env) -> None:
    school = await make_school(env, 1)
    nip = school.teachers[0]
    early = [school.conducted(nip, "DI_ATAS_EKSPEKTASI"), school.followup(nip, 3)]
    await env.send(OBSERVATION_CONDUCTED, nip, early[0])
    await env.send(FOLLOWUP_REFLECTED, nip, early[1])
    await wait_for(
        lambda: env.consumed(FOLLOWUP_REFLECTED, early[1].event_id),
        timeout=90,
        what="followup consumed",
    )
    await wait_for(
        lambda: env.consumed(OBSERVATION_CONDUCTED, early[0].event_id),
        timeout=90,
        what="obs consumed",
    )
    r = await env.client.get(f"/assessments/{nip}/{PERIOD}", headers=school.ks_auth)
    assert (r.status_code, r.json()["code"]) == (404, "ASSESSMENT_NOT_OPEN")
    summary = await env.client.get(f"/sekolah/{school.npsn}/{PERIOD}", headers=school.ks_auth)
    (t,) = summary.json()["teachers"]
    assert not t["plan_agreed"]
    assert t["missing_evidence"] == ["COMPETENCY", "DUTY"]

    await env.send(PLAN_AGREED, nip, school.plan_agreed(nip))

    async def view() -> Any:
        r = await env.client.get(f"/assessments/{nip}/{PERIOD}", headers=school.ks_auth)
        return r.json() if r.status_code == 200 else None

    v = await wait_for(view, timeout=90, what="assessment opened by the late plan")
    assert v["practice_rating"] == "DI_ATAS_EKSPEKTASI"
    assert v["follow_up_effort"] == "DI_ATAS_EKSPEKTASI"
    assert v["missing_for_hk"] == []


async def test_a_repeated_or_older_event_changes_nothing(env: Env) -> None:
    school = await make_school(env, 1)
    nip = school.teachers[0]
    await opened(school, nip, actions=3)
    stale = school.followup(nip, 0)
    # Same fact again (new event id, older occurred_at) and the very same envelope twice.
    older = stale.model_copy(update={"occurred_at": stale.occurred_at.replace(year=2000)})
    await env.send(FOLLOWUP_REFLECTED, nip, older)
    await env.send(FOLLOWUP_REFLECTED, nip, older)
    await wait_for(lambda: env.consumed(FOLLOWUP_REFLECTED, older.event_id), what="consumed")
    r = await env.client.get(f"/assessments/{nip}/{PERIOD}", headers=school.ks_auth)
    assert r.json()["follow_up_effort"] == "DI_ATAS_EKSPEKTASI"
    assert await env.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", older.event_id) == 1


async def test_rating_publishes_the_recommended_predikat(env: Env) -> None:
    school = await make_school(env, 1)
    nip = school.teachers[0]
    await opened(school, nip, actions=3)
    r = await rate(
        school,
        nip,
        behaviours=dict.fromkeys(BERAKHLAK, "DI_ATAS_EKSPEKTASI"),
        reflection_quality="DI_ATAS_EKSPEKTASI",
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["state"], body["hasil_kerja"], body["recommended_predikat"]) == (
        "DINILAI",
        "DI_ATAS_EKSPEKTASI",
        "SANGAT_BAIK",
    )
    # Practice SESUAI, follow-up ATAS, reflection ATAS → HK ATAS. A re-rating publishes again:
    # reflection BAWAH → HK SESUAI, PK SESUAI → BAIK.
    r2 = await rate(school, nip, reflection_quality="DI_BAWAH_EKSPEKTASI")
    assert r2.json()["recommended_predikat"] == "BAIK"
    events = await env.collect(ASSESSMENT_RECOMMENDED, lambda e: e.subject == nip, 2)
    assert [e.payload.recommended_predikat for e in events] == ["SANGAT_BAIK", "BAIK"]
    assert events[0].payload.atasan_nip == school.ks
    assert events[0].payload.npsn == school.npsn


async def test_missing_follow_up_needs_explicit_consent(env: Env) -> None:
    school = await make_school(env, 1)
    nip = school.teachers[0]
    await opened(school, nip, actions=None)
    r = await rate(school, nip)
    assert r.status_code == 422
    assert (r.json()["code"], r.json()["detail"]) == ("EVIDENCE_MISSING", {"missing": ["FOLLOWUP"]})
    r = await rate(school, nip, allow_missing_followup=True)
    assert r.status_code == 200, r.text
    assert r.json()["follow_up_effort"] == "DI_BAWAH_EKSPEKTASI"
    assert r.json()["recommended_predikat"] == "BAIK"


async def test_rating_before_the_observation_is_refused(env: Env) -> None:
    school = await make_school(env, 1)
    nip = school.teachers[0]
    r = await rate(school, nip)
    assert (r.status_code, r.json()["code"]) == (404, "ASSESSMENT_NOT_OPEN")


async def test_hk_changes_are_one_step_with_a_reason_v18(env: Env) -> None:
    school = await make_school(env, 1)
    nip = school.teachers[0]
    await opened(school, nip, actions=1)
    short = {"rating": "DI_ATAS_EKSPEKTASI", "reason": "bagus"}
    two_steps = {"rating": "DI_BAWAH_EKSPEKTASI", "reason": "x" * 60}
    r = await rate(school, nip, hk_adjustment=short)
    assert (r.status_code, r.json()["code"]) == (422, "V-18")
    r = await rate(school, nip, reflection_quality="DI_ATAS_EKSPEKTASI", hk_adjustment=two_steps)
    # Reflection ATAS, follow-up SESUAI, practice SESUAI → HK SESUAI; BAWAH is one step: allowed.
    assert r.status_code == 200
    r = await rate(
        school,
        nip,
        hk_adjustment={"rating": "DI_ATAS_EKSPEKTASI", "reason": "Kemajuan nyata " * 5},
    )
    assert r.status_code == 200
    assert r.json()["hasil_kerja"] == "DI_ATAS_EKSPEKTASI"
    assert r.json()["hk_adjustment_reason"].startswith("Kemajuan nyata")


async def test_only_the_atasan_may_rate(env: Env) -> None:
    school = await make_school(env, 1)
    other = await make_school(env, 0)
    nip = school.teachers[0]
    await opened(school, nip)
    r = await env.client.put(
        f"/assessments/{nip}/{PERIOD}/rating",
        json={"behaviours": ALL_SESUAI},
        headers=other.ks_auth,
    )
    assert (r.status_code, r.json()["code"]) == (403, "V-10")
    r = await env.client.put(
        f"/assessments/{nip}/{PERIOD}/rating",
        json={"behaviours": ALL_SESUAI},
        headers=school.guru_auth(nip),
    )
    assert (r.status_code, r.json()["code"]) == (403, "ROLE_FORBIDDEN")


async def test_kirim_ke_dinas_needs_every_teacher_rated_or_excluded(env: Env) -> None:
    school = await make_school(env, 3)
    a, b, c = school.teachers
    for nip in (a, b, c):
        await opened(school, nip)
    assert (await rate(school, a)).status_code == 200
    url = f"/sekolah/{school.npsn}/{PERIOD}/kirim-ke-dinas"
    r = await env.client.post(url, json={}, headers=school.ks_auth)
    assert r.status_code == 422
    assert r.json()["code"] == "V-20"
    assert r.json()["message"] == "Masih ada 2 guru yang belum dinilai."

    r = await env.client.post(url, json={}, headers=school.guru_auth(a))
    assert r.status_code == 403

    assert (await rate(school, b)).status_code == 200
    why = "Guru sedang tugas belajar sepanjang semester ini"
    r = await env.client.post(url, json={"exclusions": {c: why}}, headers=school.ks_auth)
    assert r.status_code == 200, r.text
    assert sorted(r.json()["assessed"]) == sorted([a, b])

    locked = await rate(school, a)
    assert (locked.status_code, locked.json()["code"]) == (409, "ASSESSMENT_LOCKED")
    excluded = await rate(school, c)
    assert excluded.status_code == 409
    again = await env.client.post(url, json={}, headers=school.ks_auth)
    assert (again.status_code, again.json()["code"]) == (409, "SCHOOL_ALREADY_SUBMITTED")

    (event,) = await env.collect(SCHOOL_SUBMITTED, lambda e: e.subject == school.npsn, 1)
    assert (event.payload.assessed, event.payload.excluded) == (2, 1)

    summary = await env.client.get(f"/sekolah/{school.npsn}/{PERIOD}", headers=school.dinas_auth)
    assert summary.status_code == 200
    assert summary.json()["counts"]["DIKIRIM_KE_DINAS"] == 2


async def test_school_summary_access(env: Env) -> None:
    school = await make_school(env, 1)
    other = await make_school(env, 0)
    url = f"/sekolah/{school.npsn}/{PERIOD}"
    assert (await env.client.get(url, headers=school.ks_auth)).status_code == 200
    assert (await env.client.get(url, headers=school.dinas_auth)).status_code == 200
    r = await env.client.get(url, headers=other.dinas_auth)
    assert (r.status_code, r.json()["code"]) == (403, "OUTSIDE_AREA")
    r = await env.client.get(url, headers=other.ks_auth)
    assert r.status_code == 403
    r = await env.client.get(url, headers=school.guru_auth(school.teachers[0]))
    assert r.status_code == 403


async def test_kirim_ke_dinas_counts_teachers_who_never_agreed_a_plan(env: Env) -> None:
    """18 of 19 unrated and nothing said about them is not a school's result (§2.6): a teacher
    with no agreed plan is rated nowhere, so they are excluded by name with a reason."""
    school = await make_school(env, 3)
    rated, silent, also_silent = school.teachers
    await opened(school, rated)
    assert (await rate(school, rated)).status_code == 200
    url = f"/sekolah/{school.npsn}/{PERIOD}/kirim-ke-dinas"

    r = await env.client.post(url, json={}, headers=school.ks_auth)
    assert (r.status_code, r.json()["code"]) == (422, "V-20")
    assert sorted(r.json()["detail"]["nips"]) == sorted([silent, also_silent])

    why = "Guru cuti melahirkan sepanjang periode penilaian ini"
    exclusions = {silent: why, also_silent: why}
    r = await env.client.post(url, json={"exclusions": exclusions}, headers=school.ks_auth)
    assert r.status_code == 200, r.text
    assert (r.json()["assessed"], sorted(r.json()["exclusions"])) == (
        [rated],
        sorted([silent, also_silent]),
    )


async def test_the_recommendation_links_back_to_the_agreed_plans_trace(env: Env) -> None:
    school = await make_school(env, 1)
    nip = school.teachers[0]
    with captured_spans() as spans:
        # The plan (and here the evidence after it) published in one upstream trace.
        with trace.get_tracer(__name__).start_as_current_span("planning agree (as planning)") as p:
            await opened(school, nip, actions=3)
        plan_trace = trace_id_of(p)
        assert (await rate(school, nip, reflection_quality="SESUAI_EKSPEKTASI")).status_code == 200
        [recommend] = [s for s in spans.get_finished_spans() if s.name == "assessment recommend"]
    assert [trace_id_of(link) for link in recommend.links] == [plan_trace]
    assert recommend.attributes is not None
    assert recommend.attributes[telemetry.LINKED_TRACES] == plan_trace
    # The recommendation travels in the rating's trace, which is not the plan's.
    assert trace_id_of(recommend) != plan_trace
