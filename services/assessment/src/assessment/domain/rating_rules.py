"""When the Kepala Sekolah may rate, and how the three HK aspects are found [D].

See docs/domain.md §2.6.

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

from kinerja_shared.events.assessment import AssessmentRecommended
from kinerja_shared.refusal import Kind, Refusal

from .assessment import Assessment, AssessmentState, EvidenceKind
from .ratings import (
    InvalidBehaviourRatings,
    Predikat,
    Rating,
    adjust_hk,
    derive_hk,
    derive_pk,
    recommend_predikat,
)

FOLLOWUP_MEETS_FROM_ACTIONS = 1
FOLLOWUP_ABOVE_FROM_ACTIONS = 3


def not_agreed() -> Refusal:
    return Refusal(
        "ASSESSMENT_NOT_OPEN",
        "Penilaian belum dapat dilakukan: perencanaan kinerja belum disepakati.",
        Kind.NOT_FOUND,
    )


def not_observed() -> Refusal:
    return Refusal(
        "ASSESSMENT_NOT_OPEN",
        "Penilaian belum dapat dilakukan: observasi kelas belum dilaksanakan.",
        Kind.NOT_FOUND,
    )


def revision_pending() -> Refusal:
    return Refusal("V-12", "Perencanaan kinerja belum disepakati.")


def locked() -> Refusal:
    return Refusal(
        "ASSESSMENT_LOCKED",
        "Penilaian sudah dikirim ke Dinas Pendidikan dan tidak dapat diubah.",
        Kind.CONFLICT,
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
        raise not_agreed()
    if a.state is AssessmentState.DIKIRIM_KE_DINAS:
        raise locked()
    if not a.plan.agreed:
        raise revision_pending()
    if EvidenceKind.OBSERVATION not in a.evidence:
        raise not_observed()


def rate(a: Assessment, req: RatingInput) -> RatingOutcome:
    check_open(a)
    found = aspects(a)
    assert found.practice_change is not None
    followup = found.follow_up_effort
    if followup is None:
        if not req.allow_missing_followup:
            raise Refusal(
                "EVIDENCE_MISSING",
                "Bukti belum lengkap: refleksi tindak lanjut belum dikirim oleh guru. Tunggu "
                "refleksinya, atau nilai dengan menyetujui bahwa aspek upaya tindak lanjut "
                "dihitung Di Bawah Ekspektasi (allow_missing_followup).",
                missing=found.missing_for_hk,
            )
        followup = Rating.DI_BAWAH_EKSPEKTASI
    try:
        pk = derive_pk(req.behaviours)
    except InvalidBehaviourRatings as exc:
        raise Refusal(
            "PK_INCOMPLETE",
            "Nilai ketujuh perilaku kerja BerAKHLAK.",
            missing=list(exc.missing),
            unknown=list(exc.unknown),
        ) from exc
    derived = derive_hk(req.reflection_quality, followup, found.practice_change)
    hk = derived
    if req.hk_adjusted_to is not None:
        hk = adjust_hk(derived, req.hk_adjusted_to, req.hk_reason)
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


def recommendation(
    outcome: RatingOutcome, *, nip: str, period_id: str, npsn: str, atasan_nip: str
) -> AssessmentRecommended:
    """What a rating publishes: the recommended predikat, for the predikat service."""
    return AssessmentRecommended(
        assessment_id=f"{nip}:{period_id}",
        nip=nip,
        npsn=npsn,
        period_id=period_id,
        atasan_nip=atasan_nip,
        hasil_kerja=outcome.hasil_kerja.value,
        perilaku_kerja=outcome.perilaku_kerja.value,
        recommended_predikat=outcome.predikat.value,
    )
