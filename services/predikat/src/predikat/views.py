"""Response shapes shared by the routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from .domain.delivery import DeliveryView, status_text


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
