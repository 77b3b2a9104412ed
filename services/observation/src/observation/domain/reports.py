"""Competency development and main duties (docs/domain.md §2.5, *Kumpulkan Dokumen*), as pure rules.

Per teacher and period there is one competency-development report (*Pengembangan Kompetensi*:
activities + a required reflection) and one main-duty report (*Pelaksanaan Tugas Pokok*).
Each goes KOSONG → DIISI (Guru) → DIVERIFIKASI (Kepala Sekolah, optional).

- 2025 rules: no minimum number or kind of activities, no uploads; the reflection is required
  (V-17). A bukti reference sent anyway is refused rather than silently dropped.
- 2024 rules: each activity needs its bukti dukung (an evidence reference, V-17B).
- The Guru may update a report at any time in the stage; an update of a verified report goes back
  to DIISI, because the Kepala Sekolah verified other content. The same content again is a retry
  and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from kinerja_shared.events.observation import CompetencyReported, DutyReported
from kinerja_shared.refusal import Kind, Refusal

from .calendar import PeriodCalendar
from .observation import Observation
from .refusals import stale_revision


class ReportState(StrEnum):
    KOSONG = "KOSONG"
    DIISI = "DIISI"
    DIVERIFIKASI = "DIVERIFIKASI"


class ReportKind(StrEnum):
    KOMPETENSI = "KOMPETENSI"
    TUGAS_POKOK = "TUGAS_POKOK"


@dataclass(frozen=True)
class Activity:
    text: str
    bukti: str | None = None


@dataclass(frozen=True)
class Report:
    nip: str
    period_id: str
    state: ReportState = ReportState.KOSONG
    revision: int = 0
    reported_at: datetime | None = None
    verified_by: str | None = None
    verified_at: datetime | None = None


@dataclass(frozen=True)
class CompetencyReport(Report):
    activities: tuple[Activity, ...] = ()
    reflection: str | None = None


@dataclass(frozen=True)
class DutyReport(Report):
    tugas: tuple[str, ...] = ()


R = TypeVar("R", bound=Report)


def rules_version(calendar: PeriodCalendar, period_id: str) -> int:
    """Which year's report rules apply to ``period_id``; a period the calendar does not know
    gets the current (2025) ones."""
    period = calendar.period(period_id)
    return 2025 if period is None else period.rules_version


def reflection_required() -> Refusal:
    return Refusal("V-17", "Tuliskan refleksi hasil belajar Anda.")


def bukti_required(missing: list[int]) -> Refusal:
    return Refusal(
        "V-17B",
        "Unggah bukti dukung untuk setiap kegiatan pengembangan kompetensi.",
        missing=missing,
    )


def bukti_not_used(given: list[int]) -> Refusal:
    return Refusal(
        "BUKTI_NOT_USED",
        "Periode ini tidak menggunakan unggahan bukti dukung; cukup tuliskan kegiatan dan "
        "refleksinya.",
        given=given,
    )


def _check_revision(report: Report, expected: int | None) -> None:
    if expected is not None and expected != report.revision:
        raise stale_revision(report.revision)


def _clean_activities(activities: Iterable[Activity], rules_version: int) -> tuple[Activity, ...]:
    cleaned = tuple(Activity(a.text.strip(), (a.bukti or "").strip() or None) for a in activities)
    if any(not a.text for a in cleaned):
        raise Refusal(
            "ACTIVITY_TEXT_REQUIRED", "Tuliskan nama setiap kegiatan pengembangan kompetensi."
        )
    with_bukti = [i for i, a in enumerate(cleaned) if a.bukti is not None]
    if rules_version == 2024:
        missing = [i for i in range(len(cleaned)) if i not in with_bukti]
        if missing:
            raise bukti_required(missing)
    elif with_bukti:
        raise bukti_not_used(with_bukti)
    return cleaned


def _filled(report: R, now: datetime, **content: object) -> R:
    """``report`` with new content, back in DIISI (a verification was of the old content)."""
    return replace(
        report,
        state=ReportState.DIISI,
        revision=report.revision + 1,
        reported_at=now,
        verified_by=None,
        verified_at=None,
        **content,  # type: ignore[arg-type]
    )


def fill_competency(
    report: CompetencyReport,
    activities: Iterable[Activity],
    reflection: str,
    *,
    rules_version: int,
    now: datetime,
    expected_revision: int | None = None,
) -> CompetencyReport:
    """The Guru reports their competency development (KOSONG/DIISI/DIVERIFIKASI → DIISI)."""
    cleaned = _clean_activities(activities, rules_version)
    text = reflection.strip()
    if not text:
        raise reflection_required()
    if report.state is not ReportState.KOSONG and (report.activities, report.reflection) == (
        cleaned,
        text,
    ):
        return report
    _check_revision(report, expected_revision)
    return _filled(report, now, activities=cleaned, reflection=text)


def fill_duties(
    report: DutyReport,
    tugas: Iterable[str],
    *,
    now: datetime,
    expected_revision: int | None = None,
) -> DutyReport:
    """The Guru reports the main duties carried out (KOSONG/DIISI/DIVERIFIKASI → DIISI)."""
    cleaned = tuple(t.strip() for t in tugas)
    if not cleaned or any(not t for t in cleaned):
        raise Refusal("DUTY_REQUIRED", "Tuliskan tugas pokok yang telah dilaksanakan.")
    if report.state is not ReportState.KOSONG and report.tugas == cleaned:
        return report
    _check_revision(report, expected_revision)
    return _filled(report, now, tugas=cleaned)


def verify(report: R, *, by_nip: str, now: datetime) -> R:
    """The Kepala Sekolah confirms what was reported (DIISI → DIVERIFIKASI)."""
    if report.state is ReportState.DIVERIFIKASI:
        return report
    if report.state is not ReportState.DIISI:
        raise Refusal(
            "INVALID_STATE",
            "Laporan belum diisi sehingga belum dapat diverifikasi.",
            Kind.CONFLICT,
            state=report.state.value,
        )
    return replace(
        report,
        state=ReportState.DIVERIFIKASI,
        revision=report.revision + 1,
        verified_by=by_nip,
        verified_at=now,
    )


def competency_event(obs: Observation, r: CompetencyReport) -> CompetencyReported:
    """What a filled competency report of ``obs``'s teacher publishes."""
    assert r.reflection is not None
    assert r.reported_at is not None
    return CompetencyReported(
        nip=r.nip,
        npsn=obs.npsn,
        period_id=r.period_id,
        activities=[a.text for a in r.activities],
        reflection=r.reflection,
        reported_at=r.reported_at,
    )


def duty_event(obs: Observation, r: DutyReport) -> DutyReported:
    """What a filled main-duty report of ``obs``'s teacher publishes."""
    assert r.reported_at is not None
    return DutyReported(
        nip=r.nip,
        npsn=obs.npsn,
        period_id=r.period_id,
        tugas=list(r.tugas),
        reported_at=r.reported_at,
    )
