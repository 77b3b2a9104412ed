"""The words a Kepala Sekolah reads about one teacher's *Kirim ke guru* (docs/domain.md §2.9).

"*gagal kirim ke guru, coba lagi*" named no cause and nobody to act, and principals pressed
again for days. Here every delivery state and every bkn-sync reason (§6.4) has its own line:
what happened, then the next step and who takes it (the Operator Sekolah in Dapodik/Verval PTK,
the Admin BKD, the Kepala Sekolah, the teacher, the Kinerja team), or that nobody needs to act,
with the time of the next automatic attempt or check when bkn-sync announced one. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from kinerja_shared.events.bkn_sync import DeliveryState
from kinerja_shared.periods import WIB


class Pihak(StrEnum):
    """Who takes the next step. ``TIDAK_ADA``: nobody, Kinerja does it by itself."""

    OPERATOR_SEKOLAH = "Operator Sekolah"
    ADMIN_BKD = "Admin BKD"
    ADMIN_INSTANSI = "Admin Instansi"
    DINAS = "Dinas Pendidikan"
    KEPALA_SEKOLAH = "Kepala Sekolah"
    GURU = "Guru"
    TIM_KINERJA = "Tim Kinerja"
    TIDAK_ADA = "Tidak ada"


@dataclass(frozen=True, slots=True)
class StatusMessage:
    """``text`` is the one line shown; ``next_step`` and ``by`` are its second half alone, for
    a screen that shows them apart."""

    text: str
    next_step: str
    by: Pihak


@dataclass(frozen=True, slots=True)
class _Held:
    cause: str
    next_step: str
    by: Pihak
    rechecked: bool = False  # bkn-sync checks it again with e-Kinerja on a schedule


_NOTHING_TO_DO = "Tidak perlu tindakan dari Anda"
_HELPDESK = "sebutkan NIP guru dan periode bila menghubungi Pusat Bantuan"

# PARKED, by bkn-sync's reason code (docs/domain.md §6.4).
_PARKED: dict[str, _Held] = {
    "BKN-E01": _Held(
        "NIP guru tidak ditemukan di SIASN/BKN",
        "Guru menyampaikan NIP sesuai SIASN kepada Operator Sekolah, lalu Operator Sekolah "
        "memperbaruinya di Verval PTK (Dapodik); predikat dikirim ulang otomatis setelah data "
        "Dapodik berubah",
        Pihak.OPERATOR_SEKOLAH,
        rechecked=True,
    ),
    "BKN-E02": _Held(
        "data guru tidak sesuai dengan Dukcapil",
        "Operator Sekolah mengajukan ulang perbaikan data guru di Verval PTK (Dapodik) agar "
        "sesuai Dukcapil; predikat dikirim ulang otomatis setelah data Dapodik berubah",
        Pihak.OPERATOR_SEKOLAH,
        rechecked=True,
    ),
    "BKN-E03": _Held(
        "guru belum terdaftar sebagai User PMM di e-Kinerja",
        'Admin BKD menambahkan guru melalui menu "User PMM" di e-Kinerja',
        Pihak.ADMIN_BKD,
        rechecked=True,
    ),
    "BKN-E04": _Held(
        "unit kerja guru tidak terdaftar di Referensi Unit Kerja e-Kinerja",
        "Admin Instansi/BKD memperbaiki unit organisasi (unor) guru di e-Kinerja dan SIASN",
        Pihak.ADMIN_INSTANSI,
        rechecked=True,
    ),
    "BKN-E05": _Held(
        "SKP Kepala Sekolah (atasan) belum ada di e-Kinerja",
        "Kepala Sekolah menyinkronkan atau membuat SKP-nya sendiri di e-Kinerja (Admin Instansi "
        "dapat membantu); predikat guru dikirim ulang otomatis setelah SKP Kepala Sekolah "
        "tercatat",
        Pihak.KEPALA_SEKOLAH,
        rechecked=True,
    ),
    "BKN-E06": _Held(
        "unor guru di PMM belum padan dengan sekolah di Dapodik",
        "Dinas Pendidikan melakukan pemadanan UNOR untuk guru ini",
        Pihak.DINAS,
        rechecked=True,
    ),
    "BKN-E07": _Held(
        "guru berada di bawah Kemenag, sehingga predikat tidak dikirim melalui Kinerja",
        "Tidak perlu tindakan di Kinerja; guru mengisi penilaian kinerja langsung di e-Kinerja BKN",
        Pihak.TIDAK_ADA,
    ),
    "BKN-E08": _Held(
        "menunggu SKP guru ini tercatat di e-Kinerja",
        f"{_NOTHING_TO_DO}; predikat dikirim otomatis begitu SKP guru tercatat (bila SKP guru "
        "tertahan, ikuti tindakan yang disebut pada SKP tersebut)",
        Pihak.TIDAK_ADA,
    ),
    "BKN-E09": _Held(
        "Tipe Periodik atau Angka Periodik instansi di e-Kinerja tidak valid",
        "Admin Instansi memperbaiki Manajemen Periode di e-Kinerja",
        Pihak.ADMIN_INSTANSI,
        rechecked=True,
    ),
    "BKN-E12": _Held(
        "e-Kinerja menolak data dengan jawaban yang belum dikenal Kinerja",
        f"{_NOTHING_TO_DO}; Tim Kinerja menindaklanjuti bersama e-Kinerja lalu mengirim ulang",
        Pihak.TIM_KINERJA,
    ),
    "BKN-E13": _Held(
        "e-Kinerja menolak akses Kinerja",
        f"{_NOTHING_TO_DO}; Tim Kinerja memperbaiki akses Kinerja ke e-Kinerja lalu mengirim ulang",
        Pihak.TIM_KINERJA,
    ),
}

# DEAD: the automatic attempts are used up, or e-Kinerja refused what only Kinerja can fix.
_DEAD_OUR_DEFECT = _Held(
    "e-Kinerja menolak data karena kesalahan di sisi Kinerja",
    f"{_NOTHING_TO_DO}; Tim Kinerja memperbaiki dan mengirim ulang ({_HELPDESK})",
    Pihak.TIM_KINERJA,
)
_DEAD_GAVE_UP: dict[str, _Held] = {
    "BKN-T01": _Held(
        "e-Kinerja tidak dapat dihubungi selama semua percobaan otomatis",
        f"{_NOTHING_TO_DO}; Tim Kinerja mengirim ulang setelah e-Kinerja pulih ({_HELPDESK})",
        Pihak.TIM_KINERJA,
    ),
    "BKN-T02": _Held(
        "e-Kinerja terus mengalami gangguan selama semua percobaan otomatis",
        f"{_NOTHING_TO_DO}; Tim Kinerja mengirim ulang setelah e-Kinerja pulih ({_HELPDESK})",
        Pihak.TIM_KINERJA,
    ),
    "BKN-T03": _Held(
        "e-Kinerja terus membatasi laju pengiriman selama semua percobaan otomatis",
        f"{_NOTHING_TO_DO}; Tim Kinerja mengirim ulang ({_HELPDESK})",
        Pihak.TIM_KINERJA,
    ),
    "BKN-E08": _Held(
        "e-Kinerja belum mencatat SKP guru ini selama semua percobaan otomatis",
        "Periksa status SKP guru ini; Tim Kinerja mengirim ulang predikat setelah SKP tercatat",
        Pihak.TIM_KINERJA,
    ),
}
_HELD_UNKNOWN = _Held(
    "penyebabnya belum tercatat",
    f"{_NOTHING_TO_DO}; Tim Kinerja memeriksa penyebabnya ({_HELPDESK})",
    Pihak.TIM_KINERJA,
)

# RETRYING, by the reason of the failed attempt: sent again by itself, nobody acts.
_RETRY_CAUSE: dict[str, str] = {
    "BKN-T01": "e-Kinerja belum menjawab",
    "BKN-T02": "e-Kinerja sedang mengalami gangguan",
    "BKN-T03": "e-Kinerja sedang membatasi laju pengiriman",
    "BKN-E08": "e-Kinerja belum mencatat SKP guru ini",
}


def wib(at: datetime) -> str:
    """``2026-01-05 15:30 WIB``: the calendar principals live in (docs/domain.md §3)."""
    return at.astimezone(WIB).strftime("%Y-%m-%d %H:%M WIB")


def _compose(cause: str, next_step: str, by: Pihak) -> StatusMessage:
    return StatusMessage(f"{cause[0].upper()}{cause[1:]}. {next_step}.", next_step, by)


def _held(
    state: DeliveryState | None, reason_code: str | None, next_attempt_at: datetime | None
) -> StatusMessage:
    code = reason_code or ""
    if state is DeliveryState.DEAD:
        held = _DEAD_GAVE_UP.get(code) or (
            _DEAD_OUR_DEFECT if code == "BKN-E10" else _PARKED.get(code, _HELD_UNKNOWN)
        )
    else:
        held = _PARKED.get(code, _DEAD_OUR_DEFECT if code == "BKN-E10" else _HELD_UNKNOWN)
    next_step = held.next_step
    if held.rechecked:
        next_step += (
            f"; Kinerja memeriksa ulang otomatis ke e-Kinerja pada {wib(next_attempt_at)}"
            if next_attempt_at is not None
            else "; pemeriksaan otomatis ke e-Kinerja sudah selesai, jadi setelah diperbaiki "
            "minta Tim Kinerja mengirim ulang"
        )
    return _compose(f"Tertahan: {held.cause}", next_step, held.by)


def message(
    view: str,
    *,
    state: DeliveryState | None = None,
    reason_code: str | None = None,
    next_attempt_at: datetime | None = None,
) -> StatusMessage:
    """The words for one teacher's delivery: ``view`` is the ``DeliveryView`` value, ``state``
    bkn-sync's state behind it (PARKED and DEAD are both ``tertahan`` but read differently)."""
    if view == "belum_dikirim":
        return StatusMessage(
            "Belum dikirim ke guru. Tetapkan predikat lalu tekan Kirim ke guru.",
            "Tetapkan predikat lalu tekan Kirim ke guru",
            Pihak.KEPALA_SEKOLAH,
        )
    if view == "menunggu":
        return _compose(
            "Sedang dikirim ke e-Kinerja",
            f"{_NOTHING_TO_DO}; hasilnya tampil di sini",
            Pihak.TIDAK_ADA,
        )
    if view == "terkirim":
        return _compose(
            "Sudah diterima e-Kinerja dan dapat dilihat guru", _NOTHING_TO_DO, Pihak.TIDAK_ADA
        )
    if view == "dicoba_ulang":
        cause = _RETRY_CAUSE.get(reason_code or "", "pengiriman sebelumnya belum berhasil")
        when = wib(next_attempt_at) if next_attempt_at else "waktu berikutnya"
        return _compose(
            f"Sedang dikirim ulang otomatis pada {when}: {cause}",
            f"{_NOTHING_TO_DO}; jangan kirim ulang secara manual",
            Pihak.TIDAK_ADA,
        )
    return _held(state, reason_code, next_attempt_at)
