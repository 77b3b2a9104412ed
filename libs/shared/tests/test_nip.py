"""NIP rules of docs/domain.md §6.2 (V-24)."""

from __future__ import annotations

from calendar import monthrange
from datetime import date

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from kinerja_shared.nip import (
    NIP_INVALID_MESSAGE,
    Gender,
    NipInvalid,
    NipKind,
    YearMonth,
    parse_nip,
    validate_nip,
)

TODAY = date(2025, 7, 1)
EXAMPLE = "198609262015051001"  # §6.2: born 1986-09-26, CPNS May 2015, male, #001


def _nip(birth: date, tmt: YearMonth, gender_digit: str, sequence: int) -> str:
    return f"{birth:%Y%m%d}{tmt.year:04d}{tmt.month:02d}{gender_digit}{sequence:03d}"


def _add_months(ym: YearMonth, months: int) -> YearMonth:
    index = ym.index + months
    return YearMonth(index // 12, index % 12 + 1)


@st.composite
def valid_pns(draw: st.DrawFn) -> tuple[str, date]:
    """A PNS NIP valid on the drawn ``today``, built from the §6.2 rules, not from the code."""
    today = draw(st.dates(min_value=date(1950, 1, 1), max_value=date(2100, 12, 31)))
    birth = draw(st.dates(min_value=date(1880, 1, 1), max_value=date(today.year - 18, 1, 1)))
    earliest = _add_months(YearMonth.of(birth), 18 * 12)
    latest = min(_add_months(YearMonth.of(birth), 71 * 12 - 1), YearMonth.of(today))
    assume(earliest <= latest)
    tmt = _add_months(earliest, draw(st.integers(0, latest.index - earliest.index)))
    nip = _nip(
        birth, tmt, draw(st.sampled_from("12")), draw(st.integers(min_value=1, max_value=999))
    )
    return nip, today


def _rejected(nip: str, *, today: date = TODAY, kind: NipKind = "PNS") -> bool:
    try:
        validate_nip(nip, today=today, kind=kind)
    except NipInvalid:
        return True
    return False


# --- the worked example ------------------------------------------------------------------------


def test_worked_example_is_a_valid_pns_nip() -> None:
    check = validate_nip(EXAMPLE, today=TODAY, kind="PNS")

    assert check.birth_date == date(1986, 9, 26)
    assert check.tmt == YearMonth(2015, 5)
    assert check.gender is Gender.LAKI_LAKI
    assert check.sequence == 1


def test_worked_example_parses_into_its_four_fields() -> None:
    parts = parse_nip(EXAMPLE)

    assert (parts.birth_date, parts.tmt, parts.gender, parts.sequence) == (
        date(1986, 9, 26),
        YearMonth(2015, 5),
        Gender.LAKI_LAKI,
        1,
    )


def test_digit_fifteen_two_is_female() -> None:
    assert parse_nip("198609262015052001").gender is Gender.PEREMPUAN


def test_invalid_nip_carries_the_v24_message() -> None:
    with pytest.raises(NipInvalid) as caught:
        validate_nip("123", today=TODAY, kind="PNS")

    assert caught.value.code == "V-24"
    assert caught.value.message == NIP_INVALID_MESSAGE == "NIP tidak valid."


# --- format --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "nip",
    [
        "",
        "19860926201505100",  # 17 digits
        "1986092620150510011",  # 19 digits
        "19860926 201505 1 001",  # display grouping is never stored
        " 198609262015051001",
        "198609262015051001\n",
        "19860926201505100A",
        "١٩٨٦٠٩٢٦٢٠١٥٠٥١٠٠١",  # Arabic-Indic digits pass str.isdigit but are not a NIP
    ],
)
@pytest.mark.parametrize("kind", ["PNS", "PPPK"])
def test_anything_but_eighteen_ascii_digits_is_refused(nip: str, kind: NipKind) -> None:
    assert _rejected(nip, kind=kind)


# --- PNS rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "nip",
    [
        "198602302015051001",  # 30 February
        "198613262015051001",  # month 13
        "198600262015051001",  # month 00
        "198609002015051001",  # day 00
        "198502292015051001",  # 29 February in a non-leap year
    ],
)
def test_pns_with_impossible_birth_date_is_refused(nip: str) -> None:
    assert _rejected(nip)


