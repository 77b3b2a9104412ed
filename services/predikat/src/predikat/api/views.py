"""Response models: a teacher's predikat and its delivery, a school's, the org predikat."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from kinerja_shared.events.bkn_sync import DeliveryState

from ..domain.curve import OrgPredikat
from ..domain.penetapan import OrgState
from ..domain.status_texts import Pihak, message


class PredikatView(BaseModel):
    nip: str
    npsn: str
    period_id: str
    state: str
    predikat: str
    recommended_predikat: str | None
    hasil_kerja: str | None
    perilaku_kerja: str | None
    override_reason: str | None
    version: int
    delivery_id: str | None
    delivery_state: str
    status_text: str = Field(
        description="One line for the principal: what happened to the delivery and the next "
        "step, naming who takes it (docs/domain.md §2.9)."
    )
    next_step: str = Field(description="The second half of status_text alone.")
    next_step_by: Pihak = Field(
        description="Who takes the next step; 'Tidak ada' when Kinerja does it by itself."
    )
    next_attempt_at: datetime | None
    reason_code: str | None
    reason: str | None
    remedy: str | None
    actor: str | None


_TOLD = ("status_text", "next_step", "next_step_by")


def predikat_view(row: Any) -> PredikatView:
    fields = {k: row[k] for k in PredikatView.model_fields if k not in _TOLD}
    said = message(
        row["delivery_state"],
        state=DeliveryState(row["bkn_state"]) if row["bkn_state"] else None,
        reason_code=row["reason_code"],
        next_attempt_at=row["next_attempt_at"],
    )
    return PredikatView(
        **fields, status_text=said.text, next_step=said.next_step, next_step_by=said.by
    )


def guru_view(row: Any) -> PredikatView:
    """What the teacher sees: the version e-Kinerja acknowledged, not a pending correction."""
    view = predikat_view(row)
    return view.model_copy(
        update={
            "predikat": row["delivered_predikat"],
            "version": row["delivered_version"],
            "recommended_predikat": None,
            "override_reason": None,
        }
    )


class Accepted(BaseModel):
    delivery_ids: dict[str, str]
    belum_ditetapkan: list[str] = Field(default_factory=list)


class OrgView(BaseModel):
    npsn: str
    period_id: str
    state: OrgState
    predikat_organisasi: OrgPredikat | None = None
    revision: int = 0
    ditetapkan_by: str | None = None
    ditetapkan_at: datetime | None = None


def org_view(npsn: str, period_id: str, row: object | None) -> OrgView:
    if row is None:
        return OrgView(npsn=npsn, period_id=period_id, state=OrgState.MENUNGGU_DATA)
    return OrgView(**{k: row[k] for k in OrgView.model_fields})  # type: ignore[index]


class TetapkanResult(BaseModel):
    ditetapkan: list[str]
    distribution_reason: str | None = None


class OverrideView(BaseModel):
    """A Kepala Sekolah's written reason to pass the distribution curve, as the Dinas reads it."""

    reason: str
    violations: list[dict[str, Any]]
    counts: dict[str, int]
    by_nip: str
    at: datetime


class SchoolView(BaseModel):
    npsn: str
    period_id: str
    predikat_organisasi: str | None
    teachers: list[PredikatView]
    distribution_overrides: list[OverrideView] = Field(
        default_factory=list,
        description="Every reason given to pass a curve warning (V-21) at this school and "
        "period, oldest first: what the Dinas reviews.",
    )
