"""The Dapodik-style roster file: one CSV row per person (PTK), with their school's columns.

Column names follow Dapodik's PTK export, lower-cased. ``atasan_nip`` is the Kepala Sekolah or
Plt. Dapodik links the teacher to; empty means the school has neither ("Data atasan Anda tidak
ditemukan"). Rows that break a rule are reported with their line number and never published.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from ..events.roster import Naungan, Pegawai, Sekolah, StatusKepegawaian
from ..nip import NipInvalid, validate_nip

COLUMNS = (
    "npsn",
    "nama_sekolah",
    "kode_wilayah",
    "naungan",
    "nip",
    "nama",
    "jenis_ptk",
    "status_kepegawaian",
    "atasan_nip",
    "atasan_plt",
    "aktif",
)


@dataclass(frozen=True)
class RowError:
    line: int
    nip: str
    reason: str


@dataclass
class Roster:
    sekolah: dict[str, Sekolah]
    pegawai: list[Pegawai]
    errors: list[RowError]


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "ya", "y"}


def read(path: Path, *, today: date) -> Roster:
    with path.open(newline="", encoding="utf-8") as f:
        return parse(csv.DictReader(f), today=today)


def parse(rows: Iterable[dict[str, str]], *, today: date) -> Roster:
    roster = Roster(sekolah={}, pegawai=[], errors=[])
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        nip = (row.get("nip") or "").strip()
        try:
            status = _member(StatusKepegawaian, "status_kepegawaian", row["status_kepegawaian"])
            validate_nip(
                nip, today=today, kind="PPPK" if status is StatusKepegawaian.PPPK else "PNS"
            )
            naungan = _member(Naungan, "naungan", row["naungan"] or Naungan.KEMENDIKDASMEN)
            school = Sekolah(
                npsn=row["npsn"].strip(),
                nama=row["nama_sekolah"].strip(),
                kode_wilayah=row["kode_wilayah"].strip(),
                naungan=naungan,
            )
            pegawai = Pegawai(
                nip=nip,
                nama=row["nama"].strip(),
                npsn=school.npsn,
                jenis_ptk=row["jenis_ptk"].strip(),
                status_kepegawaian=status,
                naungan=naungan,
                kode_wilayah=school.kode_wilayah,
                atasan_nip=(row.get("atasan_nip") or "").strip() or None,
                atasan_plt=_flag(row.get("atasan_plt", "")),
                aktif=_flag(row.get("aktif") or "1"),
            )
        except NipInvalid as exc:
            roster.errors.append(RowError(line, nip, f"NIP tidak valid: {exc.alasan}"))
            continue
        except (KeyError, ValueError, ValidationError) as exc:
            roster.errors.append(RowError(line, nip, f"baris tidak valid: {_alasan(exc)}"))
            continue
        roster.sekolah.setdefault(school.npsn, school)
        roster.pegawai.append(pegawai)
    return roster


def write(path: Path, rows: Iterable[dict[str, str]]) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def _alasan(exc: KeyError | ValueError | ValidationError) -> str:
    """Why a row is refused, in the Indonesian of the rest of the report: the column and what
    is wrong with it, never a library's English."""
    if isinstance(exc, KeyError):
        return f"kolom {exc.args[0]} tidak ada"
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"kolom {'.'.join(str(part) for part in e['loc']) or '-'} "
            f"{_KIND.get(e['type'], 'tidak valid')}"
            for e in exc.errors()
        )
    return str(exc)


E = TypeVar("E", bound=StrEnum)


def _member(kind: type[E], column: str, raw: str) -> E:
    value = raw.strip()
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise ValueError(
            f"kolom {column} berisi {value!r}, bukan salah satu dari: {allowed}"
        ) from None


# pydantic's error types, as the report says them.
_KIND = {
    "missing": "tidak diisi",
    "string_pattern_mismatch": "tidak sesuai format",
    "string_too_short": "terlalu pendek",
    "string_too_long": "terlalu panjang",
    "enum": "berisi nilai yang tidak dikenal",
    "literal_error": "berisi nilai yang tidak dikenal",
}
