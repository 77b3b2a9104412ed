"""The observation rubric per sub-indicator and the practice rating it yields.

The rubrics are configuration (``data/rubric.json``, read by ``observation.rules`` at start-up);
this module only parses and applies them.

``practice_rating`` is **our design** [D]: PMM does not publish how rubric scores become the
rating of the teacher's practice. We take the mean of the item scores (scale 1..4):
mean ≥ 3.5 → DI_ATAS_EKSPEKTASI, mean ≥ 2.5 → SESUAI_EKSPEKTASI, otherwise
DI_BAWAH_EKSPEKTASI. The three values are assessment's ``Rating`` (docs/domain.md §4.1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from .refusals import rubric_incomplete

SCORE_MIN = 1
SCORE_MAX = 4
ABOVE_FROM = Fraction(7, 2)
MEETS_FROM = Fraction(5, 2)


class PracticeRating(StrEnum):
    DI_ATAS_EKSPEKTASI = "DI_ATAS_EKSPEKTASI"
    SESUAI_EKSPEKTASI = "SESUAI_EKSPEKTASI"
    DI_BAWAH_EKSPEKTASI = "DI_BAWAH_EKSPEKTASI"


@dataclass(frozen=True)
class RubricItem:
    code: str
    deskripsi: str


@dataclass(frozen=True)
class Rubric:
    sub_indikator: str
    nama: str
    items: tuple[RubricItem, ...]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(i.code for i in self.items)


Rubrics = Mapping[str, Rubric]
"""The rubric of each sub-indicator, by its code; loaded once at start-up and handed in."""


def parse_rubrics(raw: Mapping[str, object]) -> dict[str, Rubric]:
    rubrics: dict[str, Rubric] = {}
    for s in raw["sub_indikator"]:  # type: ignore[attr-defined]
        items = tuple(RubricItem(str(i["code"]), str(i["deskripsi"])) for i in s["items"])
        if not items:
            raise ValueError(f"sub-indicator {s['code']} has no rubric items")
        rubrics[str(s["code"])] = Rubric(str(s["code"]), str(s["nama"]), items)
    return rubrics


def check_scores(rubric: Rubric, scores: Mapping[str, int]) -> dict[str, int]:
    """The scores if every item of ``rubric`` has one in 1..4 and nothing else; V-16 otherwise."""
    expected = set(rubric.codes)
    missing = sorted(expected - scores.keys())
    unknown = sorted(scores.keys() - expected)
    out_of_range = sorted(
        k for k, v in scores.items() if k in expected and not SCORE_MIN <= v <= SCORE_MAX
    )
    if missing or unknown or out_of_range:
        raise rubric_incomplete(missing=missing, unknown=unknown, out_of_range=out_of_range)
    return {code: scores[code] for code in rubric.codes}


def practice_rating(scores: Mapping[str, int]) -> PracticeRating:
    if not scores:
        raise ValueError("no scores")
    mean = Fraction(sum(scores.values()), len(scores))
    if mean >= ABOVE_FROM:
        return PracticeRating.DI_ATAS_EKSPEKTASI
    if mean >= MEETS_FROM:
        return PracticeRating.SESUAI_EKSPEKTASI
    return PracticeRating.DI_BAWAH_EKSPEKTASI
