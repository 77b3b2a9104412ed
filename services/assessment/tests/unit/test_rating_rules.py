"""When the KS may rate and how the HK aspects are found (§2.6 [D], V-18)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from assessment.domain.assessment import (
    Assessment,
    Evidence,
    EvidenceKind,
    PlanFact,
    apply,
    submitted,
    with_rating,
)
from assessment.domain.rating_rules import (
    RatingInput,
    followup_effort,
    rate,
)
from assessment.domain.ratings import BERAKHLAK, Predikat, Rating
from kinerja_shared.refusal import Kind, Refusal

ATAS = Rating.DI_ATAS_EKSPEKTASI
SESUAI = Rating.SESUAI_EKSPEKTASI
BAWAH = Rating.DI_BAWAH_EKSPEKTASI
T = datetime(2025, 3, 1, tzinfo=UTC)
ALL_SESUAI = dict.fromkeys(BERAKHLAK, SESUAI)


def plan(*, agreed: bool = True, version: int = 1) -> PlanFact:
    return PlanFact("p1", version, agreed, "20100001", "198001012005011001", T)


def observed(practice: Rating = SESUAI, actions: int | None = None) -> Assessment:
    a = apply(Assessment(), plan())
    a = apply(a, Evidence(EvidenceKind.OBSERVATION, T, "o", {"practice_rating": practice.value}))
    if actions is not None:
        a = apply(a, Evidence(EvidenceKind.FOLLOWUP, T, "f", {"actions": actions}))
    return a


def refusal(a: Assessment, req: RatingInput) -> Refusal:
    with pytest.raises(Refusal) as caught:
        rate(a, req)
    return caught.value


@pytest.mark.parametrize(
    ("actions", "effort"), [(0, BAWAH), (1, SESUAI), (2, SESUAI), (3, ATAS), (10, ATAS)]
)
def test_follow_up_effort_grows_with_the_number_of_actions(actions: int, effort: Rating) -> None:
    assert followup_effort(actions) is effort


def test_hk_is_the_median_of_reflection_follow_up_and_practice() -> None:
    out = rate(observed(ATAS, actions=3), RatingInput(ALL_SESUAI, reflection_quality=BAWAH))
    assert (out.reflection_quality, out.follow_up_effort, out.practice_change) == (
        BAWAH,
        ATAS,
        ATAS,
    )
    assert out.hasil_kerja is ATAS
    assert out.predikat is Predikat.BAIK


def test_reflection_quality_defaults_to_meets_expectations() -> None:
    out = rate(observed(BAWAH, actions=3), RatingInput(ALL_SESUAI))
    assert out.reflection_quality is SESUAI
    assert out.hasil_kerja is SESUAI


def test_a_rating_before_the_plan_is_agreed_is_refused_as_not_open() -> None:
    r = refusal(Assessment(), RatingInput(ALL_SESUAI))
    assert (r.code, r.kind) == ("ASSESSMENT_NOT_OPEN", Kind.NOT_FOUND)
    assert "perencanaan" in r.message


def test_a_rating_before_the_observation_is_refused_as_not_open() -> None:
    r = refusal(apply(Assessment(), plan()), RatingInput(ALL_SESUAI))
    assert (r.code, r.kind) == ("ASSESSMENT_NOT_OPEN", Kind.NOT_FOUND)
    assert "observasi" in r.message


def test_a_rating_while_a_revised_plan_awaits_agreement_is_refused() -> None:
    a = apply(observed(actions=1), plan(agreed=False, version=2))
    assert refusal(a, RatingInput(ALL_SESUAI)).code == "V-12"


def test_missing_follow_up_needs_the_ks_to_confirm_and_then_counts_below() -> None:
    r = refusal(observed(), RatingInput(ALL_SESUAI))
    assert (r.code, r.kind) == ("EVIDENCE_MISSING", Kind.INVALID)
    assert r.detail == {"missing": ["FOLLOWUP"]}
    out = rate(observed(ATAS), RatingInput(ALL_SESUAI, allow_missing_followup=True))
    assert out.follow_up_effort is BAWAH
    assert out.followup_missing
    assert out.hasil_kerja is SESUAI


def test_allowing_missing_follow_up_does_not_override_real_evidence() -> None:
    out = rate(observed(actions=3), RatingInput(ALL_SESUAI, allow_missing_followup=True))
    assert out.follow_up_effort is ATAS
    assert not out.followup_missing


def test_hk_moves_one_step_with_a_long_reason() -> None:
    req = RatingInput(ALL_SESUAI, hk_adjusted_to=ATAS, hk_reason="r" * 50)
    out = rate(observed(actions=1), req)
    assert (out.hk_derived, out.hasil_kerja) == (SESUAI, ATAS)


@pytest.mark.parametrize(
    ("practice", "to", "reason"),
    [(SESUAI, ATAS, "terlalu pendek"), (SESUAI, ATAS, None), (BAWAH, ATAS, "r" * 80)],
)
def test_hk_changes_without_reason_or_beyond_one_step_are_v18(
    practice: Rating, to: Rating, reason: str | None
) -> None:
    a = observed(practice, actions=0 if practice is BAWAH else 1)
    req = RatingInput(
        ALL_SESUAI,
        reflection_quality=practice,
        hk_adjusted_to=to,
        hk_reason=reason,
    )
    r = refusal(a, req)
    assert (r.code, r.kind) == ("V-18", Kind.INVALID)


def test_incomplete_behaviours_are_refused_with_the_missing_names() -> None:
    partial = dict.fromkeys(BERAKHLAK[:6], SESUAI)
    r = refusal(observed(actions=1), RatingInput(partial))
    assert r.code == "PK_INCOMPLETE"
    assert r.detail["missing"] == [BERAKHLAK[6]]


def test_a_submitted_assessment_is_locked() -> None:
    done = submitted(with_rating(observed(actions=1)))
    r = refusal(done, RatingInput(ALL_SESUAI))
    assert (r.code, r.kind) == ("ASSESSMENT_LOCKED", Kind.CONFLICT)


def test_re_rating_before_submission_is_allowed() -> None:
    rated = with_rating(observed(actions=1))
    out = rate(rated, RatingInput(dict.fromkeys(BERAKHLAK, ATAS)))
    assert out.predikat is Predikat.BAIK
