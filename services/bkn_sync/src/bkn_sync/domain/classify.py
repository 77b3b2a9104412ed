"""What an e-Kinerja answer means for a delivery (docs/domain.md §6.4).

Pure: the sender turns an HTTP exchange into plain facts (status, body code, transport error,
Retry-After) and this module decides. Remedies are written for the principal or operator who
must act, in Indonesian, naming who that is.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    DELIVERED = "DELIVERED"
    TRANSIENT = "TRANSIENT"  # try again later: quick retries, then the retry tiers
    PARK = "PARK"  # a person must fix data first; redrive afterwards
    DROP = "DROP"  # never to be sent (Kemenag): parked with a reason, never retried
    DEAD = "DEAD"  # our own defect (schema, key reuse): DLQ and engineers
    SUPERSEDE = "SUPERSEDE"  # e-Kinerja holds a newer version


class Transport(StrEnum):
    TIMEOUT = "TIMEOUT"
    CONNECTION = "CONNECTION"  # refused, reset, dropped mid-response


class Actor(StrEnum):
    OPERATOR_SEKOLAH = "Operator Sekolah"
    ADMIN_BKD = "Admin BKD"
    ADMIN_INSTANSI = "Admin Instansi"
    DINAS = "Dinas Pendidikan"
    KEPALA_SEKOLAH = "Kepala Sekolah"
    ENGINEERS = "Tim Kinerja (engineer)"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    code: str | None = None
    reason: str | None = None
    remedy: str | None = None
    actor: str | None = None
    retry_after: float | None = None

    @property
    def is_transient(self) -> bool:
        return self.verdict is Verdict.TRANSIENT

    def error_text(self) -> str:
        """One line for first_error/last_error and the retry headers."""
        return f"{self.code}: {self.reason}" if self.code else str(self.reason)


@dataclass(frozen=True)
class _Permanent:
    code: str
    verdict: Verdict
    reason: str
    remedy: str | None
    actor: Actor | None


_SENDING_AGAIN = "Tidak perlu tindakan; data sedang dikirim ulang otomatis."

# e-Kinerja 422 body codes (docs/domain.md §6.5) → our taxonomy (§6.4).
_PERMANENT: dict[str, _Permanent] = {
    "NIP_NOT_FOUND": _Permanent(
        "BKN-E01",
        Verdict.PARK,
        "NIP tidak ditemukan di SIASN/BKN.",
        "Operator Sekolah memperbarui NIP di Verval PTK sesuai NIP di SIASN, lalu tunggu "
        "beberapa hari hingga data tersinkron.",
        Actor.OPERATOR_SEKOLAH,
    ),
    "DUKCAPIL_MISMATCH": _Permanent(
        "BKN-E02",
        Verdict.PARK,
        "Data pegawai tidak sesuai dengan Dukcapil.",
        "Operator Sekolah mengajukan ulang perbaikan data di Verval PTK agar sesuai Dukcapil.",
        Actor.OPERATOR_SEKOLAH,
    ),
    "USER_PMM_MISSING": _Permanent(
        "BKN-E03",
        Verdict.PARK,
        "Pegawai belum terdaftar sebagai User PMM di e-Kinerja.",
        'Admin BKD menambahkan pegawai melalui menu "User PMM" di e-Kinerja.',
        Actor.ADMIN_BKD,
    ),
    "UNOR_NOT_FOUND": _Permanent(
        "BKN-E04",
        Verdict.PARK,
        "Unit kerja pegawai tidak terdaftar di Referensi Unit Kerja.",
        "Admin Instansi/BKD memperbaiki unit organisasi (unor) pegawai di e-Kinerja dan SIASN.",
        Actor.ADMIN_INSTANSI,
    ),
    "SKP_ATASAN_MISSING": _Permanent(
        "BKN-E05",
        Verdict.PARK,
        "SKP Organisasi belum dibuat oleh atasan.",
        "Kepala Sekolah menyinkronkan/membuat SKP-nya sendiri di e-Kinerja, atau Admin Instansi "
        "membantu membuatnya.",
        Actor.KEPALA_SEKOLAH,
    ),
    "UNOR_NOT_PADAN": _Permanent(
        "BKN-E06",
        Verdict.PARK,
        "Unor di PMM belum padan dengan sekolah di Dapodik.",
        "Dinas Pendidikan melakukan pemadanan UNOR untuk pegawai ini.",
        Actor.DINAS,
    ),
    "KEMENAG": _Permanent(
        "BKN-E07",
        Verdict.DROP,
        "Pegawai berada di bawah Kemenag; penilaian kinerja dilakukan langsung di e-Kinerja.",
        "Tidak perlu tindakan di Kinerja; guru mengisi langsung di e-Kinerja BKN.",
        None,
    ),
    "PERIODE_INVALID": _Permanent(
        "BKN-E09",
        Verdict.PARK,
        "Tipe Periodik atau Angka Periodik instansi tidak valid.",
        "Admin Instansi memperbaiki Manajemen Periode di e-Kinerja.",
        Actor.ADMIN_INSTANSI,
    ),
}

# Parked for a data problem a roster fix can solve: redriven when the teacher's roster changes.
ROSTER_FIXABLE = frozenset({"BKN-E01", "BKN-E02", "BKN-E03", "BKN-E04", "BKN-E05", "BKN-E06"})
DROPPED = frozenset({"BKN-E07"})
# Parked until the teacher's atasan has an SKP in e-Kinerja: redriven when it is delivered.
WAITS_FOR_ATASAN_SKP = "BKN-E05"

DELIVERED = Outcome(Verdict.DELIVERED)


def _engineers(reason: str) -> Outcome:
    return Outcome(
        Verdict.DEAD,
        "BKN-E10",
        reason,
        "Tim Kinerja memeriksa data yang ditolak e-Kinerja; pengiriman akan diulang setelah "
        "diperbaiki.",
        Actor.ENGINEERS.value,
    )


def classify(
    status: int | None,
    body_code: str | None = None,
    *,
    transport: Transport | None = None,
    retry_after: float | None = None,
) -> Outcome:
    """Decide what one e-Kinerja exchange means. ``status`` is None when no response came."""
    if status is None:
        kind = transport or Transport.CONNECTION
        detail = (
            "Waktu tunggu e-Kinerja habis."
            if kind is Transport.TIMEOUT
            else ("Koneksi ke e-Kinerja terputus.")
        )
        return Outcome(Verdict.TRANSIENT, "BKN-T01", detail, _SENDING_AGAIN)
    if 200 <= status < 300:
        # A 2xx with an unreadable body still means the record was stored.
        return DELIVERED
    if status == 429:
        return Outcome(
            Verdict.TRANSIENT,
            "BKN-T03",
            "e-Kinerja membatasi laju permintaan.",
            _SENDING_AGAIN,
            retry_after=retry_after,
        )
    if status >= 500 or status == 408:
        return Outcome(
            Verdict.TRANSIENT,
            "BKN-T02",
            f"e-Kinerja sedang bermasalah (HTTP {status}).",
            _SENDING_AGAIN,
            retry_after=retry_after,
        )
    if status == 409 and body_code in (None, "STALE_VERSION"):
        return Outcome(
            Verdict.SUPERSEDE, "BKN-E11", "e-Kinerja sudah menyimpan versi yang lebih baru."
        )
    if body_code == "SKP_NOT_FOUND":
        # Held behind the SKP: it is on its way through its own delivery, so wait and retry.
        return Outcome(
            Verdict.TRANSIENT,
            "BKN-E08",
            "SKP pegawai belum tercatat di e-Kinerja.",
            "Tidak perlu tindakan; dikirim ulang otomatis setelah SKP tercatat.",
        )
    known = _PERMANENT.get(body_code or "") if status == 422 else None
    if known is not None:
        return Outcome(
            known.verdict,
            known.code,
            known.reason,
            known.remedy,
            known.actor.value if known.actor else None,
        )
    return _engineers(f"e-Kinerja menolak data (HTTP {status}, kode {body_code or '-'}).")
