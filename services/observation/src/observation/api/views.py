"""Response models: an observation and its schedule history, the follow-up, the reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from ..domain.followup import Followup
from ..domain.observation import Observation
from ..domain.reports import CompetencyReport, DutyReport, Report


class ObservationView(BaseModel):
    observation_id: str
    nip: str
    npsn: str
    period_id: str
    plan_id: str
    plan_version: int
    sub_indikator: str
    observer_nip: str | None
    state: str
    revision: int
    scheduled_at: datetime | None
    rubric_scores: dict[str, int]
    notes: str | None
    practice_rating: str | None
    conducted_at: datetime | None
    feedback: str | None
    feedback_at: datetime | None


class ScheduleHistoryEntry(BaseModel):
    revision: int
    kind: str
    scheduled_at: datetime | None
    previous_at: datetime | None
    reason: str | None
    by_nip: str
    recorded_at: datetime


def observation_view(obs: Observation) -> ObservationView:
    values: dict[str, Any] = {k: getattr(obs, k) for k in ObservationView.model_fields}
    values["state"] = obs.state.value
    values["rubric_scores"] = dict(obs.rubric_scores)
    return ObservationView(**values)


class ActionView(BaseModel):
    text: str
    at: datetime


class FollowupView(BaseModel):
    nip: str
    period_id: str
    state: str
    revision: int
    actions: list[ActionView]
    reflection: str | None
    reflected_at: datetime | None
    review_comment: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None


def followup_view(f: Followup) -> FollowupView:
    return FollowupView(
        nip=f.nip,
        period_id=f.period_id,
        state=f.state.value,
        revision=f.revision,
        actions=[ActionView(text=a.text, at=a.at) for a in f.actions],
        reflection=f.reflection,
        reflected_at=f.reflected_at,
        review_comment=f.review_comment,
        reviewed_by=f.reviewed_by,
        reviewed_at=f.reviewed_at,
    )


class ActivityBody(BaseModel):
    text: str = Field(description="The activity, free text (course, community of practice ...).")
    bukti: str | None = Field(
        default=None, description="Evidence reference (bukti dukung); required by 2024 rules only."
    )


class ReportView(BaseModel):
    nip: str
    period_id: str
    state: str
    revision: int
    reported_at: datetime | None
    verified_by: str | None
    verified_at: datetime | None


class CompetencyView(ReportView):
    rules_version: int
    activities: list[ActivityBody]
    reflection: str | None


class DutiesView(ReportView):
    tugas: list[str]


def _base(r: Report) -> dict[str, object]:
    return {
        "nip": r.nip,
        "period_id": r.period_id,
        "state": r.state.value,
        "revision": r.revision,
        "reported_at": r.reported_at,
        "verified_by": r.verified_by,
        "verified_at": r.verified_at,
    }


def competency_view(r: CompetencyReport, rules_version: int) -> CompetencyView:
    return CompetencyView(
        **_base(r),
        rules_version=rules_version,
        activities=[ActivityBody(text=a.text, bukti=a.bukti) for a in r.activities],
        reflection=r.reflection,
    )


def duties_view(r: DutyReport) -> DutiesView:
    return DutiesView(**_base(r), tugas=list(r.tugas))
