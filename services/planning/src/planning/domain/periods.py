"""Performance periods and their planning window (DOMAIN.md §3).

Periods are configuration (``periods.json``), not code: the ministry moves dates every year.
Only a stage's ``hard_end`` blocks; ``soft_end`` (the advised first month) only warns, and a
window may run past its period's end, so two periods can be open for planning at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from .errors import RuleViolation

STAGE_CLOSED = "Tahap ini sudah ditutup untuk periode tersebut."
LATE_PLANNING_WARNING = (
    "Perencanaan kinerja disarankan selesai pada bulan pertama periode; segera ajukan."
)
PERIOD_NOT_OPEN = (
    "Periode kinerja belum dibuka atau sudah ditutup. "
    'Pastikan periode yang dipilih adalah "Januari – Desember 2025".'
)


@dataclass(frozen=True)
class StageWindow:
    opens: date
    soft_end: date
    hard_end: date

    def __post_init__(self) -> None:
        if not self.opens <= self.soft_end <= self.hard_end:
            raise ValueError("a stage window needs opens <= soft_end <= hard_end")

    def is_open(self, day: date) -> bool:
        return self.opens <= day <= self.hard_end


@dataclass(frozen=True)
class Period:
    period_id: str
    label: str
    year: int
    start: date
    end: date
    rules_version: int
    plan: StageWindow

    def is_open_for_planning(self, day: date) -> bool:
        return self.plan.is_open(day)

    def planning_is_late(self, day: date) -> bool:
        """Past the advised first month: show a warning, never block."""
        return self.plan.soft_end < day <= self.plan.hard_end


def parse_period(raw: Mapping[str, Any]) -> Period:
    plan = raw["stages"]["plan"]
    period = Period(
        period_id=str(raw["period_id"]),
        label=str(raw["label"]),
        year=int(raw["year"]),
        start=date.fromisoformat(raw["start"]),
        end=date.fromisoformat(raw["end"]),
        rules_version=int(raw["rules_version"]),
        plan=StageWindow(
            opens=date.fromisoformat(plan["opens"]),
            soft_end=date.fromisoformat(plan["soft_end"]),
            hard_end=date.fromisoformat(plan["hard_end"]),
        ),
    )
    if period.start > period.end:
        raise ValueError(f"period {period.period_id} ends before it starts")
    if period.rules_version not in (2024, 2025):
        raise ValueError(f"period {period.period_id}: unknown rules_version")
    return period


class PeriodCalendar:
    def __init__(self, periods: Iterable[Period]) -> None:
        self._by_id: dict[str, Period] = {}
        for p in periods:
            if p.period_id in self._by_id:
                raise ValueError(f"period {p.period_id} is configured twice")
            self._by_id[p.period_id] = p

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> PeriodCalendar:
        return cls(parse_period(p) for p in raw["periods"])

    def __iter__(self) -> Any:
        return iter(sorted(self._by_id.values(), key=lambda p: p.start))

    def get(self, period_id: str) -> Period | None:
        return self._by_id.get(period_id)

    def open_for_planning(self, day: date) -> list[Period]:
        return [p for p in self if p.is_open_for_planning(day)]

    def require_open_for_planning(self, period_id: str, day: date) -> Period:
        """The period, if a plan may be written for it on ``day``; else V-04."""
        period = self.get(period_id)
        if period is None or not period.is_open_for_planning(day):
            open_ids = [p.period_id for p in self.open_for_planning(day)]
            raise RuleViolation("V-04", PERIOD_NOT_OPEN, 422, open_periods=open_ids)
        return period

    def require_plan_stage_open(self, period_id: str, day: date) -> Period:
        """A plan already exists; changing it after the stage's hard_end is V-28."""
        period = self.get(period_id)
        if period is None or not period.is_open_for_planning(day):
            raise RuleViolation("V-28", STAGE_CLOSED, 422, period_id=period_id)
        return period
