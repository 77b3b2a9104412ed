"""The one period calendar every service reads (docs/domain.md §3).

Periods are configuration, not code: the ministry moves dates every year and reopens stages
when a region had problems, so the dates live in ``data/periods.json`` (shipped) or in the file
named by ``KINERJA_PERIODS_FILE``. Every service must see the same file: ``period_id`` is the
contract between them (it travels in every event).

Dates are calendar days in WIB (UTC+7), inclusive, where most schools are: 06:30 WIB on
1 January is already the new year although it is still 31 December in UTC. Only a stage's
``hard_end`` blocks; ``soft_end`` is advice (a warning), and windows may run past their period's
end, so two periods can be open for the same stage at once.
"""

from __future__ import annotations

import calendar as _gregorian
import itertools
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "DEFAULT_GRACE_DAYS",
    "ENV_VAR",
    "WIB",
    "Period",
    "PeriodCalendar",
    "Stage",
    "StageWindow",
    "load_calendar",
    "wib_day",
]

WIB = timezone(timedelta(hours=7), "WIB")
ENV_VAR = "KINERJA_PERIODS_FILE"
# docs/domain.md §3: pelaksanaan and penilaian stay open 60 days past the period end unless
# configured otherwise.
DEFAULT_GRACE_DAYS = 60
# After penilaian closes the KS still needs time to set and send predikat [D].
PENETAPAN_EXTRA_DAYS = 30


class Stage(StrEnum):
    PLAN = "plan"
    PELAKSANAAN = "pelaksanaan"
    PENILAIAN = "penilaian"
    PENETAPAN = "penetapan"


def wib_day(on: date | datetime) -> date:
    """The WIB calendar day of ``on``; a plain ``date`` is taken as already being one."""
    if isinstance(on, datetime):
        if on.tzinfo is None:
            raise ValueError("a naive datetime has no calendar day; pass an aware one")
        return on.astimezone(WIB).date()
    return on


class StageWindow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    opens: date
    soft_end: date
    hard_end: date

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.opens <= self.soft_end <= self.hard_end:
            raise ValueError("a stage window needs opens <= soft_end <= hard_end")
        return self

    def is_open(self, on: date | datetime) -> bool:
        return self.opens <= wib_day(on) <= self.hard_end

    def is_late(self, on: date | datetime) -> bool:
        """Past the advised end but still open: warn, never block."""
        return self.soft_end < wib_day(on) <= self.hard_end

    def has_closed(self, on: date | datetime) -> bool:
        return wib_day(on) > self.hard_end


def _end_of_first_month(start: date) -> date:
    return start.replace(day=_gregorian.monthrange(start.year, start.month)[1])


def _default_windows(start: date, end: date, grace_days: int) -> dict[Stage, dict[str, date]]:
    grace_end = end + timedelta(days=grace_days)
    return {
        # "disarankan dilakukan pada bulan pertama" [S]: advice only, the period is the limit.
        Stage.PLAN: {"opens": start, "soft_end": _end_of_first_month(start), "hard_end": end},
        Stage.PELAKSANAAN: {"opens": start, "soft_end": end, "hard_end": grace_end},
        Stage.PENILAIAN: {"opens": start, "soft_end": end, "hard_end": grace_end},
        Stage.PENETAPAN: {
            "opens": start,
            "soft_end": grace_end,
            "hard_end": grace_end + timedelta(days=PENETAPAN_EXTRA_DAYS),
        },
    }


