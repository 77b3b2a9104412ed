"""Kirim ke Dinas: every due teacher rated or excluded with a reason (V-20)."""

from __future__ import annotations

import pytest

from assessment.domain.assessment import AssessmentState
from assessment.domain.submission import TeacherStatus, check_submission
from kinerja_shared.refusal import Kind, Refusal

D = AssessmentState.DINILAI
B = AssessmentState.BELUM_DINILAI
WHY = "Cuti melahirkan selama semester genap"


def teachers(*states: AssessmentState) -> list[TeacherStatus]:
    return [TeacherStatus(f"nip{i}", s) for i, s in enumerate(states)]


def refusal(ts: list[TeacherStatus], exclusions: dict[str, str]) -> Refusal:
    with pytest.raises(Refusal) as caught:
        check_submission(ts, exclusions)
    return caught.value


def test_all_rated_teachers_are_submitted() -> None:
    done = check_submission(teachers(D, D), {})
    assert done.assessed == ("nip0", "nip1")
    assert done.excluded == {}


def test_unrated_teachers_are_counted_in_the_v20_message() -> None:
    r = refusal(teachers(D, B, B), {})
    assert (r.code, r.kind) == ("V-20", Kind.INVALID)
    assert r.message == "Masih ada 2 guru yang belum dinilai."
    assert r.detail["nips"] == ["nip1", "nip2"]


def test_an_excluded_teacher_with_a_reason_does_not_block() -> None:
    done = check_submission(teachers(D, B), {"nip1": WHY})
    assert done.assessed == ("nip0",)
    assert done.excluded == {"nip1": WHY}


def test_an_exclusion_needs_a_real_reason() -> None:
    assert refusal(teachers(D, B), {"nip1": "  cuti  "}).code == "EXCLUSION_REASON_REQUIRED"


def test_only_own_teachers_can_be_excluded() -> None:
    assert refusal(teachers(D), {"someone": WHY}).code == "EXCLUSION_UNKNOWN_TEACHER"


def test_a_second_submission_is_a_conflict() -> None:
    r = refusal(teachers(AssessmentState.DIKIRIM_KE_DINAS), {})
    assert (r.code, r.kind) == ("SCHOOL_ALREADY_SUBMITTED", Kind.CONFLICT)
