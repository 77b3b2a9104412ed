"""Events of the planning service: the teacher's performance plan (SKP) and its review."""

from datetime import datetime
from enum import StrEnum

from .base import Payload


class ApprovedBy(StrEnum):
    KEPALA_SEKOLAH = "KEPALA_SEKOLAH"
    SYSTEM_PLT = "SYSTEM_PLT"


class PlanFacts(Payload):
    plan_id: str
    nip: str
    npsn: str
    period_id: str
    version: int
    atasan_nip: str | None


class PlanSubmitted(PlanFacts):
    pass


class PlanReturned(PlanFacts):
    note: str


class PlanApproved(PlanFacts):
    approved_by: ApprovedBy
    approved_at: datetime


class PlanAgreed(PlanFacts):
    """The plan both sides agreed (DISEPAKATI): the legal SKP that bkn-sync sends to e-Kinerja."""

    sub_indikator: str
    indikator_kompetensi: str
    tugas_pokok: list[str]
    tugas_tambahan: list[str]
    perilaku_fokus: list[str]
    agreed_at: datetime


class PlanRevised(PlanFacts):
    """An agreed plan reopened as a new version; it needs approval and agreement again."""

    reason: str
