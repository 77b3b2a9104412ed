"""What an e-Kinerja answer means for a delivery (docs/domain.md §6.4).

Pure: the sender turns an HTTP exchange into plain facts (status, body code and message, the
version e-Kinerja says it holds, transport error, Retry-After) and this module decides. It reads
what the answer says rather than one spelling of it: a 409 about a newer version held there is
SUPERSEDED whatever its code, and an answer Kinerja does not know yet is PARKED for the Kinerja
team with e-Kinerja's own words, never a dead letter. DEAD is kept for what only a change to
Kinerja's code can fix. Remedies are written for the person who must act, in Indonesian,
naming who that is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
    OPERATORS = "Tim Kinerja (operator)"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    code: str | None = None
    reason: str | None = None
    remedy: str | None = None
    actor: str | None = None
    retry_after: float | None = None
    # What e-Kinerja answered, told with the outcome on the status topic; None: no answer came.
    http_status: int | None = None

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
# Parked for a cause that lies outside Kinerja, at BKN or the agency, whose fix Kinerja may never
# hear of: checked again with e-Kinerja on a schedule of their own (``RecheckSchedule``).
RECHECKED = ROSTER_FIXABLE | {"BKN-E09"}
DROPPED = frozenset({"BKN-E07"})
# Parked until the teacher's atasan has an SKP in e-Kinerja: redriven when it is delivered.
WAITS_FOR_ATASAN_SKP = "BKN-E05"
# e-Kinerja's own answer that the SKP is missing, and Kinerja's hold of a predikat whose SKP it
# has not delivered yet (docs/domain.md §6.3: e-Kinerja refuses a predikat before its SKP).
SKP_MISSING = "BKN-E08"
UNKNOWN_REFUSAL = "BKN-E12"
ACCESS_REFUSED = "BKN-E13"

DELIVERED = Outcome(Verdict.DELIVERED)
# Failures that say e-Kinerja itself is down (no answer, 5xx): what the breaker counts, and
# what deliveries waiting on a retry tier are brought forward from once it is back.
E_KINERJA_DOWN = frozenset({"BKN-T01", "BKN-T02"})

# e-Kinerja's codes for a request of ours it cannot take (docs/domain.md §6.5): Kinerja's bug.
_OUR_DEFECT_CODES = frozenset(
    {"INVALID_PAYLOAD", "IDEMPOTENCY_KEY_MISSING", "IDEMPOTENCY_KEY_REUSED"}
)
# Statuses that say the request itself is malformed, or sent where no record lives, whatever the
# body: only a change to Kinerja (its code or its e-Kinerja address) fixes them.
_OUR_DEFECT_STATUSES = frozenset({400, 404, 405, 411, 413, 414, 415, 431})
# Kinerja's own credentials or network path to e-Kinerja refused: operators renew them.
_ACCESS_STATUSES = frozenset({401, 403, 407})
# What a 409's code says when it is about versions, in any of e-Kinerja's spellings.
_VERSION_WORDS = ("VERSION", "STALE", "CONFLICT")
_MESSAGE_MAX = 300


def _engineers(reason: str) -> Outcome:
    return Outcome(
        Verdict.DEAD,
        "BKN-E10",
        reason,
        "Tim Kinerja memeriksa data yang ditolak e-Kinerja; pengiriman akan diulang setelah "
        "diperbaiki.",
        Actor.ENGINEERS.value,
    )


def _superseded(held_version: int | None, our_version: int | None) -> Outcome:
    if held_version is not None and our_version is not None:
        reason = (
            f"e-Kinerja sudah menyimpan versi {held_version} yang lebih baru dari versi "
            f"{our_version}."
        )
    else:
        reason = "e-Kinerja sudah menyimpan versi yang lebih baru."
    return Outcome(Verdict.SUPERSEDE, "BKN-E11", reason)


def _conflict(
    body_code: str | None, held_version: int | None, our_version: int | None
) -> Outcome | None:
    """A 409 that says e-Kinerja holds a newer version; None if it says something else."""
    if held_version is not None and our_version is not None:
        # The number is the answer's plainest word: newer there means ours is superseded,
        # whatever the code calls it; not newer, and it is not a version conflict at all.
        return _superseded(held_version, our_version) if held_version > our_version else None
    if body_code in _OUR_DEFECT_CODES:
        return None
    if body_code is None or any(word in body_code.upper() for word in _VERSION_WORDS):
        return _superseded(None, None)
    return None


def _quoted(message: str | None) -> str:
    text = " ".join((message or "").split())
    if len(text) > _MESSAGE_MAX:
        text = text[: _MESSAGE_MAX - 1] + "…"
    return f' Pesan e-Kinerja: "{text}"' if text else ""


def _unknown(status: int, body_code: str | None, message: str | None) -> Outcome:
    """An answer Kinerja has no rule for yet: parked, with e-Kinerja's own words, for the
    Kinerja team to read and act on; not a dead letter, as a person can act on it."""
    return Outcome(
        Verdict.PARK,
        UNKNOWN_REFUSAL,
        f"e-Kinerja menolak data dengan jawaban yang belum dikenal Kinerja (HTTP {status}, kode "
        f"{body_code or '-'}).{_quoted(message)}",
        "Tim Kinerja membaca pesan e-Kinerja dan menyelesaikan penyebabnya bersama pihak yang "
        "disebut di pesan itu, lalu menjalankan redrive.",
        Actor.OPERATORS.value,
    )


def _access_refused(status: int, body_code: str | None, message: str | None) -> Outcome:
    return Outcome(
        Verdict.PARK,
        ACCESS_REFUSED,
        f"e-Kinerja menolak akses Kinerja (HTTP {status}, kode {body_code or '-'})."
        f"{_quoted(message)}",
        "Tim Kinerja memeriksa kredensial dan hak akses Kinerja ke e-Kinerja, lalu menjalankan "
        "redrive.",
        Actor.OPERATORS.value,
    )


def classify(
    status: int | None,
    body_code: str | None = None,
    *,
    transport: Transport | None = None,
    retry_after: float | None = None,
    held_version: int | None = None,
    our_version: int | None = None,
    message: str | None = None,
) -> Outcome:
    """Decide what one e-Kinerja exchange means. ``status`` is None when no response came;
    ``held_version`` is the version e-Kinerja says it holds (if its answer carries one),
    ``our_version`` the version that was sent. The outcome carries ``status`` along."""
    outcome = _decide(
        status,
        body_code,
        transport=transport,
        retry_after=retry_after,
        held_version=held_version,
        our_version=our_version,
        message=message,
    )
    return outcome if status is None else replace(outcome, http_status=status)


def _decide(
    status: int | None,
    body_code: str | None,
    *,
    transport: Transport | None,
    retry_after: float | None,
    held_version: int | None,
    our_version: int | None,
    message: str | None,
) -> Outcome:
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
    if status < 400:
        # A redirect (or an informational answer) to a PUT: Kinerja's e-Kinerja address is wrong.
        return _engineers(f"e-Kinerja menjawab HTTP {status} yang tidak diharapkan.")
    if status == 409:
        conflict = _conflict(body_code, held_version, our_version)
        if conflict is not None:
            return conflict
    if body_code == "SKP_NOT_FOUND":
        # Held behind the SKP: it is on its way through its own delivery, so wait and retry.
        return Outcome(
            Verdict.TRANSIENT,
            SKP_MISSING,
            "SKP pegawai belum tercatat di e-Kinerja.",
            "Tidak perlu tindakan; dikirim ulang otomatis setelah SKP tercatat.",
        )
    known = _PERMANENT.get(body_code or "")
    if known is not None:
        return Outcome(
            known.verdict,
            known.code,
            known.reason,
            known.remedy,
            known.actor.value if known.actor else None,
        )
    if body_code in _OUR_DEFECT_CODES or status in _OUR_DEFECT_STATUSES:
        return _engineers(f"e-Kinerja menolak data (HTTP {status}, kode {body_code or '-'}).")
    if status in _ACCESS_STATUSES:
        return _access_refused(status, body_code, message)
    return _unknown(status, body_code, message)
