"""Loads the configured periods and catalog once per process; routes read them from here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .config import Settings
from .domain.catalog import Catalog
from .domain.periods import PeriodCalendar


def _load(override: Path | None, packaged: str) -> Any:
    if override is not None:
        return json.loads(override.read_text(encoding="utf-8"))
    return json.loads(resources.files("planning").joinpath("data", packaged).read_text("utf-8"))


@dataclass(frozen=True)
class PlanningRules:
    calendar: PeriodCalendar
    catalog: Catalog

    @classmethod
    def load(cls, settings: Settings) -> PlanningRules:
        # Fails at start-up, not on the first request, when the configuration is broken.
        return cls(
            calendar=PeriodCalendar.from_config(_load(settings.periods_file, "periods.json")),
            catalog=Catalog.from_config(_load(settings.catalog_file, "catalog.json")),
        )
