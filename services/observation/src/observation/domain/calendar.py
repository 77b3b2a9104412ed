"""Periods and the clock (DOMAIN.md §3).

Period bounds are calendar days; we read them in WIB (UTC+7), where most schools are, so an
observation at 06:30 WIB on 1 January is inside the year even though it is 31 December in UTC.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path

WIB = timezone(timedelta(hours=7), "WIB")

Clock = Callable[[], datetime]
"""Returns the current instant (timezone-aware); injected so tests can live in any period."""


def system_clock() -> datetime:
    return datetime.now(UTC)


def local_day(instant: datetime) -> date:
    return instant.astimezone(WIB).date()


@dataclass(frozen=True)
class Period:
    period_id: str
    start: date
    end: date

    def contains(self, instant: datetime) -> bool:
        return self.start <= local_day(instant) <= self.end


def parse_periods(raw: Mapping[str, object]) -> dict[str, Period]:
    periods: dict[str, Period] = {}
    for item in raw["periods"]:  # type: ignore[attr-defined]
        period = Period(
            period_id=str(item["period_id"]),
            start=date.fromisoformat(item["start"]),
            end=date.fromisoformat(item["end"]),
        )
        if period.start > period.end:
            raise ValueError(f"period {period.period_id} ends before it starts")
        periods[period.period_id] = period
    return periods


@cache
def periods() -> dict[str, Period]:
    path = Path(__file__).parent.parent / "data" / "periods.json"
    loaded: dict[str, Period] = parse_periods(json.loads(path.read_text(encoding="utf-8")))
    return loaded


def find_period(period_id: str) -> Period | None:
    return periods().get(period_id)
