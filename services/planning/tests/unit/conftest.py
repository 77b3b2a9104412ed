from __future__ import annotations

import json
from importlib import resources

import pytest

from planning.domain.catalog import Catalog
from planning.domain.periods import PeriodCalendar


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    raw = json.loads(resources.files("planning").joinpath("data", "catalog.json").read_text())
    return Catalog.from_config(raw)


@pytest.fixture(scope="session")
def calendar() -> PeriodCalendar:
    raw = json.loads(resources.files("planning").joinpath("data", "periods.json").read_text())
    return PeriodCalendar.from_config(raw)
