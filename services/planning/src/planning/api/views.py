"""Response models: a plan as the caller sees it, and its history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from fastapi import Response
from pydantic import BaseModel, Field

from ..domain.periods import LATE_PLANNING_WARNING, planning_is_late
from ..domain.plan import EDITABLE, Plan, PlanState
from ..rules import PlanningRules
from .deps import today


class PlanView(BaseModel):
    plan_id: str
    nip: str
    npsn: str
    period_id: str
    rules_version: int
    state: str
    version: int
    revision: int = Field(description="1 for the first SKP, +1 each time it is reopened.")
    revision_reason: str | None
    content: dict[str, Any]
    atasan_nip: str | None
    return_note: str | None
    approved_by: str | None
    submitted_at: datetime | None
    approved_at: datetime | None
    agreed_at: datetime | None
    peringatan: str | None = None


def plan_view(plan: Plan, rules: PlanningRules, response: Response | None = None) -> PlanView:
    """The plan, with its version as the ETag when ``response`` is given."""
    period = rules.calendar.period(plan.period_id)
    late = period is not None and plan.state in EDITABLE and planning_is_late(period, today())
    if response is not None:
        response.headers["ETag"] = f'"{plan.version}"'
    return PlanView(
        plan_id=plan.plan_id,
        nip=plan.nip,
        npsn=plan.npsn,
        period_id=plan.period_id,
        rules_version=plan.rules_version,
        state=plan.state.value,
        version=plan.version,
        revision=plan.revision,
        revision_reason=plan.revision_reason,
        content=plan.content.to_dict(),
        atasan_nip=plan.atasan_nip,
        return_note=plan.return_note,
        approved_by=plan.approved_by.value if plan.approved_by else None,
        submitted_at=plan.submitted_at,
        approved_at=plan.approved_at,
        agreed_at=plan.agreed_at,
        peringatan=LATE_PLANNING_WARNING if late else None,
    )


class VersionView(BaseModel):
    version: int
    state: str
    actor: str
    note: str | None
    at: datetime
    content: dict[str, Any] | None = Field(
        description="The content at this version; null for versions recorded before history."
    )


class RevisionView(BaseModel):
    revision: int
    reason: str | None = Field(description="Why this revision was opened; null for the first.")
    agreed: bool
    agreed_at: datetime | None
    content: dict[str, Any] | None = Field(
        description="The agreed content if agreed, else the latest content of this revision."
    )
    versions: list[VersionView]


class HistoryView(BaseModel):
    plan_id: str
    nip: str
    period_id: str
    revision: int
    state: str
    revisions: list[RevisionView]


def history_view(plan: Plan, rows: list[asyncpg.Record]) -> HistoryView:
    """The plan's revisions from its audit rows (oldest first)."""
    by_revision: dict[int, list[VersionView]] = {}
    for row in rows:
        by_revision.setdefault(row["revision"], []).append(
            VersionView(
                version=row["version"],
                state=row["state"],
                actor=row["actor"],
                note=row["note"],
                at=row["at"],
                content=row["content"],
            )
        )
    return HistoryView(
        plan_id=plan.plan_id,
        nip=plan.nip,
        period_id=plan.period_id,
        revision=plan.revision,
        state=plan.state.value,
        revisions=[_revision(n, versions) for n, versions in sorted(by_revision.items())],
    )


def _revision(number: int, versions: list[VersionView]) -> RevisionView:
    agreed = next((v for v in versions if v.state == PlanState.DISEPAKATI.value), None)
    opened = next((v for v in versions if v.state == PlanState.DIREVISI.value), None)
    latest = next((v.content for v in reversed(versions) if v.content is not None), None)
    return RevisionView(
        revision=number,
        reason=opened.note if opened is not None and number > 1 else None,
        agreed=agreed is not None,
        agreed_at=agreed.at if agreed is not None else None,
        content=agreed.content if agreed is not None else latest,
        versions=versions,
    )