class Period(BaseModel):
    """One performance period. A stage window given partly in the file is completed from the
    defaults field by field, so an extension needs only the new ``hard_end``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    period_id: str = Field(min_length=1)
    label: str
    year: int
    start: date
    end: date
    rules_version: Literal[2024, 2025] = Field(
        description="Which juknis applies: 2024 (Perdirjen 7607/2023) or 2025 (Kepdirjen 4242)."
    )
    grace_days: int = Field(default=DEFAULT_GRACE_DAYS, ge=0)
    plan: StageWindow
    pelaksanaan: StageWindow
    penilaian: StageWindow
    penetapan: StageWindow

    @model_validator(mode="before")
    @classmethod
    def _complete(cls, raw: Any) -> Any:
        if not isinstance(raw, Mapping) or "start" not in raw or "end" not in raw:
            return raw
        data = dict(raw)
        start, end = date.fromisoformat(str(data["start"])), date.fromisoformat(str(data["end"]))
        if start > end:
            raise ValueError(f"period {data.get('period_id')} ends before it starts")
        data.setdefault("label", data.get("period_id"))
        data.setdefault("year", start.year)
        given: Mapping[str, Any] = data.pop("stage_windows", None) or {}
        unknown = set(given) - {s.value for s in Stage}
        if unknown:
            raise ValueError(f"unknown stage(s) {sorted(unknown)}")
        grace = int(data.get("grace_days", DEFAULT_GRACE_DAYS))
        for stage, defaults in _default_windows(start, end, grace).items():
            data[stage.value] = {**defaults, **(given.get(stage.value) or {})}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for stage in (Stage.PELAKSANAAN, Stage.PENILAIAN):
            if self.window(stage).hard_end < self.end:
                raise ValueError(f"period {self.period_id}: {stage} closes before the end")
        return self

    def window(self, stage: Stage | str) -> StageWindow:
        window: StageWindow = getattr(self, Stage(stage).value)
        return window

    def is_open(self, stage: Stage | str, on: date | datetime) -> bool:
        """May ``stage`` of this period take writes on ``on`` (a WIB day)?"""
        return self.window(stage).is_open(on)

    def is_late(self, stage: Stage | str, on: date | datetime) -> bool:
        return self.window(stage).is_late(on)

    def has_closed(self, stage: Stage | str, on: date | datetime) -> bool:
        return self.window(stage).has_closed(on)

    def contains(self, on: date | datetime) -> bool:
        return self.start <= wib_day(on) <= self.end


class PeriodCalendar:
    """All configured periods, by id and in start order."""

    def __init__(self, periods: Iterable[Period]) -> None:
        by_id: dict[str, Period] = {}
        for p in periods:
            if p.period_id in by_id:
                raise ValueError(f"period {p.period_id} is configured twice")
            by_id[p.period_id] = p
        ordered = sorted(by_id.values(), key=lambda p: p.start)
        # Stage windows may overlap; the periods themselves may not, or "the period of this
        # day" would be ambiguous.
        for before, after in itertools.pairwise(ordered):
            if after.start <= before.end:
                raise ValueError(f"periods {before.period_id} and {after.period_id} overlap")
        self._by_id = by_id
        self._ordered = tuple(ordered)

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> PeriodCalendar:
        return cls(Period.model_validate(p) for p in raw["periods"])

    def __iter__(self) -> Iterator[Period]:
        return iter(self._ordered)

    def __len__(self) -> int:
        return len(self._ordered)

    def period(self, period_id: str) -> Period | None:
        return self._by_id.get(period_id)

    def containing(self, on: date | datetime) -> Period | None:
        """The period whose start–end holds the WIB day of ``on``."""
        return next((p for p in self._ordered if p.contains(on)), None)

    def open_for(self, stage: Stage | str, on: date | datetime) -> list[Period]:
        """Every period whose ``stage`` takes writes on ``on``: there may be two."""
        return [p for p in self._ordered if p.is_open(stage, on)]

    def is_open(self, period_id: str, stage: Stage | str, on: date | datetime) -> bool:
        period = self.period(period_id)
        return period is not None and period.is_open(stage, on)


def load_calendar(path: Path | str | None = None) -> PeriodCalendar:
    """The calendar from ``path``, else from ``$KINERJA_PERIODS_FILE``, else the shipped one.

    Raises on a broken file: a service should refuse to start, not fail on its first request.
    """
    chosen = path or os.environ.get(ENV_VAR) or None
    if chosen is not None:
        text = Path(chosen).read_text(encoding="utf-8")
    else:
        text = resources.files("kinerja_shared").joinpath("data", "periods.json").read_text("utf-8")
    return PeriodCalendar.from_config(json.loads(text))
