"""The assessment folded from upstream facts: order, lateness and repeats change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import reduce

from hypothesis import given
from hypothesis import strategies as st

from assessment.domain.assessment import (
    Assessment,
    AssessmentState,
    Evidence,
    EvidenceKind,
    PlanFact,
    UpstreamFact,
    apply,
    submitted,
    with_rating,
)

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def plan(version: int, *, agreed: bool = True, minute: int = 0) -> PlanFact:
    return PlanFact(
        plan_id="p1",
        version=version,
        agreed=agreed,
        npsn="20100001",
        atasan_nip="198001012005011001",
        occurred_at=T0 + timedelta(minutes=minute),
    )


def ev(kind: EvidenceKind, minute: int, **data: object) -> Evidence:
    return Evidence(kind, T0 + timedelta(minutes=minute), f"e{kind}{minute}", data)


def fold(facts: list[UpstreamFact], start: Assessment | None = None) -> Assessment:
    return reduce(apply, facts, start or Assessment())


FACTS: list[UpstreamFact] = [
    plan(1, minute=0),
    plan(2, agreed=False, minute=10),
    plan(2, minute=20),
    ev(EvidenceKind.OBSERVATION, 5, practice_rating="SESUAI_EKSPEKTASI"),
    ev(EvidenceKind.OBSERVATION, 15, practice_rating="DI_ATAS_EKSPEKTASI"),
    ev(EvidenceKind.FOLLOWUP, 30, actions=2),
    ev(EvidenceKind.FOLLOWUP, 31, actions=4),
    ev(EvidenceKind.COMPETENCY, 40, activities=["Webinar"]),
    ev(EvidenceKind.DUTY, 41, tugas=["Mengajar"]),
]


@given(st.lists(st.sampled_from(FACTS), min_size=1, max_size=30))
def test_any_order_with_repeats_gives_the_same_assessment_as_the_ordered_history(
    arrivals: list[UpstreamFact],
) -> None:
    distinct = [FACTS[i] for i in sorted({FACTS.index(f) for f in arrivals})]
    assert fold(arrivals) == fold(distinct)


@given(st.permutations(FACTS))
def test_the_final_assessment_does_not_depend_on_arrival_order(order: list[UpstreamFact]) -> None:
    final = fold(order)
    assert final == fold(FACTS)
    assert final.plan == plan(2, minute=20)
    assert final.evidence[EvidenceKind.OBSERVATION].data["practice_rating"] == "DI_ATAS_EKSPEKTASI"
    assert final.evidence[EvidenceKind.FOLLOWUP].data["actions"] == 4


@given(st.permutations(FACTS), st.integers(min_value=0, max_value=len(FACTS)))
def test_a_rating_given_against_the_latest_plan_version_survives_late_facts(
    order: list[UpstreamFact], cut: int
) -> None:
    latest_first = [plan(2, minute=20), *order[:cut]]
    rated = with_rating(fold(latest_first))
    assert fold(order[cut:], rated).state is AssessmentState.DINILAI


def test_evidence_before_any_plan_waits_and_counts_once_the_plan_arrives() -> None:
    waiting = fold([ev(EvidenceKind.OBSERVATION, 5, practice_rating="SESUAI_EKSPEKTASI")])
    assert waiting.waiting_for_plan
    opened = apply(waiting, plan(1))
    assert not opened.waiting_for_plan
    assert EvidenceKind.OBSERVATION in opened.evidence
    assert opened.state is AssessmentState.BELUM_DINILAI


def test_a_new_plan_version_resets_a_rating_but_keeps_the_evidence() -> None:
    rated = with_rating(fold([plan(1), ev(EvidenceKind.FOLLOWUP, 3, actions=1)]))
    assert rated.state is AssessmentState.DINILAI
    revised = apply(rated, plan(2, agreed=False, minute=9))
    assert revised.state is AssessmentState.BELUM_DINILAI
    assert EvidenceKind.FOLLOWUP in revised.evidence
    assert revised.ever_agreed


def test_an_older_plan_version_arriving_late_changes_nothing() -> None:
    current = fold([plan(2, minute=20)])
    assert apply(current, plan(1, minute=0)) == current
    assert apply(current, plan(2, agreed=False, minute=10)) == current


def test_a_submitted_assessment_stays_submitted_whatever_arrives() -> None:
    done = submitted(with_rating(fold([plan(1)])))
    later = fold([plan(2, agreed=False, minute=5), plan(2, minute=6)], done)
    assert later.state is AssessmentState.DIKIRIM_KE_DINAS


def test_missing_evidence_lists_every_kind_not_yet_seen() -> None:
    a = fold([plan(1), ev(EvidenceKind.OBSERVATION, 1, practice_rating="SESUAI_EKSPEKTASI")])
    assert a.missing_evidence() == [
        EvidenceKind.FOLLOWUP,
        EvidenceKind.COMPETENCY,
        EvidenceKind.DUTY,
    ]
