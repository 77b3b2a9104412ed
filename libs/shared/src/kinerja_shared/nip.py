"""NIP (PNS) and NI PPPK validation, docs/domain.md §6.2; failures map to V-24 (§5).

PNS layout [P NIP-sources, Perka BKN 22/2007]: ``YYYYMMDD YYYYMM G NNN`` = birth date, TMT CPNS
(year-month of first appointment), gender (1 male, 2 female), sequence among people sharing the
first 15 digits. The NI PPPK has no published digit layout, so only 18 digits and a real birth
date are checked [D].

Our design decisions [D], all from §6.2 unless noted:

- Input is validated as given: no stripping, no regrouping. §6.2 says never "fix" a NIP, and a
  NIP is a Kafka key, so ``" 1986..."`` must not silently become another key.
- Only ASCII ``0-9`` count as digits (Python's ``\\d`` and ``str.isdigit`` accept other scripts).
- Age at TMT is counted in whole months, because the TMT has no day: the person is ``a`` years
  old in the TMT month if ``12·a ≤ months(TMT) − months(birth) < 12·(a+1)``. "Age 18–70" therefore
  means the TMT lies from the birth month + 18 years up to the birth month + 70 years 11 months.
  The lower end is the same as §6.2's "TMT ≥ birth + 18 y".
- "≤ today" compares year-months, so a TMT in the current month is accepted.
- For PPPK a birth date after ``today`` is refused as not a "real" birth date (our reading).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Literal, TypeAlias

__all__ = [
    "NIP_INVALID_CODE",
    "NIP_INVALID_MESSAGE",
    "NIP_LENGTH",
    "Gender",
    "NipCheck",
    "NipInvalid",
    "NipKind",
    "NipParts",
    "YearMonth",
    "parse_nip",
    "validate_nip",
]

NIP_LENGTH = 18
NIP_INVALID_CODE = "V-24"
NIP_INVALID_MESSAGE = "NIP tidak valid."

MIN_AGE_AT_TMT = 18
MAX_AGE_AT_TMT = 70

NipKind: TypeAlias = Literal["PNS", "PPPK"]

# [0-9] rather than \d: \d also matches e.g. Arabic-Indic digits; fullmatch rather than $ because
# $ accepts a trailing newline.
_NIP_RE = re.compile(r"[0-9]{18}")


class NipInvalid(ValueError):
    """A NIP failed §6.2. ``reason`` is for logs (English); ``alasan`` says the same in
    Indonesian for the people who fix the Dapodik file (the roster import's report); an API
    caller sees ``message`` (V-24)."""

    code = NIP_INVALID_CODE
    message = NIP_INVALID_MESSAGE

    def __init__(self, reason: str, alasan: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.alasan = alasan


class Gender(StrEnum):
    """Digit 15 of a PNS NIP."""

    LAKI_LAKI = "LAKI_LAKI"
    PEREMPUAN = "PEREMPUAN"

    @property
    def label(self) -> str:
        return _GENDER_LABELS[self]


_GENDER_LABELS = {Gender.LAKI_LAKI: "Laki-laki", Gender.PEREMPUAN: "Perempuan"}
_GENDER_DIGITS = {"1": Gender.LAKI_LAKI, "2": Gender.PEREMPUAN}


@dataclass(frozen=True, slots=True, order=True)
class YearMonth:
    """A calendar month; the TMT in a NIP has no day."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month {self.month} is not 1-12")

    @classmethod
    def of(cls, day: date) -> YearMonth:
        return cls(day.year, day.month)

    @property
    def index(self) -> int:
        """Months since year 0, so that differences are plain subtraction."""
        return self.year * 12 + self.month - 1


@dataclass(frozen=True, slots=True)
class NipParts:
    """The four fields of a PNS NIP, e.g. ``198609262015051001``."""

    birth_date: date
    tmt: YearMonth
    gender: Gender
    sequence: int


@dataclass(frozen=True, slots=True)
class NipCheck:
    """A NIP that passed §6.2. PPPK numbers carry only the birth date (no known layout)."""

    nip: str
    kind: NipKind
    birth_date: date
    tmt: YearMonth | None
    gender: Gender | None
    sequence: int | None


