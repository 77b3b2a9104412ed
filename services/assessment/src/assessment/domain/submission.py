"""Sending a school's assessments to the Dinas (docs/domain.md §2.6, V-20) [D].

The KS submits the teachers whose atasan they are: every active ASN teacher of theirs in the
school (an agreed plan or not) must be DINILAI, or excluded by name with a reason. Exclusions may
only name those teachers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kinerja_shared.events.assessment import SchoolSubmitted
from kinerja_shared.refusal import Kind, Refusal

from .assessment import AssessmentState

EXCLUSION_MIN_REASON_CHARS = 20


def already_submitted() -> Refusal:
    return Refusal(
        "SCHOOL_ALREADY_SUBMITTED",
        "Penilaian satuan pendidikan ini sudah dikirim ke Dinas Pendidikan.",
        Kind.CONFLICT,
    )


@dataclass(frozen=True)
class TeacherStatus:
    nip: str
    state: AssessmentState


@dataclass(frozen=True)
class Submission:
    assessed: tuple[str, ...]
    excluded: Mapping[str, str]


def check_submission(
    teachers: Sequence[TeacherStatus], exclusions: Mapping[str, str]
) -> Submission:
    known = {t.nip for t in teachers}
    strangers = sorted(set(exclusions) - known)
    if strangers:
        raise Refusal(
            "EXCLUSION_UNKNOWN_TEACHER",
            "Guru yang dikecualikan bukan guru yang Anda nilai pada periode ini.",
            nips=strangers,
        )
    short = sorted(
        nip for nip, why in exclusions.items() if len(why.strip()) < EXCLUSION_MIN_REASON_CHARS
    )
    if short:
        raise Refusal(
            "EXCLUSION_REASON_REQUIRED",
            f"Tuliskan alasan pengecualian (minimal {EXCLUSION_MIN_REASON_CHARS} karakter).",
            nips=short,
        )
    if any(t.state is AssessmentState.DIKIRIM_KE_DINAS for t in teachers):
        raise already_submitted()
    pending = sorted(
        t.nip
        for t in teachers
        if t.state is not AssessmentState.DINILAI and t.nip not in exclusions
    )
    if pending:
        raise Refusal("V-20", f"Masih ada {len(pending)} guru yang belum dinilai.", nips=pending)
    return Submission(
        assessed=tuple(sorted(t.nip for t in teachers if t.nip not in exclusions)),
        excluded={nip: why.strip() for nip, why in sorted(exclusions.items())},
    )


def submitted_event(
    done: Submission, *, npsn: str, period_id: str, atasan_nip: str
) -> SchoolSubmitted:
    """What Kirim ke Dinas publishes: how many teachers were sent and how many left out."""
    return SchoolSubmitted(
        npsn=npsn,
        period_id=period_id,
        atasan_nip=atasan_nip,
        assessed=len(done.assessed),
        excluded=len(done.excluded),
    )
