"""Planning's rules over the shared period calendar (docs/domain.md §3, ``kinerja_shared.periods``).

The dates are configuration every service shares; what planning adds is how it refuses: a plan
may only be opened for a period whose plan stage is open (V-04), an existing plan only changes
until the stage's ``hard_end`` (V-28), and after ``soft_end`` (the advised first month) the plan
only carries a warning.
"""

from __future__ import annotations

from datetime import date

from kinerja_shared.periods import Period, PeriodCalendar, Stage
from kinerja_shared.refusal import Refusal

STAGE_CLOSED = "Tahap ini sudah ditutup untuk periode tersebut."
LATE_PLANNING_WARNING = (
    "Perencanaan kinerja disarankan selesai pada bulan pertama periode; segera ajukan."
)
PERIOD_NOT_OPEN = "Periode kinerja belum dibuka atau sudah ditutup."


def period_not_open_message(open_labels: list[str]) -> str:
    """V-04 names the period(s) open today, never a fixed year: the calendar moves on."""
    if not open_labels:
        return f"{PERIOD_NOT_OPEN} Saat ini tidak ada periode yang dibuka untuk perencanaan."
    quoted = " atau ".join(f'"{label}"' for label in open_labels)
    return f"{PERIOD_NOT_OPEN} Pastikan periode yang dipilih adalah {quoted}."


def open_for_planning(calendar: PeriodCalendar, day: date) -> list[Period]:
    return calendar.open_for(Stage.PLAN, day)


def planning_is_late(period: Period, day: date) -> bool:
    """Past the advised first month: show a warning, never block."""
    return period.is_late(Stage.PLAN, day)


def require_open_for_planning(calendar: PeriodCalendar, period_id: str, day: date) -> Period:
    """The period, if a plan may be written for it on ``day``; else V-04."""
    period = calendar.period(period_id)
    if period is None or not period.is_open(Stage.PLAN, day):
        opened = open_for_planning(calendar, day)
        raise Refusal(
            "V-04",
            period_not_open_message([p.label for p in opened]),
            open_periods=[p.period_id for p in opened],
        )
    return period


def require_plan_stage_open(calendar: PeriodCalendar, period_id: str, day: date) -> Period:
    """A plan already exists; changing it after the stage's hard_end is V-28."""
    period = calendar.period(period_id)
    if period is None or not period.is_open(Stage.PLAN, day):
        raise Refusal("V-28", STAGE_CLOSED, period_id=period_id)
    return period
