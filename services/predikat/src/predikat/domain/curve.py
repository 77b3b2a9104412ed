"""Distribution curve of teacher predikat allowed by the org predikat (V-21).

See docs/domain.md §4.2–§4.4.

The clauses per org predikat are [P SE-MenPANRB-distribusi] (§4.2). Our design decisions [D]:

- Rounding (§4.2): a maximum of p % is ``floor(p·n)``, a minimum of p % is ``ceil(p·n)``, a
  "must have" is ≥ 1. Computed in integers (``70 * n // 100``) so that e.g. 70 % of 10 is 7, not
  6.999…. For n < 10 the 10 % cap is therefore 0: no Sangat Baik at all.
- "Sebagian besar (maksimal 70 %)" for Istimewa is the 70 % cap only, no minimum (§4.2).
- n is the total of ``counts`` (the caller counts ASN teachers assessed, excluding the KS).
- An empty school (n = 0) has no violations: every limit is 0 and a "must have" becomes "at
  least 1 if there is anyone", since nobody can be given the required predikat.
- Violation texts and the V-21 message wording (§5) are ours; the predikat names in them are the
  short ones ("Kurang", not "Kurang/Misconduct") as in the §5 example.
- For some small schools no distribution satisfies the curve (Kurang and Sangat Kurang with
  n ≤ 2: the 60 % and 10 % minima add up to more than n). That is the rule as written; V-21 is a
  warning the KS may pass with a reason (§4.2), so this module only reports.

This service cannot import the assessment service, so ``TeacherPredikat`` repeats the codes of
``assessment.domain.ratings.Predikat``; the event contract is the codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "DISTRIBUTION_VIOLATION_CODE",
    "Bound",
    "Clause",
    "Limit",
    "OrgPredikat",
    "TeacherPredikat",
    "Violation",
    "check_distribution",
    "describe_violations",
    "limits_for",
]

DISTRIBUTION_VIOLATION_CODE = "V-21"


class OrgPredikat(StrEnum):
    """Predikat Kinerja Organisasi (§2.7), set per school and period by the Kepala Dinas."""

    ISTIMEWA = "ISTIMEWA"
    BAIK = "BAIK"
    BUTUH_PERBAIKAN = "BUTUH_PERBAIKAN"
    KURANG = "KURANG"
    SANGAT_KURANG = "SANGAT_KURANG"

    @property
    def label(self) -> str:
        return _ORG_LABELS[self]


_ORG_LABELS = {
    OrgPredikat.ISTIMEWA: "Istimewa",
    OrgPredikat.BAIK: "Baik",
    OrgPredikat.BUTUH_PERBAIKAN: "Butuh Perbaikan",
    OrgPredikat.KURANG: "Kurang",
    OrgPredikat.SANGAT_KURANG: "Sangat Kurang",
}


class TeacherPredikat(StrEnum):
    """Teacher predikat codes of §4.1 (same codes as the assessment service's ``Predikat``)."""

    SANGAT_BAIK = "SANGAT_BAIK"
    BAIK = "BAIK"
    BUTUH_PERBAIKAN = "BUTUH_PERBAIKAN"
    KURANG = "KURANG"
    SANGAT_KURANG = "SANGAT_KURANG"

    @property
    def label(self) -> str:
        """Display text, as in §4.1."""
        return _TEACHER_LABELS[self]

    @property
    def short_label(self) -> str:
        """Name used inside curve messages (the §5 V-21 example says "Kurang")."""
        return _TEACHER_SHORT_LABELS[self]


_TEACHER_SHORT_LABELS = {
    TeacherPredikat.SANGAT_BAIK: "Sangat Baik",
    TeacherPredikat.BAIK: "Baik",
    TeacherPredikat.BUTUH_PERBAIKAN: "Butuh Perbaikan",
    TeacherPredikat.KURANG: "Kurang",
    TeacherPredikat.SANGAT_KURANG: "Sangat Kurang",
}
_TEACHER_LABELS = {**_TEACHER_SHORT_LABELS, TeacherPredikat.KURANG: "Kurang/Misconduct"}


class Bound(StrEnum):
    AT_MOST = "AT_MOST"
    AT_LEAST = "AT_LEAST"


class Clause(StrEnum):
    """One constraint of a §4.2 row, named ``<org>_<predikat(s)>_<MAX|MIN|NONE>_<percent>``."""

    ISTIMEWA_SB_MAX_70 = "ISTIMEWA_SB_MAX_70"
    BAIK_B_MAX_70 = "BAIK_B_MAX_70"
    BAIK_BP_K_MIN_1 = "BAIK_BP_K_MIN_1"
    BUTUH_PERBAIKAN_BP_MIN_60 = "BUTUH_PERBAIKAN_BP_MIN_60"
    BUTUH_PERBAIKAN_SB_MAX_10 = "BUTUH_PERBAIKAN_SB_MAX_10"
    KURANG_K_MIN_60 = "KURANG_K_MIN_60"
    KURANG_BP_MIN_10 = "KURANG_BP_MIN_10"
    KURANG_SB_MAX_10 = "KURANG_SB_MAX_10"
    SANGAT_KURANG_SK_MIN_60 = "SANGAT_KURANG_SK_MIN_60"
    SANGAT_KURANG_K_BP_MIN_10 = "SANGAT_KURANG_K_BP_MIN_10"
    SANGAT_KURANG_SB_NONE = "SANGAT_KURANG_SB_NONE"


@dataclass(frozen=True, slots=True)
class Limit:
    """A clause with its number worked out for one school size."""

    clause: Clause
    predikats: tuple[TeacherPredikat, ...]
    bound: Bound
    value: int

    def actual(self, counts: Mapping[TeacherPredikat, int]) -> int:
        """How many teachers the clause counts (the sum over ``predikats``)."""
        return sum(counts.get(p, 0) for p in self.predikats)

    def allows(self, actual: int) -> bool:
        return actual <= self.value if self.bound is Bound.AT_MOST else actual >= self.value

    @property
    def text(self) -> str:
        """What is allowed, for the KS: e.g. "Baik maksimal 4"."""
        names = " atau ".join(p.short_label for p in self.predikats)
        word = "maksimal" if self.bound is Bound.AT_MOST else "minimal"
        return f"{names} {word} {self.value}"

    def violation_text(self, actual: int) -> str:
        names = " atau ".join(p.short_label for p in self.predikats)
        if self.bound is Bound.AT_MOST:
            return f"{names} {actual} melebihi batas {self.value}"
        if len(self.predikats) == 1:
            return f"{names} {actual} di bawah minimal {self.value}"
        text = f"wajib ada minimal {self.value} {names}"
        # With none at all the "wajib ada" already says it; the §5 example has no "(ada 0)".
        return f"{text} (ada {actual})" if actual else text


@dataclass(frozen=True, slots=True)
class Violation:
    """A broken clause: ``actual`` teachers against ``limit``, and the Indonesian ``text``."""

    clause: Clause
    predikats: tuple[TeacherPredikat, ...]
    bound: Bound
    actual: int
    limit: int
    text: str


def _at_most(percent: int, n: int) -> int:
    return percent * n // 100


def _at_least(percent: int, n: int) -> int:
    return -(-percent * n // 100)


def _must_have(n: int) -> int:
    return 1 if n > 0 else 0


_SB = TeacherPredikat.SANGAT_BAIK
_B = TeacherPredikat.BAIK
_BP = TeacherPredikat.BUTUH_PERBAIKAN
_K = TeacherPredikat.KURANG
_SK = TeacherPredikat.SANGAT_KURANG


def limits_for(org: OrgPredikat, n: int) -> tuple[Limit, ...]:
    """The §4.2 row for ``org`` with its numbers for ``n`` teachers, in the order of §4.2."""
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    most, least = Bound.AT_MOST, Bound.AT_LEAST
    match OrgPredikat(org):
        case OrgPredikat.ISTIMEWA:
            return (Limit(Clause.ISTIMEWA_SB_MAX_70, (_SB,), most, _at_most(70, n)),)
        case OrgPredikat.BAIK:
            return (
                Limit(Clause.BAIK_B_MAX_70, (_B,), most, _at_most(70, n)),
                Limit(Clause.BAIK_BP_K_MIN_1, (_BP, _K), least, _must_have(n)),
            )
        case OrgPredikat.BUTUH_PERBAIKAN:
            return (
                Limit(Clause.BUTUH_PERBAIKAN_BP_MIN_60, (_BP,), least, _at_least(60, n)),
                Limit(Clause.BUTUH_PERBAIKAN_SB_MAX_10, (_SB,), most, _at_most(10, n)),
            )
        case OrgPredikat.KURANG:
            return (
                Limit(Clause.KURANG_K_MIN_60, (_K,), least, _at_least(60, n)),
                Limit(Clause.KURANG_BP_MIN_10, (_BP,), least, _at_least(10, n)),
                Limit(Clause.KURANG_SB_MAX_10, (_SB,), most, _at_most(10, n)),
            )
        case OrgPredikat.SANGAT_KURANG:
            return (
                Limit(Clause.SANGAT_KURANG_SK_MIN_60, (_SK,), least, _at_least(60, n)),
                Limit(Clause.SANGAT_KURANG_K_BP_MIN_10, (_K, _BP), least, _at_least(10, n)),
                Limit(Clause.SANGAT_KURANG_SB_NONE, (_SB,), most, 0),
            )


def check_distribution(org: OrgPredikat, counts: Mapping[TeacherPredikat, int]) -> list[Violation]:
    """Every clause of the §4.2 row for ``org`` that ``counts`` breaks; ``[]`` if it fits.

    ``counts`` maps predikat to number of teachers; a missing predikat counts 0. n is the sum.
    """
    if any(count < 0 for count in counts.values()):
        raise ValueError(f"counts must not be negative: {dict(counts)}")
    n = sum(counts.values())
    violations = []
    for limit in limits_for(org, n):
        actual = limit.actual(counts)
        if not limit.allows(actual):
            violations.append(
                Violation(
                    clause=limit.clause,
                    predikats=limit.predikats,
                    bound=limit.bound,
                    actual=actual,
                    limit=limit.value,
                    text=limit.violation_text(actual),
                )
            )
    return violations


def describe_violations(org: OrgPredikat, violations: list[Violation]) -> str:
    """The V-21 user message (§5) listing every violated clause.

    Raises ``ValueError`` for an empty list: there is nothing to report, and an empty V-21 would
    hide a caller bug.
    """
    if not violations:
        raise ValueError("no violations to describe")
    clauses = "; ".join(v.text for v in violations)
    return (
        "Sebaran predikat tidak sesuai dengan Predikat Kinerja Organisasi "
        f"({OrgPredikat(org).label}): {clauses}."
    )
