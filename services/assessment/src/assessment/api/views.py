"""Response models: what the KS, the teacher and the Dinas see of an assessment."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from ..domain.assessment import Assessment, EvidenceKind
from ..domain.rating_rules import aspects


class AssessmentView(BaseModel):
    nip: str
    period_id: str
    state: str
    plan_id: str | None
    plan_version: int | None
    practice_rating: str | None
    follow_up_effort: str | None
    reflection_quality: str | None
    missing_evidence: list[str]
    missing_for_hk: list[str]
    followup_missing_confirmed: bool | None
    hk_derived: str | None
    hk_adjustment_reason: str | None
    hasil_kerja: str | None
    perilaku_kerja: str | None
    recommended_predikat: str | None
    rated_at: datetime | None


def assessment_view(row: Any, a: Assessment) -> AssessmentView:
    found = aspects(a)
    rated = a.rated_plan_version is not None
    return AssessmentView(
        nip=row["nip"],
        period_id=row["period_id"],
        state=a.state.value,
        plan_id=a.plan.plan_id if a.plan else None,
        plan_version=a.plan.version if a.plan else None,
        practice_rating=found.practice_change.value if found.practice_change else None,
        follow_up_effort=(
            row["follow_up_effort"]
            if rated and row["follow_up_effort"]
            else (found.follow_up_effort.value if found.follow_up_effort else None)
        ),
        reflection_quality=row["reflection_quality"],
        missing_evidence=[k.value for k in a.missing_evidence()],
        missing_for_hk=found.missing_for_hk,
        followup_missing_confirmed=row["followup_missing"],
        hk_derived=row["hk_derived"],
        hk_adjustment_reason=row["hk_adjustment_reason"],
        hasil_kerja=row["hasil_kerja"],
        perilaku_kerja=row["perilaku_kerja"],
        recommended_predikat=row["recommended_predikat"],
        rated_at=row["rated_at"],
    )


class TeacherSummary(BaseModel):
    nip: str
    nama: str
    atasan_nip: str | None
    state: str
    plan_agreed: bool
    missing_evidence: list[str]
    hasil_kerja: str | None
    perilaku_kerja: str | None
    recommended_predikat: str | None
    excluded_reason: str | None


class SubmissionView(BaseModel):
    atasan_nip: str
    submitted_at: datetime
    assessed: list[str]
    exclusions: dict[str, str]


class SchoolSummary(BaseModel):
    npsn: str
    period_id: str
    counts: dict[str, int]
    belum_dinilai: int
    submissions: list[SubmissionView]
    teachers: list[TeacherSummary]


def teacher_summary(row: Any) -> TeacherSummary:
    have = set(row["evidence_kinds"] or ())
    return TeacherSummary(
        nip=row["nip"],
        nama=row["nama"],
        atasan_nip=row["atasan_nip"],
        state=row["state"] or "BELUM_DINILAI",
        plan_agreed=bool(row["ever_agreed"]),
        missing_evidence=[k.value for k in EvidenceKind if k.value not in have],
        hasil_kerja=row["hasil_kerja"],
        perilaku_kerja=row["perilaku_kerja"],
        recommended_predikat=row["recommended_predikat"],
        excluded_reason=row["excluded_reason"],
    )


def submission_view(row: Any) -> SubmissionView:
    return SubmissionView(
        atasan_nip=row["atasan_nip"],
        submitted_at=row["submitted_at"],
        assessed=list(row["assessed"]),
        exclusions=dict(row["exclusions"]),
    )
