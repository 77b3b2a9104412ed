"""Periods and the clock (DOMAIN.md §3).

Period bounds are calendar days; we read them in WIB (UTC+7), where most schools are, so an
observation at 06:30 WIB on 1 January is inside the year even though it is 31 December in UTC.
The pelaksanaan stage stays open after the period ends (the ministry reopens it when there were
problems) until its ``hard_end``, the only blocking date: period end + 60 days unless the period
says otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path

from .errors import stage_closed

WIB = timezone(timedelta(hours=7), "WIB")
DEFAULT_PELAKSANAAN_GRACE = timedelta(days=60)

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
    rules_version: int = 2025
    pelaksanaan_hard_end: date | None = None

    def contains(self, instant: datetime) -> bool:
        return self.start <= local_day(instant) <= self.end

    @property
    def pelaksanaan_closes(self) -> date:
        """The last day (WIB, inclusive) on which the pelaksanaan stage accepts writes."""
        return self.pelaksanaan_hard_end or self.end + DEFAULT_PELAKSANAAN_GRACE

    def pelaksanaan_closed(self, instant: datetime) -> bool:
        return local_day(instant) > self.pelaksanaan_closes


def parse_periods(raw: Mapping[str, object]) -> dict[str, Period]:
    periods: dict[str, Period] = {}
    for item in raw["periods"]:  # type: ignore[attr-defined]
        hard_end = item.get("stage_windows", {}).get("pelaksanaan", {}).get("hard_end")
        period = Period(
            period_id=str(item["period_id"]),
            start=date.fromisoformat(item["start"]),
            end=date.fromisoformat(item["end"]),
            rules_version=int(item.get("rules_version", 2025)),
            pelaksanaan_hard_end=date.fromisoformat(hard_end) if hard_end else None,
        )
        if period.start > period.end:
            raise ValueError(f"period {period.period_id} ends before it starts")
        if period.rules_version not in (2024, 2025):
            raise ValueError(f"period {period.period_id}: unknown rules_version")
        if period.pelaksanaan_closes < period.end:
            raise ValueError(f"period {period.period_id}: pelaksanaan closes before the end")
        periods[period.period_id] = period
    return periods


@cache
def periods() -> dict[str, Period]:
    path = Path(__file__).parent.parent / "data" / "periods.json"
    loaded: dict[str, Period] = parse_periods(json.loads(path.read_text(encoding="utf-8")))
    return loaded


def find_period(period_id: str) -> Period | None:
    return periods().get(period_id)


def check_pelaksanaan_open(period_id: str, now: datetime) -> None:
    """V-28 once the pelaksanaan stage of ``period_id`` is past its hard_end.

    An unknown period is left to the caller: it has no observation, which is V-12.
    """
    period = find_period(period_id)
    if period is not None and period.pelaksanaan_closed(now):
        raise stage_closed()
