"""A school of seven teachers through the whole cycle, as production runs it.

Five teachers under a definitive Kepala Sekolah (one plan returned and revised, one observation
rescheduled, a spread of ratings that fits the org predikat Baik), one teacher whose school is
led by a Plt. (the plan is approved by the system at once) and one teacher whose school has no
head at all (V-03: the plan stays DRAF and nothing of them travels further). Every service's
state is read through its API, the events through the topics, and e-Kinerja's through its
ledger.
"""

from __future__ import annotations

from typing import Any

import pytest
from flow import DI_ATAS, Cycle, EventTap, gather, plan_content
from people import new_school
from processes import System

from kinerja_shared.auth.devtoken import DevIdentityProvider
from kinerja_shared.events.roster import Pegawai
from kinerja_shared.topics import (
    ASSESSMENT_RECOMMENDED,
    BKN_DELIVERY_STATUS,
    OBSERVATION_CONDUCTED,
    OBSERVATION_RESCHEDULED,
    ORGANISASI_DITETAPKAN,
    PLAN_AGREED,
    PLAN_APPROVED,
    PLAN_RETURNED,
    PLAN_SUBMITTED,
    PREDIKAT_DITETAPKAN,
)
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.stack import Stack

pytestmark = [pytest.mark.infra, pytest.mark.e2e]

TOPICS = (
    PLAN_SUBMITTED,
    PLAN_RETURNED,
    PLAN_APPROVED,
    PLAN_AGREED,
    OBSERVATION_RESCHEDULED,
    OBSERVATION_CONDUCTED,
    ASSESSMENT_RECOMMENDED,
    ORGANISASI_DITETAPKAN,
    PREDIKAT_DITETAPKAN,
    BKN_DELIVERY_STATUS,
)
RETURN_NOTE = "Tugas pokok belum menyebut kelas dan mata pelajaran yang diampu."
RESCHEDULE_REASON = "Kepala Sekolah dipanggil rapat mendadak di Dinas Pendidikan."


