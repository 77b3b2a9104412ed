"""When the Kepala Sekolah may rate, and how the three HK aspects are found (DOMAIN.md §2.6) [D].

The three aspects of Hasil Kerja, **our design** (the PMM formula is not public):

- *observed change in practice*: the ``practice_rating`` of ``observation.conducted``;
- *follow-up effort*: from the number of follow-up actions the teacher logged
  (0 → Di Bawah, 1–2 → Sesuai, ≥ 3 → Di Atas Ekspektasi);
- *reflection quality*: rated by the KS, who reads the teacher's reflection; Sesuai by default.

HK = median of the three (``derive_hk``), which the KS may move one step with a reason (V-18).
Without an observation there is nothing to rate (ASSESSMENT_NOT_OPEN). Without follow-up
evidence the KS must say so explicitly (``allow_missing_followup``); the follow-up aspect then
counts as Di Bawah Ekspektasi, never silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .assessment import Assessment, AssessmentState, EvidenceKind
from .ratings import (
    InvalidBehaviourRatings,
    Predikat,
    Rating,
    RatingRuleViolation,
    adjust_hk,
    derive_hk,
    derive_pk,
    recommend_predikat,
)

FOLLOWUP_MEETS_FROM_ACTIONS = 1
FOLLOWUP_ABOVE_FROM_ACTIONS = 3


class RatingRefused(Exception):
    """A refusal with its stable code, Indonesian message and HTTP status."""

    def __init__(self, code: str, message: str, status: int = 422, **detail: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.detail = detail


NOT_AGREED = RatingRefused(
    "ASSESSMENT_NOT_OPEN",
    "Penilaian belum dapat dilakukan: perencanaan kinerja belum disepakati.",
    404,
)
NOT_OBSERVED = RatingRefused(
    "ASSESSMENT_NOT_OPEN",
    "Penilaian belum dapat dilakukan: observasi kelas belum dilaksanakan.",
    404,
)
REVISION_PENDING = RatingRefused("V-12", "Perencanaan kinerja belum disepakati.", 422)
LOCKED = RatingRefused(
    "ASSESSMENT_LOCKED",
    "Penilaian sudah dikirim ke Dinas Pendidikan dan tidak dapat diubah.",
    409,
)


def followup_effort(actions: int) -> Rating:
    if actions >= FOLLOWUP_ABOVE_FROM_ACTIONS:
        return Rating.DI_ATAS_EKSPEKTASI
    if actions >= FOLLOWUP_MEETS_FROM_ACTIONS:
        return Rating.SESUAI_EKSPEKTASI
    return Rating.DI_BAWAH_EKSPEKTASI


@dataclass(frozen=True)
class Aspects:
    """What the evidence says so far; ``None`` where it is still missing."""

    practice_change: Rating | None
    follow_up_effort: Rating | None

    @property
    def missing_for_hk(self) -> list[str]:
        missing = []
        if self.practice_change is None:
            missing.append(EvidenceKind.OBSERVATION.value)
        if self.follow_up_effort is None:
            missing.append(EvidenceKind.FOLLOWUP.value)
        return missing


def aspects(a: Assessment) -> Aspects:
    obs = a.evidence.get(EvidenceKind.OBSERVATION)
    fu = a.evidence.get(EvidenceKind.FOLLOWUP)
    return Aspects(
        practice_change=Rating(obs.data["practice_rating"]) if obs is not None else None,
        follow_up_effort=followup_effort(int(fu.data["actions"])) if fu is not None else None,
    )


@dataclass(frozen=True)
class RatingInput:
    behaviours: Mapping[str, Rating]
    reflection_quality: Rating = Rating.SESUAI_EKSPEKTASI
    allow_missing_followup: bool = False
    hk_adjusted_to: Rating | None = None
    hk_reason: str | None = None


@dataclass(frozen=True)
class RatingOutcome:
    reflection_quality: Rating
    follow_up_effort: Rating
    practice_change: Rating
    followup_missing: bool
    hk_derived: Rating
    hasil_kerja: Rating
    perilaku_kerja: Rating
    predikat: Predikat
    behaviours: Mapping[str, Rating] = field(default_factory=dict)


def check_open(a: Assessment) -> None:
    """Refuse a rating the assessment cannot take now (order of checks = what to fix first)."""
    if not a.ever_agreed or a.plan is None:
        raise NOT_AGREED
    if a.state is AssessmentState.DIKIRIM_KE_DINAS:
        raise LOCKED
    if not a.plan.agreed:
        raise REVISION_PENDING
    if EvidenceKind.OBSERVATION not in a.evidence:
        raise NOT_OBSERVED


def rate(a: Assessment, req: RatingInput) -> RatingOutcome:
    check_open(a)
    found = aspects(a)
    assert found.practice_change is not None
    followup = found.follow_up_effort
    if followup is None:
        if not req.allow_missing_followup:
            raise RatingRefused(
                "EVIDENCE_MISSING",
                "Bukti belum lengkap: refleksi tindak lanjut belum dikirim oleh guru. Tunggu "
                "refleksinya, atau nilai dengan menyetujui bahwa aspek upaya tindak lanjut "
                "dihitung Di Bawah Ekspektasi (allow_missing_followup).",
                422,
                missing=found.missing_for_hk,
            )
        followup = Rating.DI_BAWAH_EKSPEKTASI
    try:
        pk = derive_pk(req.behaviours)
    except InvalidBehaviourRatings as exc:
        raise RatingRefused(
            "PK_INCOMPLETE",
            "Nilai ketujuh perilaku kerja BerAKHLAK.",
            422,
            missing=list(exc.missing),
            unknown=list(exc.unknown),
        ) from exc
    derived = derive_hk(req.reflection_quality, followup, found.practice_change)
    hk = derived
    if req.hk_adjusted_to is not None:
        try:
            hk = adjust_hk(derived, req.hk_adjusted_to, req.hk_reason)
        except RatingRuleViolation as exc:
            raise RatingRefused(exc.code, exc.message, 422) from exc
    return RatingOutcome(
        reflection_quality=Rating(req.reflection_quality),
        follow_up_effort=followup,
        practice_change=found.practice_change,
        followup_missing=found.follow_up_effort is None,
        hk_derived=derived,
        hasil_kerja=hk,
        perilaku_kerja=pk,
        predikat=recommend_predikat(hk, pk),
        behaviours=dict(req.behaviours),
    )
