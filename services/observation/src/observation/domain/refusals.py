"""Refusals the observation rules share, with their docs/domain.md §5 code and message."""

from __future__ import annotations

from typing import Any

from kinerja_shared.refusal import Kind, Refusal


def plan_not_agreed() -> Refusal:
    return Refusal("V-12", "Perencanaan kinerja belum disepakati.")


def date_outside_period() -> Refusal:
    return Refusal(
        "V-13",
        "Tanggal observasi harus berada dalam periode kinerja dan tidak boleh di masa lalu.",
    )


def already_conducted() -> Refusal:
    return Refusal(
        "V-14", "Observasi sudah dilaksanakan dan tidak dapat dijadwalkan ulang.", Kind.CONFLICT
    )


def stale_revision(current: int) -> Refusal:
    return Refusal(
        "V-15",
        "Data telah berubah. Muat ulang halaman lalu coba lagi.",
        Kind.CONFLICT,
        revision=current,
    )


def rubric_incomplete(**detail: Any) -> Refusal:
    return Refusal("V-16", "Lengkapi semua butir rubrik observasi.", **detail)


def slot_taken() -> Refusal:
    return Refusal(
        "SLOT_TAKEN",
        "Kepala Sekolah sudah memiliki jadwal observasi lain pada waktu tersebut. "
        "Pilih waktu lain.",
        Kind.CONFLICT,
    )


def wrong_state(state: str, action: str) -> Refusal:
    return Refusal(
        "INVALID_STATE",
        f"Observasi berstatus {state} sehingga tidak dapat {action}.",
        Kind.CONFLICT,
        state=state,
    )


def no_atasan() -> Refusal:
    return Refusal("V-03", "Data atasan Anda tidak ditemukan")


def stage_closed() -> Refusal:
    return Refusal("V-28", "Tahap ini sudah ditutup untuk periode tersebut.")


def unknown_period(period_id: str) -> Refusal:
    return Refusal("UNKNOWN_PERIOD", f"Periode {period_id} tidak dikenal.")


def unknown_sub_indikator(code: str) -> Refusal:
    return Refusal("UNKNOWN_SUB_INDIKATOR", f"Sub indikator {code} tidak dikenal.")
