"""Ratings, HK/PK derivation and the predikat matrix (docs/domain.md §2.6, §4.1, V-18)."""

from __future__ import annotations

import itertools

import pytest

from assessment.domain.ratings import (
    BERAKHLAK,
    BERAKHLAK_LABELS,
    InvalidBehaviourRatings,
    Predikat,
    Rating,
    adjust_hk,
    derive_hk,
    derive_pk,
    recommend_predikat,
)
from kinerja_shared.refusal import Refusal

ATAS = Rating.DI_ATAS_EKSPEKTASI
SESUAI = Rating.SESUAI_EKSPEKTASI
BAWAH = Rating.DI_BAWAH_EKSPEKTASI

REASON_50 = "x" * 50

# §4.1, copied cell by cell: (Hasil Kerja, Perilaku Kerja, predikat label).
MATRIX_4_1 = [
    ("Di Atas Ekspektasi", "Di Atas Ekspektasi", "Sangat Baik"),
    ("Di Atas Ekspektasi", "Sesuai Ekspektasi", "Baik"),
    ("Di Atas Ekspektasi", "Di Bawah Ekspektasi", "Kurang/Misconduct"),
    ("Sesuai Ekspektasi", "Di Atas Ekspektasi", "Baik"),
    ("Sesuai Ekspektasi", "Sesuai Ekspektasi", "Baik"),
    ("Sesuai Ekspektasi", "Di Bawah Ekspektasi", "Kurang/Misconduct"),
    ("Di Bawah Ekspektasi", "Di Atas Ekspektasi", "Butuh Perbaikan"),
    ("Di Bawah Ekspektasi", "Sesuai Ekspektasi", "Butuh Perbaikan"),
    ("Di Bawah Ekspektasi", "Di Bawah Ekspektasi", "Sangat Kurang"),
]


def _rating(label: str) -> Rating:
    (rating,) = [r for r in Rating if r.label == label]
    return rating


# --- enums ---------------------------------------------------------------------------------------


def test_ratings_rank_from_below_to_above_expectations() -> None:
    assert sorted([ATAS, BAWAH, SESUAI]) == [BAWAH, SESUAI, ATAS]
    assert BAWAH < SESUAI < ATAS
    assert ATAS >= ATAS > SESUAI >= BAWAH
    assert max(BAWAH, ATAS, SESUAI) is ATAS


def test_ratings_are_stored_as_their_codes() -> None:
    assert [str(r) for r in Rating] == [
        "DI_ATAS_EKSPEKTASI",
        "SESUAI_EKSPEKTASI",
        "DI_BAWAH_EKSPEKTASI",
    ]


def test_predikat_codes_and_display_labels() -> None:
    assert {p.value: p.label for p in Predikat} == {
        "SANGAT_BAIK": "Sangat Baik",
        "BAIK": "Baik",
        "BUTUH_PERBAIKAN": "Butuh Perbaikan",
        "KURANG": "Kurang/Misconduct",
        "SANGAT_KURANG": "Sangat Kurang",
    }


# --- §4.1 matrix ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("hk", "pk", "predikat"), MATRIX_4_1)
def test_recommended_predikat_follows_the_permenpanrb_quadrant(
    hk: str, pk: str, predikat: str
) -> None:
    assert recommend_predikat(_rating(hk), _rating(pk)).label == predikat


def test_matrix_table_in_this_test_covers_all_nine_cells() -> None:
    assert {(hk, pk) for hk, pk, _ in MATRIX_4_1} == {
        (a.label, b.label) for a, b in itertools.product(Rating, Rating)
    }


def test_bad_behaviour_caps_predikat_at_kurang_whatever_the_results() -> None:
    assert recommend_predikat(ATAS, BAWAH) is Predikat.KURANG


def test_weak_results_with_acceptable_behaviour_need_improvement() -> None:
    assert recommend_predikat(BAWAH, SESUAI) is Predikat.BUTUH_PERBAIKAN


# --- HK = median of three aspects (§2.6 [D]) ----------------------------------------------------


def _median_oracle(ratings: tuple[Rating, Rating, Rating]) -> Rating:
    """The rating with at least two aspects at or above it and at least two at or below it."""
    (median,) = [
        r
        for r in Rating
        if sum(x.level >= r.level for x in ratings) >= 2
        and sum(x.level <= r.level for x in ratings) >= 2
    ]
    return median


@pytest.mark.parametrize("aspects", list(itertools.product(Rating, repeat=3)))
def test_hk_is_the_median_of_the_three_aspects(aspects: tuple[Rating, Rating, Rating]) -> None:
    assert derive_hk(*aspects) is _median_oracle(aspects)


def test_one_outlying_aspect_does_not_move_hk() -> None:
    assert derive_hk(BAWAH, ATAS, ATAS) is ATAS
    assert derive_hk(SESUAI, BAWAH, SESUAI) is SESUAI


def test_three_different_aspects_give_sesuai() -> None:
    assert derive_hk(ATAS, BAWAH, SESUAI) is SESUAI


# --- HK adjustment, V-18 -------------------------------------------------------------------------


@pytest.mark.parametrize("rating", list(Rating))
def test_keeping_the_derived_hk_needs_no_reason(rating: Rating) -> None:
    assert adjust_hk(rating, rating, None) is rating
    assert adjust_hk(rating, rating, "") is rating


