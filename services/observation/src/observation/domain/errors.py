"""Refusals of the observation rules, with the DOMAIN.md §5 code and message.

The domain has no web framework: the API turns a ``Refusal`` into the shared error shape.
"""

from __future__ import annotations

from typing import Any


class Refusal(Exception):
    def __init__(self, code: str, message: str, status: int = 422, **detail: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.detail = detail


def plan_not_agreed() -> Refusal:
    return Refusal("V-12", "Perencanaan kinerja belum disepakati.", 422)


def date_outside_period() -> Refusal:
    return Refusal(
        "V-13",
        "Tanggal observasi harus berada dalam periode kinerja dan tidak boleh di masa lalu.",
        422,
    )


def already_conducted() -> Refusal:
    return Refusal("V-14", "Observasi sudah dilaksanakan dan tidak dapat dijadwalkan ulang.", 409)


def stale_revision(current: int) -> Refusal:
    return Refusal(
        "V-15", "Data telah berubah. Muat ulang halaman lalu coba lagi.", 409, revision=current
    )


def rubric_incomplete(**detail: Any) -> Refusal:
    return Refusal("V-16", "Lengkapi semua butir rubrik observasi.", 422, **detail)


def slot_taken() -> Refusal:
    return Refusal(
        "SLOT_TAKEN",
        "Kepala Sekolah sudah memiliki jadwal observasi lain pada waktu tersebut. "
        "Pilih waktu lain.",
        409,
    )


def wrong_state(state: str, action: str) -> Refusal:
    return Refusal(
        "INVALID_STATE",
        f"Observasi berstatus {state} sehingga tidak dapat {action}.",
        409,
        state=state,
    )


def no_atasan() -> Refusal:
    return Refusal("V-03", "Data atasan Anda tidak ditemukan", 422)


def stage_closed() -> Refusal:
    return Refusal("V-28", "Tahap ini sudah ditutup untuk periode tersebut.", 422)
