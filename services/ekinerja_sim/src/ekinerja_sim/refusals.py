"""Permanent refusals: per-NIP data problems that e-Kinerja answers with 422
(docs/domain.md §6.3/§6.4).

Flags stay until an admin clears them, mirroring how a roster fix (Verval PTK, User PMM, unor
pemadanan) is what makes a parked delivery go through on redrive.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from enum import StrEnum


class RefusalCode(StrEnum):
    # Declaration order is precedence: identity problems hide organisational ones, as in e-Kinerja
    # where a NIP unknown to SIASN never gets as far as the unor check.
    NIP_NOT_FOUND = "NIP_NOT_FOUND"
    DUKCAPIL_MISMATCH = "DUKCAPIL_MISMATCH"
    KEMENAG = "KEMENAG"
    USER_PMM_MISSING = "USER_PMM_MISSING"
    UNOR_NOT_FOUND = "UNOR_NOT_FOUND"
    UNOR_NOT_PADAN = "UNOR_NOT_PADAN"
    SKP_ATASAN_MISSING = "SKP_ATASAN_MISSING"
    PERIODE_INVALID = "PERIODE_INVALID"


MESSAGES: Mapping[RefusalCode, str] = {
    RefusalCode.NIP_NOT_FOUND: (
        "NIP tidak ditemukan di SIASN; perbarui NIP di Verval PTK sesuai data SIASN"
    ),
    RefusalCode.DUKCAPIL_MISMATCH: "Data pegawai tidak sesuai dengan Dukcapil",
    RefusalCode.KEMENAG: (
        "Pegawai berada di bawah Kemenag; penilaian kinerja dilakukan langsung di e-Kinerja"
    ),
    RefusalCode.USER_PMM_MISSING: "Admin BKD belum menambahkan User PMM",
    RefusalCode.UNOR_NOT_FOUND: ("Data Unit Kerja Pegawai tidak terdaftar di Referensi Unit Kerja"),
    RefusalCode.UNOR_NOT_PADAN: "Unor di PMM Belum Padan",
    RefusalCode.SKP_ATASAN_MISSING: "Data SKP Organisasi belum dibuat oleh atasan",
    RefusalCode.PERIODE_INVALID: (
        "Tipe Periodik atau Angka Periodik instansi tidak valid di Manajemen Periode"
    ),
}

SKP_NOT_FOUND = "SKP_NOT_FOUND"
SKP_NOT_FOUND_MESSAGE = "Pegawai belum membuat SKP di PMM"


class RefusalBook:
    """Which NIPs e-Kinerja currently refuses, and why."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flags: dict[str, set[RefusalCode]] = {}

    def set(self, nip: str, codes: Iterable[RefusalCode]) -> None:
        with self._lock:
            flags = set(codes)
            if flags:
                self._flags[nip] = flags
            else:
                self._flags.pop(nip, None)

    def clear(self, nip: str, code: RefusalCode | None = None) -> None:
        with self._lock:
            if code is None:
                self._flags.pop(nip, None)
                return
            flags = self._flags.get(nip)
            if flags is not None:
                flags.discard(code)
                if not flags:
                    del self._flags[nip]

    def replace_all(self, flags: Mapping[str, Iterable[RefusalCode]]) -> None:
        with self._lock:
            self._flags = {nip: set(codes) for nip, codes in flags.items() if codes}

    def refusal_for(self, nip: str) -> RefusalCode | None:
        with self._lock:
            flags = self._flags.get(nip)
            if not flags:
                return None
            return next(code for code in RefusalCode if code in flags)

    def snapshot(self) -> dict[str, list[str]]:
        with self._lock:
            return {
                nip: [code.value for code in RefusalCode if code in flags]
                for nip, flags in sorted(self._flags.items())
            }
