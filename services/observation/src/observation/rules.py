"""Loads the period calendar and the rubrics once per process; routes and subscribers read them
from the runtime and hand them to the pure rules."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from kinerja_shared.periods import PeriodCalendar, load_calendar

from .domain.rubric import Rubrics, parse_rubrics


def packaged_rubrics() -> Rubrics:
    raw = resources.files("observation").joinpath("data", "rubric.json").read_text("utf-8")
    return parse_rubrics(json.loads(raw))


@dataclass(frozen=True)
class ObservationRules:
    calendar: PeriodCalendar
    rubrics: Rubrics

    @classmethod
    def load(cls) -> ObservationRules:
        """The calendar every service shares (``KINERJA_PERIODS_FILE``, else the shipped one)
        and the packaged rubrics. Called at start-up, so broken configuration stops the process
        instead of failing the first request or event."""
        return cls(calendar=load_calendar(), rubrics=packaged_rubrics())