def has_nip_format(nip: str) -> bool:
    """Exactly 18 ASCII digits: what every NIP in a path or a token must be before it is looked
    up (a shorter one is a typo to point out, not an unknown teacher)."""
    return _NIP_RE.fullmatch(nip) is not None


def _require_format(nip: str) -> None:
    if not _NIP_RE.fullmatch(nip):
        raise NipInvalid(
            f"expected exactly {NIP_LENGTH} ASCII digits, got {nip!r}",
            f"harus tepat {NIP_LENGTH} angka 0-9 tanpa spasi ({len(nip)} karakter)",
        )


def _birth_date(nip: str) -> date:
    try:
        return date(int(nip[0:4]), int(nip[4:6]), int(nip[6:8]))
    except ValueError:
        raise NipInvalid(
            f"digits 1-8 {nip[0:8]!r} are not a real date",
            f"digit 1-8 ({nip[0:8]}) bukan tanggal lahir yang ada",
        ) from None


def parse_nip(nip: str) -> NipParts:
    """Split a PNS NIP into its fields.

    Raises ``NipInvalid`` only when the text cannot be split into typed fields: not 18 digits,
    digits 1–8 not a real date, month in 9–14 not 1–12, digit 15 not 1 or 2. The plausibility
    rules that need ``today`` (age at TMT, TMT not in the future) and the ``000`` sequence are
    checked by ``validate_nip``.
    """
    _require_format(nip)
    birth = _birth_date(nip)
    try:
        tmt = YearMonth(int(nip[8:12]), int(nip[12:14]))
    except ValueError:
        raise NipInvalid(
            f"digits 9-14 {nip[8:14]!r} are not a real year-month",
            f"digit 9-14 ({nip[8:14]}) bukan tahun dan bulan TMT yang ada",
        ) from None
    gender = _GENDER_DIGITS.get(nip[14])
    if gender is None:
        raise NipInvalid(
            f"digit 15 is {nip[14]!r}, expected 1 or 2",
            f"digit 15 (jenis kelamin) adalah {nip[14]}, seharusnya 1 atau 2",
        )
    return NipParts(birth_date=birth, tmt=tmt, gender=gender, sequence=int(nip[15:18]))


def validate_nip(nip: str, *, today: date, kind: NipKind) -> NipCheck:
    """Check ``nip`` against §6.2 for a PNS or a PPPK; raise ``NipInvalid`` (V-24) otherwise."""
    if kind == "PPPK":
        _require_format(nip)
        birth = _birth_date(nip)
        if birth > today:
            raise NipInvalid(
                f"birth date {birth.isoformat()} is after today",
                f"tanggal lahir {birth.isoformat()} belum terjadi",
            )
        return NipCheck(nip=nip, kind=kind, birth_date=birth, tmt=None, gender=None, sequence=None)
    if kind != "PNS":
        # Literal types are not enforced at run time and a wrong kind must not pass silently.
        raise ValueError(f"unknown NIP kind {kind!r}")

    parts = parse_nip(nip)
    if parts.sequence == 0:
        raise NipInvalid(
            "digits 16-18 are 000; sequences start at 001",
            "digit 16-18 adalah 000; nomor urut dimulai dari 001",
        )
    if parts.tmt > YearMonth.of(today):
        raise NipInvalid(
            f"TMT {parts.tmt.year}-{parts.tmt.month:02d} is after today",
            f"TMT {parts.tmt.year}-{parts.tmt.month:02d} belum terjadi",
        )
    age_months = parts.tmt.index - YearMonth.of(parts.birth_date).index
    if age_months < MIN_AGE_AT_TMT * 12:
        raise NipInvalid(
            f"younger than {MIN_AGE_AT_TMT} at TMT",
            f"usia saat TMT kurang dari {MIN_AGE_AT_TMT} tahun",
        )
    if age_months >= (MAX_AGE_AT_TMT + 1) * 12:
        raise NipInvalid(
            f"older than {MAX_AGE_AT_TMT} at TMT",
            f"usia saat TMT lebih dari {MAX_AGE_AT_TMT} tahun",
        )
    return NipCheck(
        nip=nip,
        kind=kind,
        birth_date=parts.birth_date,
        tmt=parts.tmt,
        gender=parts.gender,
        sequence=parts.sequence,
    )
