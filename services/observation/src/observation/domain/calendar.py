"""Periods and the clock (DOMAIN.md §3).

The periods come from the calendar every service shares (``kinerja_shared.periods``: the
shipped file, or ``KINERJA_PERIODS_FILE``), so an observation's period is the one its plan was
agreed for. Days are WIB calendar days: an observation at 06:30 WIB on 1 January is inside the
year although it is still 31 December in UTC. The pelaksanaan stage stays open after the period
ends (the ministry reopens it when there were problems) until its ``hard_end``, the only
blocking date.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import cache

from kinerja_shared.periods import WIB, Period, PeriodCalendar, Stage, load_calendar, wib_day

from .errors import stage_closed

__all__ = [
    "WIB",
    "Clock",
    "Period",
    "check_pelaksanaan_open",
    "find_period",
    "local_day",
    "periods",
    "system_clock",
]

Clock = Callable[[], datetime]
"""Returns the current instant (timezone-aware); injected so tests can live in any period."""


def system_clock() -> datetime:
    return datetime.now(UTC)


def local_day(instant: datetime) -> date:
    return wib_day(instant)


@cache
def periods() -> PeriodCalendar:
    """Loaded once per process; a broken file fails the first use, which is start-up."""
    return load_calendar()


def find_period(period_id: str) -> Period | None:
    return periods().period(period_id)


def check_pelaksanaan_open(period_id: str, now: datetime) -> None:
    """V-28 once the pelaksanaan stage of ``period_id`` is past its hard_end.

    An unknown period is left to the caller: it has no observation, which is V-12.
    """
    period = find_period(period_id)
    if period is not None and period.has_closed(Stage.PELAKSANAAN, now):
        raise stage_closed()
