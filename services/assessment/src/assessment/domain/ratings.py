"""Ratings and the recommended teacher predikat, docs/domain.md §2.6 and §4.1.

- ``recommend_predikat`` is the PermenPANRB 6/2022 quadrant of §4.1 [P], a pure table lookup.
- ``derive_hk`` / ``adjust_hk`` follow the §2.6 proposal [D]: the HK formula is not public, so HK
  is the median of three aspect ratings, which the KS may move by one step with a written reason;
  a violation is V-18 (§5).
- ``derive_pk`` aggregates the 7 BerAKHLAK behaviours by a rule that is **our design** [D]; see
  its docstring.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from kinerja_shared.refusal import Refusal

__all__ = [
    "BERAKHLAK",
    "BERAKHLAK_LABELS",
    "HK_ADJUSTMENT_MIN_REASON_CHARS",
    "HK_ADJUSTMENT_VIOLATION_CODE",
    "HK_ADJUSTMENT_VIOLATION_MESSAGE",
    "PK_DI_ATAS_MIN_BEHAVIOURS",
    "InvalidBehaviourRatings",
    "Predikat",
    "Rating",
    "adjust_hk",
    "derive_hk",
    "derive_pk",
    "recommend_predikat",
]

HK_ADJUSTMENT_MIN_REASON_CHARS = 50
HK_ADJUSTMENT_VIOLATION_CODE = "V-18"
HK_ADJUSTMENT_VIOLATION_MESSAGE = (
    "Perubahan rating wajib disertai alasan dan maksimal satu tingkat."
)

# The API speaks codes, the same ones planning's catalog uses for ``perilaku_fokus``, so one
# behaviour has one name across services; the Indonesian display names are labels only.
BERAKHLAK_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "BERORIENTASI_PELAYANAN": "Berorientasi Pelayanan",
        "AKUNTABEL": "Akuntabel",
        "KOMPETEN": "Kompeten",
        "HARMONIS": "Harmonis",
        "LOYAL": "Loyal",
        "ADAPTIF": "Adaptif",
        "KOLABORATIF": "Kolaboratif",
    }
)
BERAKHLAK: tuple[str, ...] = tuple(BERAKHLAK_LABELS)

# A strict majority of the 7 behaviours [D].
PK_DI_ATAS_MIN_BEHAVIOURS = 4


class Rating(StrEnum):
    """The 3-step scale of §4.1, best first.

    Ordered by level, not alphabetically: ``DI_BAWAH_EKSPEKTASI < SESUAI_EKSPEKTASI <
    DI_ATAS_EKSPEKTASI``, so ``sorted``/``min``/``max`` rank ratings. Comparing with a plain
    ``str`` falls back to ``str`` ordering; compare ratings with ratings.
    """

    DI_ATAS_EKSPEKTASI = "DI_ATAS_EKSPEKTASI"
    SESUAI_EKSPEKTASI = "SESUAI_EKSPEKTASI"
    DI_BAWAH_EKSPEKTASI = "DI_BAWAH_EKSPEKTASI"

    @property
    def level(self) -> int:
        """0 = below, 1 = meets, 2 = above expectations."""
        return _RATING_LEVELS[self]

    @property
    def label(self) -> str:
        return _RATING_LABELS[self]

    # The str comparisons would order the codes alphabetically (DI_ATAS < DI_BAWAH < SESUAI),
    # which is meaningless; rank by level instead.
    def __lt__(self, other: object) -> bool:
        if isinstance(other, Rating):
            return self.level < other.level
        return NotImplemented

    def __le__(self, other: object) -> bool:
        if isinstance(other, Rating):
            return self.level <= other.level
        return NotImplemented

    def __gt__(self, other: object) -> bool:
        if isinstance(other, Rating):
            return self.level > other.level
        return NotImplemented

    def __ge__(self, other: object) -> bool:
        if isinstance(other, Rating):
            return self.level >= other.level
        return NotImplemented


_RATING_LEVELS = {
    Rating.DI_BAWAH_EKSPEKTASI: 0,
    Rating.SESUAI_EKSPEKTASI: 1,
    Rating.DI_ATAS_EKSPEKTASI: 2,
}
_RATING_LABELS = {
    Rating.DI_ATAS_EKSPEKTASI: "Di Atas Ekspektasi",
    Rating.SESUAI_EKSPEKTASI: "Sesuai Ekspektasi",
    Rating.DI_BAWAH_EKSPEKTASI: "Di Bawah Ekspektasi",
}


class Predikat(StrEnum):
    """Teacher predikat codes of §4.1; ``label`` is the display text."""

    SANGAT_BAIK = "SANGAT_BAIK"
    BAIK = "BAIK"
    BUTUH_PERBAIKAN = "BUTUH_PERBAIKAN"
    KURANG = "KURANG"
    SANGAT_KURANG = "SANGAT_KURANG"

    @property
    def label(self) -> str:
        return _PREDIKAT_LABELS[self]


_PREDIKAT_LABELS = {
    Predikat.SANGAT_BAIK: "Sangat Baik",
    Predikat.BAIK: "Baik",
    Predikat.BUTUH_PERBAIKAN: "Butuh Perbaikan",
    Predikat.KURANG: "Kurang/Misconduct",  # display text [D]; the code stays KURANG
    Predikat.SANGAT_KURANG: "Sangat Kurang",
}


class InvalidBehaviourRatings(ValueError):
    """``derive_pk`` was not given exactly the 7 BerAKHLAK behaviours."""

    def __init__(self, *, missing: tuple[str, ...], unknown: tuple[str, ...]) -> None:
        super().__init__(f"missing behaviours {list(missing)}, unknown behaviours {list(unknown)}")
        self.missing = missing
        self.unknown = unknown


_A = Rating.DI_ATAS_EKSPEKTASI
_S = Rating.SESUAI_EKSPEKTASI
_B = Rating.DI_BAWAH_EKSPEKTASI

# (Hasil Kerja, Perilaku Kerja) -> predikat, laid out as the §4.1 table: rows HK, columns PK.
_MATRIX: Mapping[tuple[Rating, Rating], Predikat] = MappingProxyType(
    {
        (_A, _A): Predikat.SANGAT_BAIK,
        (_A, _S): Predikat.BAIK,
        (_A, _B): Predikat.KURANG,
        (_S, _A): Predikat.BAIK,
        (_S, _S): Predikat.BAIK,
        (_S, _B): Predikat.KURANG,
        (_B, _A): Predikat.BUTUH_PERBAIKAN,
        (_B, _S): Predikat.BUTUH_PERBAIKAN,
        (_B, _B): Predikat.SANGAT_KURANG,
    }
)


def recommend_predikat(hk: Rating, pk: Rating) -> Predikat:
    """The default teacher predikat for Hasil Kerja ``hk`` and Perilaku Kerja ``pk`` (§4.1)."""
    return _MATRIX[Rating(hk), Rating(pk)]


def derive_hk(reflection: Rating, follow_up: Rating, practice_change: Rating) -> Rating:
    """HK = median of reflection quality, follow-up effort and observed practice change (§2.6 [D]).

    With three ratings the median is the middle one after ranking, so one outlying aspect cannot
    move HK on its own.
    """
    return sorted((Rating(reflection), Rating(follow_up), Rating(practice_change)))[1]


def adjust_hk(derived: Rating, adjusted: Rating, reason: str | None) -> Rating:
    """Return the HK the KS settles on, enforcing V-18 (§2.6, §5 [D]).

    Keeping ``derived`` needs no reason. A change must be exactly one step and come with a reason
    of at least 50 characters after stripping surrounding whitespace [D: stripping, so that
    padding cannot satisfy the rule]. The caller stores the reason and shows it to the teacher.
    """
    derived, adjusted = Rating(derived), Rating(adjusted)
    if adjusted == derived:
        return derived
    one_step = abs(adjusted.level - derived.level) == 1
    reasoned = reason is not None and len(reason.strip()) >= HK_ADJUSTMENT_MIN_REASON_CHARS
    if not (one_step and reasoned):
        raise Refusal(HK_ADJUSTMENT_VIOLATION_CODE, HK_ADJUSTMENT_VIOLATION_MESSAGE)
    return adjusted


def derive_pk(behaviours: Mapping[str, Rating]) -> Rating:
    """Perilaku Kerja from the KS's rating of each of the 7 BerAKHLAK behaviours.

    **Our design [D]**, not a regulation (§2.6 only says PK is the KS's rating over the 7
    behaviours, default Sesuai Ekspektasi):

    - any behaviour Di Bawah Ekspektasi → PK Di Bawah Ekspektasi (one behavioural failure is
      enough, in line with §4.1 where bad behaviour caps the predikat at Kurang);
    - otherwise, a majority (≥ 4 of 7) Di Atas Ekspektasi → PK Di Atas Ekspektasi;
    - otherwise Sesuai Ekspektasi.

    All 7 behaviours are required, keyed by the codes in ``BERAKHLAK``, and no other key is
    accepted (a display name is not a code); otherwise ``InvalidBehaviourRatings`` is raised, so
    a typo cannot drop a behaviour silently.
    """
    missing = tuple(name for name in BERAKHLAK if name not in behaviours)
    unknown = tuple(sorted(name for name in behaviours if name not in BERAKHLAK))
    if missing or unknown:
        raise InvalidBehaviourRatings(missing=missing, unknown=unknown)
    ratings = [Rating(behaviours[name]) for name in BERAKHLAK]
    if Rating.DI_BAWAH_EKSPEKTASI in ratings:
        return Rating.DI_BAWAH_EKSPEKTASI
    if ratings.count(Rating.DI_ATAS_EKSPEKTASI) >= PK_DI_ATAS_MIN_BEHAVIOURS:
        return Rating.DI_ATAS_EKSPEKTASI
    return Rating.SESUAI_EKSPEKTASI