@pytest.mark.parametrize("tmt", ["201500", "201513"])
def test_pns_with_impossible_tmt_month_is_refused(tmt: str) -> None:
    assert _rejected(f"19860926{tmt}1001")


def test_pns_appointed_before_eighteen_is_refused() -> None:
    assert _rejected("198609262004081001")  # 17 years 11 months at TMT


def test_pns_appointed_in_the_month_of_the_eighteenth_birthday_is_accepted() -> None:
    assert not _rejected("198609262004091001")


def test_pns_appointed_at_seventy_is_accepted_but_not_at_seventy_one() -> None:
    assert not _rejected("195003152021021001", today=TODAY)  # 70 years 11 months
    assert _rejected("195003152021031001", today=TODAY)  # 71 years


def test_pns_with_tmt_after_today_is_refused() -> None:
    assert _rejected("198609262025081001", today=date(2025, 7, 31))


def test_pns_with_tmt_in_the_current_month_is_accepted() -> None:
    assert not _rejected("198609262025071001", today=date(2025, 7, 1))


def test_pns_with_sequence_000_is_refused() -> None:
    assert _rejected("198609262015051000")


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown NIP kind") as caught:
        validate_nip(EXAMPLE, today=TODAY, kind="CPNS")  # type: ignore[arg-type]

    assert not isinstance(caught.value, NipInvalid)


# --- PPPK rules ----------------------------------------------------------------------------------


def test_pppk_checks_only_digits_and_birth_date() -> None:
    # Gender 0, sequence 000 and a "TMT" before birth would all fail for a PNS.
    check = validate_nip("198609261980130000", today=TODAY, kind="PPPK")

    assert check.birth_date == date(1986, 9, 26)
    assert (check.tmt, check.gender, check.sequence) == (None, None, None)


def test_pppk_with_impossible_birth_date_is_refused() -> None:
    assert _rejected("198602302015051001", kind="PPPK")


def test_pppk_born_after_today_is_refused() -> None:
    assert _rejected("202601012025051001", today=TODAY, kind="PPPK")


# --- properties ----------------------------------------------------------------------------------


@given(valid_pns())
def test_every_generated_valid_pns_nip_passes(case: tuple[str, date]) -> None:
    nip, today = case

    check = validate_nip(nip, today=today, kind="PNS")

    assert check.nip == nip
    assert f"{check.birth_date:%Y%m%d}" == nip[:8]


@given(valid_pns())
def test_every_generated_valid_pns_nip_is_also_a_valid_pppk_number(case: tuple[str, date]) -> None:
    nip, today = case

    assert not _rejected(nip, today=today, kind="PPPK")


@given(valid_pns(), st.sampled_from("03456789"))
def test_any_other_gender_digit_fails(case: tuple[str, date], digit: str) -> None:
    nip, today = case

    assert _rejected(nip[:14] + digit + nip[15:], today=today)


@given(valid_pns())
def test_sequence_000_fails_for_any_otherwise_valid_nip(case: tuple[str, date]) -> None:
    nip, today = case

    assert _rejected(nip[:15] + "000", today=today)


@given(valid_pns(), st.integers(0, 99), st.integers(0, 99))
def test_impossible_birth_date_fails(case: tuple[str, date], month: int, day: int) -> None:
    nip, today = case
    year = int(nip[:4])
    assume(not (1 <= month <= 12 and 1 <= day <= monthrange(year, month)[1]))

    corrupted = f"{nip[:4]}{month:02d}{day:02d}{nip[8:]}"

    assert _rejected(corrupted, today=today)
    assert _rejected(corrupted, today=today, kind="PPPK")


@given(valid_pns(), st.sampled_from([0, *range(13, 100)]))
def test_impossible_tmt_month_fails(case: tuple[str, date], month: int) -> None:
    nip, today = case

    assert _rejected(f"{nip[:12]}{month:02d}{nip[14:]}", today=today)


@given(valid_pns(), st.integers(0, 17), st.sampled_from("0123456789"))
def test_single_digit_corruption_never_crashes(
    case: tuple[str, date], pos: int, digit: str
) -> None:
    """Any one-digit change either passes or raises NipInvalid, never another error."""
    nip, today = case

    _rejected(nip[:pos] + digit + nip[pos + 1 :], today=today)
