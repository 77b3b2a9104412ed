"""What the system does to a plan, and how the history names it: a Plt.'s automatic approval
and a submission that waited for the roster to name an atasan (docs/domain.md §2.2)."""

from __future__ import annotations

from datetime import UTC, datetime

from kinerja_shared.events.planning import PlanApproved, PlanSubmitted
from planning.domain.catalog import Catalog
from planning.domain.plan import Atasan, Plan, PlanContent, PlanState, new_plan

NOW = datetime(2026, 1, 10, tzinfo=UTC)
SINCE = datetime(2026, 1, 8, tzinfo=UTC)
GURU = "198501012010011001"
KS = "197001011995031002"
GOOD = PlanContent(
    sub_indikator=("D1.2",), indikator_kompetensi=("KS.2",), perilaku_fokus=("HARMONIS",)
)


def draft(catalog: Catalog) -> Plan:
    return new_plan(
        plan_id="p1",
        nip=GURU,
        npsn="20100001",
        period_id="2026",
        rules_version=2025,
        content=GOOD,
        catalog=catalog,
    )


def test_a_plt_approval_names_the_system_and_the_plt(catalog: Catalog) -> None:
    done = draft(catalog).submit(Atasan(KS, plt=True), catalog, NOW)
    assert done.plan.state is PlanState.DISETUJUI
    assert done.actor(GURU) == "SYSTEM_PLT"
    assert KS in (done.note(GURU, None) or "")
    assert GURU in (done.note(GURU, None) or "")
    assert [type(e) for e in done.events] == [PlanSubmitted, PlanApproved]


def test_a_submission_by_the_teacher_names_the_teacher(catalog: Catalog) -> None:
    done = draft(catalog).submit(Atasan(KS), catalog, NOW)
    assert (done.actor(GURU), done.note(GURU, None)) == (GURU, None)


def test_a_waiting_submission_goes_to_the_atasan_the_roster_names_now(catalog: Catalog) -> None:
    done = draft(catalog).resume_submission(Atasan(KS), catalog, NOW, SINCE)
    assert (done.plan.state, done.plan.atasan_nip) == (PlanState.DIAJUKAN, KS)
    assert done.actor("SYSTEM_ROSTER") == "SYSTEM_ROSTER"
    assert "V-03" in (done.note("SYSTEM_ROSTER", None) or "")


def test_a_waiting_submission_to_a_plt_is_approved_by_the_system(catalog: Catalog) -> None:
    done = draft(catalog).resume_submission(Atasan(KS, plt=True), catalog, NOW, SINCE)
    assert done.plan.state is PlanState.DISETUJUI
    assert done.actor("SYSTEM_ROSTER") == "SYSTEM_PLT"


def test_still_no_atasan_changes_nothing(catalog: Catalog) -> None:
    plan = draft(catalog)
    done = plan.resume_submission(Atasan(None), catalog, NOW, SINCE)
    assert done.plan is plan
    assert done.events == ()