@pytest.mark.parametrize(
    ("derived", "adjusted"),
    [(ATAS, SESUAI), (SESUAI, ATAS), (SESUAI, BAWAH), (BAWAH, SESUAI)],
)
def test_one_step_change_with_a_fifty_character_reason_is_accepted(
    derived: Rating, adjusted: Rating
) -> None:
    assert adjust_hk(derived, adjusted, REASON_50) is adjusted


@pytest.mark.parametrize("reason", [None, "", "x" * 49, "  " + "x" * 49 + "   ", " " * 80])
def test_one_step_change_without_a_fifty_character_reason_is_refused(reason: str | None) -> None:
    with pytest.raises(Refusal):
        adjust_hk(SESUAI, ATAS, reason)


@pytest.mark.parametrize(("derived", "adjusted"), [(ATAS, BAWAH), (BAWAH, ATAS)])
def test_two_step_change_is_refused_even_with_a_reason(derived: Rating, adjusted: Rating) -> None:
    with pytest.raises(Refusal):
        adjust_hk(derived, adjusted, "x" * 500)


def test_refused_change_carries_the_v18_code_and_message() -> None:
    with pytest.raises(Refusal) as caught:
        adjust_hk(ATAS, BAWAH, None)

    assert caught.value.code == "V-18"
    assert caught.value.message == (
        "Perubahan rating wajib disertai alasan dan maksimal satu tingkat."
    )


# --- PK from the 7 BerAKHLAK behaviours ([D]) -------------------------------------------------


def _behaviours(*ratings: Rating) -> dict[str, Rating]:
    return dict(zip(BERAKHLAK, ratings, strict=True))


def test_berakhlak_lists_the_seven_behaviour_codes_in_order() -> None:
    assert BERAKHLAK == (
        "BERORIENTASI_PELAYANAN",
        "AKUNTABEL",
        "KOMPETEN",
        "HARMONIS",
        "LOYAL",
        "ADAPTIF",
        "KOLABORATIF",
    )


def test_each_code_keeps_its_display_name_as_label() -> None:
    assert BERAKHLAK_LABELS["BERORIENTASI_PELAYANAN"] == "Berorientasi Pelayanan"
    assert list(BERAKHLAK_LABELS.values()) == [
        "Berorientasi Pelayanan",
        "Akuntabel",
        "Kompeten",
        "Harmonis",
        "Loyal",
        "Adaptif",
        "Kolaboratif",
    ]


def test_codes_match_the_planning_catalog_vocabulary() -> None:
    # planning's catalog.json names perilaku_fokus by these codes; one vocabulary end to end.
    assert set(BERAKHLAK) == {
        "BERORIENTASI_PELAYANAN", "AKUNTABEL", "KOMPETEN", "HARMONIS", "LOYAL", "ADAPTIF",
        "KOLABORATIF",
    }  # fmt: skip


def test_display_names_are_not_accepted_as_keys() -> None:
    by_name = dict.fromkeys(BERAKHLAK_LABELS.values(), SESUAI)

    with pytest.raises(InvalidBehaviourRatings) as caught:
        derive_pk(by_name)

    assert caught.value.missing == BERAKHLAK
    assert "Berorientasi Pelayanan" in caught.value.unknown


def test_all_sesuai_behaviours_give_pk_sesuai() -> None:
    assert derive_pk(_behaviours(*[SESUAI] * 7)) is SESUAI


def test_four_behaviours_above_and_none_below_give_pk_above() -> None:
    assert derive_pk(_behaviours(ATAS, ATAS, ATAS, ATAS, SESUAI, SESUAI, SESUAI)) is ATAS


def test_three_behaviours_above_are_not_a_majority() -> None:
    assert derive_pk(_behaviours(ATAS, ATAS, ATAS, SESUAI, SESUAI, SESUAI, SESUAI)) is SESUAI


def test_one_behaviour_below_gives_pk_below_even_if_the_rest_are_above() -> None:
    assert derive_pk(_behaviours(ATAS, ATAS, ATAS, ATAS, ATAS, ATAS, BAWAH)) is BAWAH


def test_pk_rule_holds_for_all_2187_combinations() -> None:
    for ratings in itertools.product(Rating, repeat=7):
        if BAWAH in ratings:
            expected = BAWAH
        elif sum(r is ATAS for r in ratings) * 2 > len(BERAKHLAK):
            expected = ATAS
        else:
            expected = SESUAI

        assert derive_pk(_behaviours(*ratings)) is expected, ratings


def test_pk_with_a_missing_behaviour_is_refused() -> None:
    behaviours = _behaviours(*[SESUAI] * 7)
    del behaviours["LOYAL"]

    with pytest.raises(InvalidBehaviourRatings) as caught:
        derive_pk(behaviours)

    assert caught.value.missing == ("LOYAL",)


def test_pk_with_an_unknown_behaviour_is_refused() -> None:
    behaviours = _behaviours(*[SESUAI] * 7)
    behaviours["LOYALITAS"] = ATAS

    with pytest.raises(InvalidBehaviourRatings) as caught:
        derive_pk(behaviours)

    assert caught.value.unknown == ("LOYALITAS",)
