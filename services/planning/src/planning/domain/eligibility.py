"""Who may open Pengelolaan Kinerja at all (docs/domain.md §1.2, V-01, V-02)."""

from __future__ import annotations

from kinerja_shared.refusal import Kind, Refusal

ELIGIBLE_JENIS_PTK = frozenset(
    {
        "Guru Mapel",
        "Guru Kelas",
        "Guru BK",
        "Guru Pengganti",
        "Guru TIK",
        "Guru Pendamping Khusus",
        "Guru Pembimbing Khusus",
        "Play Group Teacher",
        "Kindergarten Teacher",
        "Kepala Sekolah",
    }
)


def require_eligible(jenis_ptk: str, naungan: str) -> None:
    if naungan == "KEMENAG":
        raise Refusal(
            "V-02",
            "Guru/Kepala Sekolah di bawah naungan Kemenag mengisi SKP langsung di e-Kinerja BKN.",
            Kind.FORBIDDEN,
        )
    if jenis_ptk not in ELIGIBLE_JENIS_PTK:
        raise Refusal(
            "V-01",
            "Anda belum dapat mengakses Pengelolaan Kinerja karena Jenis PTK Anda tidak sesuai. "
            "Hubungi Operator Sekolah untuk memperbarui data di Dapodik.",
            Kind.FORBIDDEN,
            jenis_ptk=jenis_ptk,
        )
