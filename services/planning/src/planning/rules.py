"""Loads the period calendar and the catalog once per process; routes read them from here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from kinerja_shared.periods import PeriodCalendar, load_calendar

from .config import Settings
from .domain.catalog import Catalog


@dataclass(frozen=True)
class PlanningRules:
    calendar: PeriodCalendar
    catalog: Catalog

    @classmethod
    def load(cls, settings: Settings) -> PlanningRules:
        # Fails at start-up, not on the first request, when the configuration is broken.
        if settings.catalog_file is not None:
            raw = settings.catalog_file.read_text(encoding="utf-8")
        else:
            raw = resources.files("planning").joinpath("data", "catalog.json").read_text("utf-8")
        return cls(
            calendar=load_calendar(settings.periods_file),
            catalog=Catalog.from_config(json.loads(raw)),
        )
