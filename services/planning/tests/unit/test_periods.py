from __future__ import annotations

from datetime import date

import pytest

from kinerja_shared.periods import PeriodCalendar
from kinerja_shared.refusal import Kind, Refusal
from planning.domain.periods import (
    PERIOD_NOT_OPEN,
    open_for_planning,
    planning_is_late,
    require_open_for_planning,
    require_plan_stage_open,
)


def test_ships_the_shared_periods_with_their_rules_versions(calendar: PeriodCalendar) -> None:
    got = {p.period_id: (p.start, p.end, p.rules_version) for p in calendar}
    assert got == {
        "2024-S1": (date(2024, 1, 1), date(2024, 6, 30), 2024),
        "2024-S2": (date(2024, 7, 1), date(2024, 12, 31), 2024),
        "2025": (date(2025, 1, 1), date(2025, 12, 31), 2025),
        "2026": (date(2026, 1, 1), date(2026, 12, 31), 2025),
        "2027": (date(2027, 1, 1), date(2027, 12, 31), 2025),
    }


def test_first_semester_stays_open_while_the_second_runs(calendar: PeriodCalendar) -> None:
    open_ids = [p.period_id for p in open_for_planning(calendar, date(2024, 7, 15))]
    assert open_ids == ["2024-S1", "2024-S2"]


def test_planning_after_the_first_month_only_warns(calendar: PeriodCalendar) -> None:
    period = require_open_for_planning(calendar, "2025", date(2025, 3, 1))
    assert planning_is_late(period, date(2025, 3, 1))
    assert not planning_is_late(period, date(2025, 1, 15))


@pytest.mark.parametrize(
    ("period_id", "day"),
    [
        ("2025", date(2026, 2, 1)),  # after hard_end
        ("2026", date(2025, 6, 1)),  # not yet open
        ("2030", date(2025, 6, 1)),  # unknown
    ],
)
def test_closed_or_unknown_period_is_refused_with_v04(
    calendar: PeriodCalendar, period_id: str, day: date
) -> None:
    with pytest.raises(Refusal) as caught:
        require_open_for_planning(calendar, period_id, day)
    assert (caught.value.code, caught.value.kind) == ("V-04", Kind.INVALID)
    assert caught.value.message.startswith(PERIOD_NOT_OPEN)


@pytest.mark.parametrize(
    ("day", "named", "detail"),
    [
        (date(2026, 3, 1), '"Januari – Desember 2026"', ["2026"]),
        (
            date(2025, 12, 20),
            '"Januari – Desember 2025" atau "Januari – Desember 2026"',
            ["2025", "2026"],
        ),
    ],
)
def test_v04_names_the_periods_open_that_day_never_a_fixed_year(
    calendar: PeriodCalendar, day: date, named: str, detail: list[str]
) -> None:
    with pytest.raises(Refusal) as caught:
        require_open_for_planning(calendar, "2024-S1", day)
    assert caught.value.message.endswith(f"Pastikan periode yang dipilih adalah {named}.")
    assert caught.value.detail["open_periods"] == detail


def test_v04_says_so_when_no_period_is_open() -> None:
    empty = PeriodCalendar([])
    with pytest.raises(Refusal) as caught:
        require_open_for_planning(empty, "2026", date(2026, 3, 1))
    assert "tidak ada periode yang dibuka" in caught.value.message


def test_changing_a_plan_after_hard_end_is_v28(calendar: PeriodCalendar) -> None:
    with pytest.raises(Refusal) as caught:
        require_plan_stage_open(calendar, "2024-S1", date(2024, 8, 1))
    assert caught.value.code == "V-28"


def test_a_period_configured_twice_is_rejected() -> None:
    raw = {
        "periods": [
            {
                "period_id": "X",
                "label": "x",
                "year": 2025,
                "start": "2025-01-01",
                "end": "2025-12-31",
                "rules_version": 2025,
                "stage_windows": {
                    "plan": {
                        "opens": "2025-01-01",
                        "soft_end": "2025-01-31",
                        "hard_end": "2025-12-31",
                    }
                },
            }
        ]
        * 2
    }
    with pytest.raises(ValueError, match="twice"):
        PeriodCalendar.from_config(raw)
