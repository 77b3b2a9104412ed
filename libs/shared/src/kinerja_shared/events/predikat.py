"""Events of the predikat service. ``PredikatDitetapkan`` is a PUBLIC contract: other teams'
services consume it, so fields are only ever added (see docs/consuming-predikat.md)."""

from datetime import datetime

from pydantic import Field

from .base import Payload


class OrganisasiDitetapkan(Payload):
    npsn: str
    period_id: str
    predikat_organisasi: str
    ditetapkan_by: str
    ditetapkan_at: datetime


class PredikatDitetapkan(Payload):
    nip: str = Field(
        description="The teacher's 18-digit NIP: the Kafka key on predikat.ditetapkan.v1; on "
        "predikat.current.v1 the key is '<nip>:<period_id>'."
    )
    npsn: str = Field(description="The teacher's school.")
    period_id: str = Field(description="The performance period, e.g. '2025'.")
    version: int = Field(ge=1, description="Grows with every correction; keep the highest.")
    predikat: str = Field(
        description="SANGAT_BAIK | BAIK | BUTUH_PERBAIKAN | KURANG | SANGAT_KURANG"
    )
    hasil_kerja: str = Field(description="Work-result rating (HK).")
    perilaku_kerja: str = Field(description="Work-behaviour rating (PK).")
    predikat_organisasi: str = Field(description="The school's organisation predikat.")
    penilai_nip: str = Field(description="NIP of the appraising official (Kepala Sekolah/Plt.).")
    ditetapkan_at: datetime
    correction_reason: str | None = Field(
        default=None, description="Why this version replaces an earlier one; None for version 1."
    )
