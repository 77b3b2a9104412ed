"""Rules of setting a teacher's predikat (docs/domain.md §2.8) and the org predikat (§2.7). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from kinerja_shared.events.predikat import OrganisasiDitetapkan
from kinerja_shared.refusal import Kind, Refusal

from .curve import (
    OrgPredikat,
    TeacherPredikat,
    Violation,
    check_distribution,
    describe_violations,
    limits_for,
)

DISTRIBUTION_REASON_MIN = 20
REASON_MISSING_NOTE = (
    "Untuk tetap menetapkan, tuliskan alasan (distribution_reason) minimal {min} karakter."
)
REASON_TOO_SHORT_NOTE = (
    "Alasan yang ditulis baru {given} karakter; tuliskan minimal {min} karakter untuk tetap "
    "menetapkan."
)
STRICT_AREA_NOTE = (
    "Dinas Pendidikan wilayah ini menetapkan sebaran sebagai aturan wajib, sehingga alasan "
    "tidak dapat melewatinya; ubah predikat guru yang perlu disesuaikan."
)
CORRECTION_REASON_MIN = 20


class PredikatState(StrEnum):
    DRAF = "DRAF"
    DITETAPKAN = "DITETAPKAN"


class OrgState(StrEnum):
    MENUNGGU_DATA = "MENUNGGU_DATA"
    DITETAPKAN = "DITETAPKAN"
    DIREVISI = "DIREVISI"


def org_predikat_required() -> Refusal:
    """V-19: a teacher's predikat is decided and sent against the school's org predikat."""
    return Refusal(
        "V-19",
        "Predikat Kinerja Organisasi untuk satuan pendidikan Anda belum ditetapkan oleh Dinas "
        "Pendidikan.",
    )


def revision_after_sent() -> Refusal:
    """V-22: sent predikat carry the org predikat, so changing it needs a formal reopening."""
    return Refusal(
        "V-22",
        "Predikat sudah dikirim ke guru; revisi memerlukan pembukaan kembali.",
        Kind.CONFLICT,
    )


def not_decided() -> Refusal:
    """Only a DITETAPKAN predikat is sent to the teacher."""
    return Refusal(
        "PREDIKAT_BELUM_DITETAPKAN",
        "Predikat belum ditetapkan; tetapkan predikat sekolah terlebih dahulu.",
    )


def correction_before_sent() -> Refusal:
    """A correction replaces a sent version; before sending, the predikat is simply changed."""
    return Refusal(
        "KOREKSI_BELUM_DIKIRIM",
        "Predikat belum dikirim; ubah predikat lalu tetapkan kembali.",
        Kind.CONFLICT,
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
        raise Refusal(
            "OVERRIDE_REASON_REQUIRED",
            "Perubahan predikat dari rekomendasi wajib disertai alasan.",
        )
    assert reason is not None
    return requested, reason.strip()


def may_edit(state: PredikatState, version: int) -> None:
    """Before sending the KS may still change a teacher; after it only a correction will do."""
    if version >= 1:
        raise Refusal(
            "PREDIKAT_SUDAH_DIKIRIM",
            "Predikat sudah dikirim ke guru; gunakan koreksi untuk mengubahnya.",
            Kind.CONFLICT,
        )


def may_revise_org(any_sent: bool) -> None:
    if any_sent:
        raise revision_after_sent()


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
        raise org_predikat_required()
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
    if strict:
        raise Refusal("V-21", f"{message} {STRICT_AREA_NOTE}", Kind.INVALID, **detail)
    if len(reason) < DISTRIBUTION_REASON_MIN:
        # Say what passes the warning, and why the reason given did not.
        note = REASON_TOO_SHORT_NOTE if reason else REASON_MISSING_NOTE
        raise Refusal(
            "V-21",
            f"{message} {note.format(min=DISTRIBUTION_REASON_MIN, given=len(reason))}",
            Kind.INVALID,
            reason_length=len(reason),
            **detail,
        )
    return DistributionOutcome(violations, reason)


def check_correction(current: TeacherPredikat, new: TeacherPredikat, reason: str | None) -> str:
    if new is current:
        raise Refusal(
            "KOREKSI_TANPA_PERUBAHAN",
            "Predikat koreksi sama dengan predikat yang terkirim.",
            Kind.CONFLICT,
        )
    text = (reason or "").strip()
    if len(text) < CORRECTION_REASON_MIN:
        raise Refusal(
            "KOREKSI_REASON_REQUIRED",
            f"Koreksi predikat wajib disertai alasan (minimal {CORRECTION_REASON_MIN} karakter).",
        )
    return text


def org_event(
    npsn: str, period_id: str, value: OrgPredikat, *, by: str, at: datetime
) -> OrganisasiDitetapkan:
    """What setting (or revising) a school's org predikat publishes."""
    return OrganisasiDitetapkan(
        npsn=npsn,
        period_id=period_id,
        predikat_organisasi=value.value,
        ditetapkan_by=by,
        ditetapkan_at=at,
    )
