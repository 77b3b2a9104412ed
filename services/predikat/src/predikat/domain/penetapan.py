"""Rules of setting a teacher's predikat (DOMAIN.md §2.8) and the org predikat (§2.7). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .curve import (
    OrgPredikat,
    TeacherPredikat,
    Violation,
    check_distribution,
    describe_violations,
    limits_for,
)

DISTRIBUTION_REASON_MIN = 20
CORRECTION_REASON_MIN = 20


class PredikatState(StrEnum):
    DRAF = "DRAF"
    DITETAPKAN = "DITETAPKAN"


class OrgState(StrEnum):
    MENUNGGU_DATA = "MENUNGGU_DATA"
    DITETAPKAN = "DITETAPKAN"
    DIREVISI = "DIREVISI"


class RuleViolation(Exception):
    """A refusal with its stable code, message and HTTP status; the API maps it 1:1."""

    def __init__(self, code: str, message: str, status: int = 422, **detail: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.detail = detail


V19 = RuleViolation(
    "V-19",
    "Predikat Kinerja Organisasi untuk satuan pendidikan Anda belum ditetapkan oleh Dinas "
    "Pendidikan.",
)
V22 = RuleViolation(
    "V-22", "Predikat sudah dikirim ke guru; revisi memerlukan pembukaan kembali.", 409
)


def _blank(text: str | None) -> bool:
    return text is None or not text.strip()


def choose_predikat(
    recommended: TeacherPredikat, requested: TeacherPredikat | None, reason: str | None
) -> tuple[TeacherPredikat, str | None]:
    """The predikat the KS sets and the override reason kept with it.

    Leaving the matrix recommendation (§4.1) is the KS's call but must be explained.
    """
    if requested is None or requested is recommended:
        return recommended, None
    if _blank(reason):
        raise RuleViolation(
            "OVERRIDE_REASON_REQUIRED",
            "Perubahan predikat dari rekomendasi wajib disertai alasan.",
        )
    assert reason is not None
    return requested, reason.strip()


def may_edit(state: PredikatState, version: int) -> None:
    """Before sending the KS may still change a teacher; after it only a correction will do."""
    if version >= 1:
        raise RuleViolation(
            "PREDIKAT_SUDAH_DIKIRIM",
            "Predikat sudah dikirim ke guru; gunakan koreksi untuk mengubahnya.",
            409,
        )


def may_revise_org(any_sent: bool) -> None:
    # Sent predikat carry the org predikat; changing it under them needs a formal reopening.
    if any_sent:
        raise V22


@dataclass(frozen=True, slots=True)
class DistributionOutcome:
    violations: list[Violation]
    reason: str | None


def check_tetapkan(
    org: OrgPredikat | None,
    counts: dict[TeacherPredikat, int],
    distribution_reason: str | None,
    *,
    strict: bool,
) -> DistributionOutcome:
    """Guard of DRAF → DITETAPKAN for a school: org predikat set (V-19), curve kept (V-21) or
    a written reason given where the Dinas treats the curve as guidance (§4.2)."""
    if org is None:
        raise V19
    violations = check_distribution(org, counts)
    if not violations:
        return DistributionOutcome([], None)
    n = sum(counts.values())
    detail = {
        "n": n,
        "counts": {p.value: c for p, c in counts.items() if c},
        "limits": [
            {
                "clause": lim.clause.value,
                "bound": lim.bound.value,
                "value": lim.value,
                "text": lim.text,
            }
            for lim in limits_for(org, n)
        ],
        "violations": [
            {"clause": v.clause.value, "actual": v.actual, "limit": v.limit, "text": v.text}
            for v in violations
        ],
        "strict": strict,
        "reason_min_length": DISTRIBUTION_REASON_MIN,
    }
    message = describe_violations(org, violations)
    reason = (distribution_reason or "").strip()
    if strict or len(reason) < DISTRIBUTION_REASON_MIN:
        raise RuleViolation("V-21", message, 422, **detail)
    return DistributionOutcome(violations, reason)


def check_correction(current: TeacherPredikat, new: TeacherPredikat, reason: str | None) -> str:
    if new is current:
        raise RuleViolation(
            "KOREKSI_TANPA_PERUBAHAN", "Predikat koreksi sama dengan predikat yang terkirim.", 409
        )
    text = (reason or "").strip()
    if len(text) < CORRECTION_REASON_MIN:
        raise RuleViolation(
            "KOREKSI_REASON_REQUIRED",
            f"Koreksi predikat wajib disertai alasan (minimal {CORRECTION_REASON_MIN} karakter).",
        )
    return text
