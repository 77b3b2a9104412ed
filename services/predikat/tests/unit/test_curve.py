"""Distribution curve by org predikat (docs/domain.md §4.2, worked examples §4.3 and §4.4, V-21)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from predikat.domain.curve import (
    Bound,
    Clause,
    OrgPredikat,
    TeacherPredikat,
    Violation,
    check_distribution,
    describe_violations,
    limits_for,
)

SB = TeacherPredikat.SANGAT_BAIK
B = TeacherPredikat.BAIK
BP = TeacherPredikat.BUTUH_PERBAIKAN
K = TeacherPredikat.KURANG
SK = TeacherPredikat.SANGAT_KURANG

ISTIMEWA = OrgPredikat.ISTIMEWA
BAIK = OrgPredikat.BAIK
BUTUH_PERBAIKAN = OrgPredikat.BUTUH_PERBAIKAN
KURANG = OrgPredikat.KURANG
SANGAT_KURANG = OrgPredikat.SANGAT_KURANG

Counts = dict[TeacherPredikat, int]

# §4.3 and §4.4, row by row: (org, valid example, invalid example, clauses the invalid one breaks).
WORKED_EXAMPLES: list[tuple[str, OrgPredikat, Counts, Counts, set[Clause]]] = [
    ("n7-istimewa", ISTIMEWA, {SB: 4, B: 3}, {SB: 5, B: 2}, {Clause.ISTIMEWA_SB_MAX_70}),
    (
        "n7-baik",
        BAIK,
        {SB: 2, B: 4, BP: 1},
        {SB: 2, B: 5},
        {Clause.BAIK_B_MAX_70, Clause.BAIK_BP_K_MIN_1},
    ),
    (
        "n7-butuh-perbaikan",
        BUTUH_PERBAIKAN,
        {B: 2, BP: 5},
        {SB: 1, BP: 5, B: 1},
        {Clause.BUTUH_PERBAIKAN_SB_MAX_10},
    ),
    ("n7-kurang", KURANG, {K: 5, BP: 1, B: 1}, {K: 5, B: 2}, {Clause.KURANG_BP_MIN_10}),
    (
        "n7-sangat-kurang",
        SANGAT_KURANG,
        {SK: 5, K: 1, B: 1},
        {SK: 6, B: 1},
        {Clause.SANGAT_KURANG_K_BP_MIN_10},
    ),
    (
        "n40-istimewa",
        ISTIMEWA,
        {SB: 28, B: 10, BP: 2},
        {SB: 29, B: 11},
        {Clause.ISTIMEWA_SB_MAX_70},
    ),
    ("n40-baik", BAIK, {SB: 8, B: 28, BP: 3, K: 1}, {SB: 12, B: 28}, {Clause.BAIK_BP_K_MIN_1}),
    (
        "n40-butuh-perbaikan",
        BUTUH_PERBAIKAN,
        {SB: 4, B: 12, BP: 24},
        {SB: 5, B: 12, BP: 23},
        {Clause.BUTUH_PERBAIKAN_BP_MIN_60, Clause.BUTUH_PERBAIKAN_SB_MAX_10},
    ),
    (
        "n40-kurang",
        KURANG,
        {SB: 2, B: 6, BP: 4, K: 28},
        {B: 13, BP: 3, K: 24},
        {Clause.KURANG_BP_MIN_10},
    ),
    (
        "n40-sangat-kurang",
        SANGAT_KURANG,
        {B: 10, BP: 2, K: 2, SK: 26},
        {SB: 1, B: 9, K: 4, SK: 26},
        {Clause.SANGAT_KURANG_SB_NONE},
    ),
]


def _limits(org: OrgPredikat, n: int) -> dict[Clause, int]:
    return {limit.clause: limit.value for limit in limits_for(org, n)}


# --- the worked examples -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("org", "valid"),
    [(row[1], row[2]) for row in WORKED_EXAMPLES],
    ids=[r[0] for r in WORKED_EXAMPLES],
)
def test_worked_example_valid_distribution_is_accepted(org: OrgPredikat, valid: Counts) -> None:
    assert sum(valid.values()) in (7, 40)
    assert check_distribution(org, valid) == []


@pytest.mark.parametrize(
    ("org", "invalid", "broken"),
    [(row[1], row[3], row[4]) for row in WORKED_EXAMPLES],
    ids=[r[0] for r in WORKED_EXAMPLES],
)
def test_worked_example_invalid_distribution_is_refused_for_the_stated_reason(
    org: OrgPredikat, invalid: Counts, broken: set[Clause]
) -> None:
    assert sum(invalid.values()) in (7, 40)
    assert {v.clause for v in check_distribution(org, invalid)} == broken


def test_limits_for_a_school_of_seven_match_section_4_3() -> None:
    assert _limits(ISTIMEWA, 7) == {Clause.ISTIMEWA_SB_MAX_70: 4}
    assert _limits(BAIK, 7) == {Clause.BAIK_B_MAX_70: 4, Clause.BAIK_BP_K_MIN_1: 1}
    assert _limits(BUTUH_PERBAIKAN, 7) == {
        Clause.BUTUH_PERBAIKAN_BP_MIN_60: 5,
        Clause.BUTUH_PERBAIKAN_SB_MAX_10: 0,
    }
    assert _limits(KURANG, 7) == {
        Clause.KURANG_K_MIN_60: 5,
        Clause.KURANG_BP_MIN_10: 1,
        Clause.KURANG_SB_MAX_10: 0,
    }
    assert _limits(SANGAT_KURANG, 7) == {
        Clause.SANGAT_KURANG_SK_MIN_60: 5,
        Clause.SANGAT_KURANG_K_BP_MIN_10: 1,
        Clause.SANGAT_KURANG_SB_NONE: 0,
    }


def test_limits_for_a_school_of_forty_match_section_4_4() -> None:
    assert _limits(ISTIMEWA, 40) == {Clause.ISTIMEWA_SB_MAX_70: 28}
    assert _limits(BAIK, 40) == {Clause.BAIK_B_MAX_70: 28, Clause.BAIK_BP_K_MIN_1: 1}
    assert _limits(BUTUH_PERBAIKAN, 40) == {
        Clause.BUTUH_PERBAIKAN_BP_MIN_60: 24,
        Clause.BUTUH_PERBAIKAN_SB_MAX_10: 4,
    }
    assert _limits(KURANG, 40) == {
        Clause.KURANG_K_MIN_60: 24,
        Clause.KURANG_BP_MIN_10: 4,
        Clause.KURANG_SB_MAX_10: 4,
    }
    assert _limits(SANGAT_KURANG, 40) == {
        Clause.SANGAT_KURANG_SK_MIN_60: 24,
        Clause.SANGAT_KURANG_K_BP_MIN_10: 4,
        Clause.SANGAT_KURANG_SB_NONE: 0,
    }


def test_limits_describe_what_is_allowed_for_the_principal() -> None:
    assert [limit.text for limit in limits_for(BAIK, 7)] == [
        "Baik maksimal 4",
        "Butuh Perbaikan atau Kurang minimal 1",
    ]


# --- the V-21 message ----------------------------------------------------------------------------


def test_baik_school_of_seven_without_bp_or_k_is_refused() -> None:
    violations = check_distribution(BAIK, {SB: 2, B: 5})

    assert violations == [
        Violation(Clause.BAIK_B_MAX_70, (B,), Bound.AT_MOST, actual=5, limit=4,
                  text="Baik 5 melebihi batas 4"),
        Violation(Clause.BAIK_BP_K_MIN_1, (BP, K), Bound.AT_LEAST, actual=0, limit=1,
                  text="wajib ada minimal 1 Butuh Perbaikan atau Kurang"),
    ]  # fmt: skip
    assert describe_violations(BAIK, violations) == (
        "Sebaran predikat tidak sesuai dengan Predikat Kinerja Organisasi (Baik): "
        "Baik 5 melebihi batas 4; wajib ada minimal 1 Butuh Perbaikan atau Kurang."
    )


def test_violation_texts_give_the_numbers_for_minima_and_maxima() -> None:
    violations = check_distribution(BUTUH_PERBAIKAN, {SB: 5, B: 12, BP: 23})

    assert [v.text for v in violations] == [
        "Butuh Perbaikan 23 di bawah minimal 24",
        "Sangat Baik 5 melebihi batas 4",
    ]


def test_group_minimum_text_shows_how_many_there_are() -> None:
    (violation,) = check_distribution(SANGAT_KURANG, {B: 12, K: 1, BP: 1, SK: 26})

    assert violation.text == "wajib ada minimal 4 Kurang atau Butuh Perbaikan (ada 2)"


def test_describing_no_violations_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="no violations"):
        describe_violations(BAIK, [])


# --- rounding and edge cases ---------------------------------------------------------------------


def test_school_below_ten_may_have_no_sangat_baik_when_org_needs_improvement() -> None:
    assert [v.clause for v in check_distribution(BUTUH_PERBAIKAN, {SB: 1, BP: 8})] == [
        Clause.BUTUH_PERBAIKAN_SB_MAX_10
    ]
    assert check_distribution(BUTUH_PERBAIKAN, {SB: 1, BP: 9}) == []  # n = 10: cap is 1


def test_seventy_percent_of_ten_is_exactly_seven() -> None:
    # 0.7 * 10 in floating point is 7.000000000000001 and 0.7 * 30 is 20.999999999999996.
    assert _limits(BAIK, 10)[Clause.BAIK_B_MAX_70] == 7
    assert _limits(BAIK, 30)[Clause.BAIK_B_MAX_70] == 21
    assert _limits(KURANG, 10)[Clause.KURANG_K_MIN_60] == 6


def test_empty_school_has_no_violations_whatever_the_org_predikat() -> None:
    for org in OrgPredikat:
        assert check_distribution(org, {}) == []
        assert all(limit.value == 0 for limit in limits_for(org, 0))


def test_sangat_kurang_school_never_allows_sangat_baik() -> None:
    assert [v.clause for v in check_distribution(SANGAT_KURANG, {SB: 1, K: 20, SK: 79})] == [
        Clause.SANGAT_KURANG_SB_NONE
    ]


@pytest.mark.parametrize("org", [KURANG, SANGAT_KURANG])
@pytest.mark.parametrize("n", [1, 2])
def test_kurang_schools_of_one_or_two_cannot_satisfy_the_curve(org: OrgPredikat, n: int) -> None:
    """The 60 % and 10 % minima add up to more than n; reported, not hidden (module docstring)."""
    for first in TeacherPredikat:
        for second in TeacherPredikat:
            counts: Counts = {first: 1}
            if n == 2:
                counts[second] = counts.get(second, 0) + 1
            assert check_distribution(org, counts) != []


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        check_distribution(BAIK, {B: -1, BP: 2})


def test_counts_keyed_by_plain_codes_are_read_like_enum_keys() -> None:
    counts: dict[str, int] = {"SANGAT_BAIK": 2, "BAIK": 5}

    assert len(check_distribution(BAIK, counts)) == 2  # type: ignore[arg-type]


# --- properties ----------------------------------------------------------------------------------

counts_strategy = st.fixed_dictionaries(
    {p: st.integers(min_value=0, max_value=60) for p in TeacherPredikat}
) | st.fixed_dictionaries({p: st.integers(min_value=0, max_value=3) for p in TeacherPredikat})


def _fits_the_curve(org: OrgPredikat, c: Counts) -> bool:
    """§4.2 restated without floor/ceil: for whole counts, x ≤ floor(p·n) ⇔ 100·x ≤ p·n."""
    n = sum(c.values())
    sb, b, bp, k, sk = (c.get(p, 0) for p in (SB, B, BP, K, SK))
    if org is ISTIMEWA:
        return 100 * sb <= 70 * n
    if org is BAIK:
        return 100 * b <= 70 * n and (n == 0 or bp + k >= 1)
    if org is BUTUH_PERBAIKAN:
        return 100 * bp >= 60 * n and 100 * sb <= 10 * n
    if org is KURANG:
        return 100 * k >= 60 * n and 100 * bp >= 10 * n and 100 * sb <= 10 * n
    return 100 * sk >= 60 * n and 100 * (k + bp) >= 10 * n and sb == 0


@given(st.sampled_from(OrgPredikat), counts_strategy)
def test_distribution_is_accepted_iff_every_clause_holds(org: OrgPredikat, counts: Counts) -> None:
    assert (check_distribution(org, counts) == []) == _fits_the_curve(org, counts)


@given(st.sampled_from(OrgPredikat), counts_strategy)
def test_accepted_distribution_respects_every_limit_shown(org: OrgPredikat, counts: Counts) -> None:
    if check_distribution(org, counts):
        return
    for limit in limits_for(org, sum(counts.values())):
        actual = sum(counts[p] for p in limit.predikats)
        if limit.bound is Bound.AT_MOST:
            assert actual <= limit.value
        else:
            assert actual >= limit.value


@given(st.sampled_from(OrgPredikat), counts_strategy)
def test_each_violation_reports_the_numbers_of_a_broken_limit(
    org: OrgPredikat, counts: Counts
) -> None:
    limits = {limit.clause: limit for limit in limits_for(org, sum(counts.values()))}
    for violation in check_distribution(org, counts):
        limit = limits[violation.clause]
        assert violation.limit == limit.value
        assert violation.actual == sum(counts[p] for p in limit.predikats)
        assert not limit.allows(violation.actual)
        assert str(violation.actual) in violation.text or violation.actual == 0
        assert str(violation.limit) in violation.text


@given(st.sampled_from(OrgPredikat), st.integers(min_value=0, max_value=10_000))
def test_limits_never_exceed_the_school_size(org: OrgPredikat, n: int) -> None:
    assert all(0 <= limit.value <= n for limit in limits_for(org, n))
