"""Response models: a teacher's predikat and its delivery, a school's, the org predikat."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from ..domain.curve import OrgPredikat
from ..domain.delivery import DeliveryView, status_text
from ..domain.penetapan import OrgState


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
    status_text: str
    next_attempt_at: datetime | None
    reason_code: str | None
    reason: str | None
    remedy: str | None
    actor: str | None


def predikat_view(row: Any) -> PredikatView:
    fields = {k: row[k] for k in PredikatView.model_fields if k != "status_text"}
    text = status_text(DeliveryView(row["delivery_state"]), row["next_attempt_at"])
    return PredikatView(**fields, status_text=text)


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


class SchoolView(BaseModel):
    npsn: str
    period_id: str
    predikat_organisasi: str | None
    teachers: list[PredikatView]
