"""Periods and the clock (docs/domain.md §3).

The periods are the calendar every service shares (``kinerja_shared.periods``), loaded once at
start-up and handed in, so an observation's period is the one its plan was agreed for. Days are
WIB calendar days: an observation at 06:30 WIB on 1 January is inside the year although it is
still 31 December in UTC. The pelaksanaan stage stays open after the period ends (the ministry
reopens it when there were problems) until its ``hard_end``, the only blocking date.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from kinerja_shared.periods import WIB, Period, PeriodCalendar, Stage, wib_day

from .refusals import stage_closed

__all__ = [
    "WIB",
    "Clock",
    "Period",
    "PeriodCalendar",
    "check_pelaksanaan_open",
    "local_day",
    "system_clock",
]

Clock = Callable[[], datetime]
"""Returns the current instant (timezone-aware); injected so tests can live in any period."""


def system_clock() -> datetime:
    return datetime.now(UTC)


def local_day(instant: datetime) -> date:
    return wib_day(instant)


def check_pelaksanaan_open(calendar: PeriodCalendar, period_id: str, now: datetime) -> None:
    """V-28 once the pelaksanaan stage of ``period_id`` is past its hard_end.

    An unknown period is left to the caller: it has no observation, which is V-12.
    """
    period = calendar.period(period_id)
    if period is not None and period.has_closed(Stage.PELAKSANAAN, now):
        raise stage_closed()