async def test_school_of_seven_through_the_cycle(
    system: System, stack: Stack, idp: DevIdentityProvider
) -> None:
    cycle = Cycle(system, stack, idp)
    school = new_school(teachers=5)
    plt_school = new_school(teachers=1, plt=True)
    headless = new_school(teachers=1, headless=True)
    best, returned, rescheduled, plain, weak = school.guru
    plt_guru, lone = plt_school.guru[0], headless.guru[0]
    # The spread for the org predikat Baik at n=5 (docs/domain.md §4.2): Baik ≤ floor(0.7·5) = 3 and
    # at least one Butuh Perbaikan/Kurang → Sangat Baik 1, Baik 3, Butuh Perbaikan 1.
    expected = {
        best.nip: "SANGAT_BAIK",
        returned.nip: "BAIK",
        rescheduled.nip: "BAIK",
        plain.nip: "BAIK",
        weak.nip: "BUTUH_PERBAIKAN",
    }
    # The Plt. school alone: n=1 under Istimewa allows no Sangat Baik (floor(0.7) = 0).
    expected_plt = {plt_guru.nip: "BAIK"}
    eligible: list[tuple[Any, Pegawai]] = [(school, g) for g in school.guru]
    eligible.append((plt_school, plt_guru))

    async with EventTap(stack.kafka_bootstrap, TOPICS) as events:
        await cycle.publish([school, plt_school], headless=[headless])
        period = await cycle.current_period(cycle.as_dinas("3171"))

        # -- planning ---------------------------------------------------------------------
        async def returned_then_agreed() -> Any:
            as_guru, as_ks = cycle.as_guru(returned), cycle.as_ks(school)
            plan = await cycle.write_plan(returned, period)
            url = f"{cycle.planning}/plans/{plan['plan_id']}"
            await as_guru.call("POST", f"{url}/submit", {})
            back = await as_ks.call("POST", f"{url}/return", {"note": RETURN_NOTE})
            assert back["state"] == "DIKEMBALIKAN", back
            assert back["return_note"] == RETURN_NOTE
            revised = plan_content(period, tugas="Mengajar IPA (Fisika) 24 JP")
            edited = await as_guru.call(
                "PUT", url, {**revised, "expected_version": back["version"]}
            )
            assert edited["content"]["tugas_pokok"] == ["Mengajar IPA (Fisika) 24 JP kelas VIII"]
            again = await as_guru.call("POST", f"{url}/submit", {})
            assert again["state"] == "DIAJUKAN", again
            await as_ks.call("POST", f"{url}/approve", {})
            agreed = await as_guru.call("POST", f"{url}/agree", {})
            assert agreed["state"] == "DISEPAKATI", agreed
            return agreed

        async def refused_for_want_of_atasan() -> Any:
            as_lone = cycle.as_guru(lone)
            plan = await cycle.write_plan(lone, period)
            url = f"{cycle.planning}/plans/{plan['plan_id']}"
            refusal = await as_lone.call("POST", f"{url}/submit", {}, expect=422)
            assert refusal["code"] == "V-03", refusal
            assert refusal["message"] == "Data atasan Anda tidak ditemukan"
            assert "Operator Sekolah" in refusal["detail"]["remedy"], refusal
            assert "Dapodik" in refusal["detail"]["remedy"], refusal
            still = await as_lone.call("GET", url)
            assert still["state"] == "DRAF", still
            return still

        plans = await gather(
            [
                cycle.agreed_plan(school, best, period),
                returned_then_agreed(),
                cycle.agreed_plan(school, rescheduled, period),
                cycle.agreed_plan(school, plain, period),
                cycle.agreed_plan(school, weak, period),
                cycle.agreed_plan(plt_school, plt_guru, period),
                refused_for_want_of_atasan(),
            ]
        )
        plan_of = {p["nip"]: p for p in plans}
        plt_plan = await cycle.plan(cycle.as_guru(plt_guru), plan_of[plt_guru.nip]["plan_id"])
        assert plt_plan["state"] == "DISEPAKATI"
        assert plt_plan["approved_by"] == "SYSTEM_PLT", plt_plan
        assert plt_plan["atasan_nip"] == plt_school.kepala.nip

        # -- observation (one observer at a time: a conducted observation frees its slot) -
        await cycle.observed(school, best, period, score=4)
        await cycle.observed(school, returned, period)
        await cycle.observed(school, rescheduled, period, reschedule_reason=RESCHEDULE_REASON)
        await cycle.observed(school, plain, period)
        await cycle.observed(school, weak, period, score=2)
        await cycle.observed(plt_school, plt_guru, period)
        # The best teacher also does the follow-up: three actions and a reflection.
        await cycle.followed_up(school, best, period, actions=3)

        as_ks = cycle.as_ks(school)
        history = await as_ks.call("GET", f"{cycle.observation_url(rescheduled, period)}/history")
        moves = [h for h in history if h["reason"] == RESCHEDULE_REASON]
        assert len(moves) == 1, history
        assert moves[0]["previous_at"] is not None
        assert moves[0]["scheduled_at"] > moves[0]["previous_at"], moves
        assert moves[0]["by_nip"] == school.kepala.nip

        # -- assessment: all seven behaviours per teacher ---------------------------------
        ratings = await gather(
            [
                cycle.rated(
                    school,
                    best,
                    period,
                    behaviour=DI_ATAS,
                    reflection_quality=DI_ATAS,
                    with_followup=True,
                ),
                cycle.rated(school, returned, period),
                cycle.rated(school, rescheduled, period),
                cycle.rated(school, plain, period),
                cycle.rated(school, weak, period),
                cycle.rated(plt_school, plt_guru, period),
            ]
        )
        recommended = {r["nip"]: r["recommended_predikat"] for r in ratings}
        assert recommended == expected | expected_plt, ratings

        # -- predikat: org predikat by the Dinas, tetapkan and Kirim ke Guru --------------
        await gather(
            cycle.recommended(s, g, period, (expected | expected_plt)[g.nip]) for s, g in eligible
        )
        await gather(cycle.skp_delivered(s, g) for s, g in eligible)
        await cycle.org_predikat(school, period, "BAIK")
        await cycle.org_predikat(plt_school, period, "ISTIMEWA")
        fixed = await cycle.tetapkan(school, period)
        assert sorted(fixed["ditetapkan"]) == sorted(expected), fixed
        assert fixed["distribution_reason"] is None, fixed
        fixed_plt = await cycle.tetapkan(plt_school, period)
        assert fixed_plt["ditetapkan"] == [plt_guru.nip], fixed_plt
        sent = await cycle.kirim_ke_guru(school, period)
        assert sorted(sent["delivery_ids"]) == sorted(expected), sent
        assert sent["belum_ditetapkan"] == []
        await cycle.kirim_ke_guru(plt_school, period)

        async def all_terkirim() -> dict[str, Any] | None:
            views = await cycle.school_view(school, period)
            views |= await cycle.school_view(plt_school, period)
            done = all(v["delivery_state"] == "terkirim" for v in views.values())
            return views if done and len(views) == len(eligible) else None

        views = await wait_for(all_terkirim, timeout=60, what="every predikat terkirim")
        assert {n: v["predikat"] for n, v in views.items()} == expected | expected_plt

        # -- every service's state, through its API ---------------------------------------
        for s, guru in eligible:
            ks, as_guru = cycle.as_ks(s), cycle.as_guru(guru)
            plan = await cycle.plan(as_guru, plan_of[guru.nip]["plan_id"])
            assert plan["state"] == "DISEPAKATI", plan
            obs = await ks.call("GET", cycle.observation_url(guru, period))
            # Diskusi tindak lanjut moves the best teacher's observation one step further.
            done = "UMPAN_BALIK_DIBERIKAN" if guru is best else "DILAKSANAKAN"
            assert obs["state"] == done, obs
            assessment = await ks.call("GET", cycle.assessment_url(guru, period))
            assert assessment["state"] == "DINILAI", assessment
            own = await as_guru.call("GET", cycle.predikat_url(guru, period))
            assert own["delivery_state"] == "terkirim", own
            assert own["predikat"] == (expected | expected_plt)[guru.nip], own
            deliveries = await cycle.deliveries(as_guru, guru.nip)
            assert sorted((d["kind"], d["state"]) for d in deliveries) == [
                ("PREDIKAT", "DELIVERED"),
                ("SKP", "DELIVERED"),
            ], deliveries
            # Exactly one SKP and one predikat at e-Kinerja.
            assert await cycle.ledger_kinds(guru.nip) == ["predikat", "skp"]

        # -- the teacher without an atasan: nothing travelled past planning ---------------
        as_lone = cycle.as_guru(lone)
        lone_plan = await cycle.plan(as_lone, plan_of[lone.nip]["plan_id"])
        assert lone_plan["state"] == "DRAF", lone_plan
        assert lone_plan["atasan_nip"] is None
        operator = cycle.as_operator()
        lone_obs = await operator.request("GET", cycle.observation_url(lone, period))
        # No agreed plan, so no observation was ever opened (V-12).
        assert lone_obs.status_code == 422, lone_obs.text
        assert lone_obs.json()["code"] == "V-12", lone_obs.text
        assert await cycle.deliveries(operator, lone.nip) == []
        assert await cycle.ledger_kinds(lone.nip) == []

        # -- the events each service published about these people -------------------------
        for _, guru in eligible:
            await events.wait(BKN_DELIVERY_STATUS, guru.nip, _delivered("PREDIKAT"))
            assert len(events.payloads(PLAN_AGREED, guru.nip)) == 1
            assert len(events.payloads(OBSERVATION_CONDUCTED, guru.nip)) == 1
            predikat_events = events.payloads(PREDIKAT_DITETAPKAN, guru.nip)
            assert [p["predikat"] for p in predikat_events] == [(expected | expected_plt)[guru.nip]]
            recs = events.payloads(ASSESSMENT_RECOMMENDED, guru.nip)
            assert recs[-1]["recommended_predikat"] == (expected | expected_plt)[guru.nip]
            statuses = events.payloads(BKN_DELIVERY_STATUS, guru.nip)
            assert {(s["kind"], s["state"]) for s in statuses} >= {
                ("SKP", "DELIVERED"),
                ("PREDIKAT", "DELIVERED"),
            }, statuses
        approvals = {g.nip: events.payloads(PLAN_APPROVED, g.nip) for _, g in eligible}
        assert [a["approved_by"] for a in approvals[plt_guru.nip]] == ["SYSTEM_PLT"]
        assert all(
            [a["approved_by"] for a in approvals[g.nip]] == ["KEPALA_SEKOLAH"] for g in school.guru
        ), approvals
        assert [r["note"] for r in events.payloads(PLAN_RETURNED, returned.nip)] == [RETURN_NOTE]
        assert len(events.payloads(PLAN_SUBMITTED, returned.nip)) == 2
        moved = events.payloads(OBSERVATION_RESCHEDULED, rescheduled.nip)
        assert [m["reason"] for m in moved] == [RESCHEDULE_REASON]
        orgs = {
            s.sekolah.npsn: [
                o["predikat_organisasi"]
                for o in events.payloads(ORGANISASI_DITETAPKAN, s.sekolah.npsn)
            ]
            for s in (school, plt_school)
        }
        assert orgs == {school.sekolah.npsn: ["BAIK"], plt_school.sekolah.npsn: ["ISTIMEWA"]}
        for topic in TOPICS:
            assert events.payloads(topic, lone.nip) == [], topic.name


def _delivered(kind: str) -> Any:
    return lambda p: p["kind"] == kind and p["state"] == "DELIVERED"
