"""The shared period calendar of docs/domain.md §3."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from kinerja_shared.periods import ENV_VAR, PeriodCalendar, Stage, load_calendar


@pytest.fixture(scope="module")
def shipped() -> PeriodCalendar:
    return load_calendar()


def _minimal(period_id: str = "X", **extra: Any) -> dict[str, Any]:
    return {
        "period_id": period_id,
        "start": "2026-01-01",
        "end": "2026-12-31",
        "rules_version": 2025,
        **extra,
    }


def test_ships_two_semesters_in_2024_then_one_year_through_2027(shipped: PeriodCalendar) -> None:
    got = {p.period_id: (p.start, p.end, p.rules_version, p.year) for p in shipped}
    assert got == {
        "2024-S1": (date(2024, 1, 1), date(2024, 6, 30), 2024, 2024),
        "2024-S2": (date(2024, 7, 1), date(2024, 12, 31), 2024, 2024),
        "2025": (date(2025, 1, 1), date(2025, 12, 31), 2025, 2025),
        "2026": (date(2026, 1, 1), date(2026, 12, 31), 2025, 2026),
        "2027": (date(2027, 1, 1), date(2027, 12, 31), 2025, 2027),
    }


def test_the_2025_label_is_the_one_the_teacher_must_select(shipped: PeriodCalendar) -> None:
    period = shipped.period("2025")
    assert period is not None
    assert period.label == "Januari – Desember 2025"


def test_pelaksanaan_and_penilaian_close_60_days_after_the_period(
    shipped: PeriodCalendar,
) -> None:
    period = shipped.period("2024-S1")
    assert period is not None
    assert period.pelaksanaan.hard_end == date(2024, 8, 29)
    assert period.penilaian.hard_end == date(2024, 8, 29)
    assert period.is_open(Stage.PELAKSANAAN, date(2024, 8, 29))
    assert not period.is_open(Stage.PELAKSANAAN, date(2024, 8, 30))


def test_two_periods_can_be_open_for_planning_at_once(shipped: PeriodCalendar) -> None:
    open_ids = [p.period_id for p in shipped.open_for(Stage.PLAN, date(2024, 7, 15))]
    assert open_ids == ["2024-S1", "2024-S2"]


def test_planning_for_next_year_opens_in_december(shipped: PeriodCalendar) -> None:
    assert shipped.is_open("2027", Stage.PLAN, date(2026, 12, 10))
    assert not shipped.is_open("2027", Stage.PLAN, date(2026, 12, 9))


def test_after_soft_end_a_stage_is_late_but_still_open(shipped: PeriodCalendar) -> None:
    period = shipped.period("2025")
    assert period is not None
    assert period.is_late("plan", date(2025, 3, 1))
    assert period.is_open("plan", date(2025, 3, 1))
    assert not period.is_late("plan", date(2025, 1, 15))


def test_days_are_wib_calendar_days() -> None:
    calendar = PeriodCalendar.from_config({"periods": [_minimal()]})
    # 31 Dec 2025 18:30 UTC is 1 Jan 2026 01:30 WIB: already in the period.
    assert calendar.containing(datetime(2025, 12, 31, 18, 30, tzinfo=UTC)) is not None
    assert calendar.containing(datetime(2025, 12, 31, 16, 30, tzinfo=UTC)) is None
    period = calendar.period("X")
    assert period is not None
    # hard_end 1 Mar 2027: 23:30 WIB that day is open, 00:30 WIB on 2 March is closed.
    assert period.is_open("pelaksanaan", datetime(2027, 3, 1, 16, 30, tzinfo=UTC))
    assert period.has_closed("pelaksanaan", datetime(2027, 3, 1, 17, 30, tzinfo=UTC))


def test_naive_datetimes_are_refused(shipped: PeriodCalendar) -> None:
    with pytest.raises(ValueError, match="naive"):
        shipped.containing(datetime(2025, 6, 1, 12, 0))  # noqa: DTZ001


def test_containing_finds_the_period_of_a_day(shipped: PeriodCalendar) -> None:
    found = shipped.containing(date(2024, 7, 1))
    assert found is not None
    assert found.period_id == "2024-S2"
    assert shipped.containing(date(2023, 12, 31)) is None


def test_missing_windows_take_the_domain_defaults() -> None:
    period = PeriodCalendar.from_config({"periods": [_minimal()]}).period("X")
    assert period is not None
    assert (period.label, period.year) == ("X", 2026)
    assert (period.plan.opens, period.plan.soft_end, period.plan.hard_end) == (
        date(2026, 1, 1),
        date(2026, 1, 31),
        date(2026, 12, 31),
    )
    assert period.pelaksanaan.hard_end == date(2027, 3, 1)
    assert period.penilaian.hard_end == date(2027, 3, 1)
    assert period.penetapan.hard_end > period.penilaian.hard_end


def test_an_extension_needs_only_the_new_hard_end() -> None:
    raw = _minimal(stage_windows={"penilaian": {"hard_end": "2027-06-30"}})
    period = PeriodCalendar.from_config({"periods": [raw]}).period("X")
    assert period is not None
    assert period.penilaian.opens == date(2026, 1, 1)
    assert period.penilaian.hard_end == date(2027, 6, 30)


def test_grace_days_moves_the_default_hard_end() -> None:
    period = PeriodCalendar.from_config({"periods": [_minimal(grace_days=10)]}).period("X")
    assert period is not None
    assert period.pelaksanaan.hard_end == date(2027, 1, 10)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ([_minimal(), _minimal()], "twice"),
        ([_minimal("A"), _minimal("B")], "overlap"),
        ([_minimal(start="2026-12-31", end="2026-01-01")], "before it starts"),
        ([_minimal(rules_version=2023)], "rules_version"),
        ([_minimal(stage_windows={"observasi": {}})], "unknown stage"),
        (
            [_minimal(stage_windows={"pelaksanaan": {"hard_end": "2026-06-30"}})],
            "opens <= soft_end <= hard_end",
        ),
        (
            [
                _minimal(
                    stage_windows={
                        "penilaian": {"soft_end": "2026-06-01", "hard_end": "2026-06-30"}
                    }
                )
            ],
            "closes before the end",
        ),
    ],
)
def test_a_broken_calendar_is_refused_at_load(raw: list[dict[str, Any]], match: str) -> None:
    with pytest.raises((ValueError, ValidationError), match=match):
        PeriodCalendar.from_config({"periods": raw})


def test_env_var_replaces_the_shipped_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "periods.json"
    path.write_text(json.dumps({"periods": [_minimal("2099")]}), encoding="utf-8")
    monkeypatch.setenv(ENV_VAR, str(path))
    assert [p.period_id for p in load_calendar()] == ["2099"]
    # An explicit path wins over the environment.
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing.json"))
    assert [p.period_id for p in load_calendar(path)] == ["2099"]
