from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

import kinerja_shared
from kinerja_shared.periods import PeriodCalendar, load_calendar
from planning.domain.catalog import Catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    raw = json.loads(resources.files("planning").joinpath("data", "catalog.json").read_text())
    return Catalog.from_config(raw)


@pytest.fixture(scope="session")
def calendar() -> PeriodCalendar:
    # The shipped calendar, explicitly: a KINERJA_PERIODS_FILE in the environment must not
    # change what these tests see.
    return load_calendar(Path(kinerja_shared.__file__).parent / "data" / "periods.json")
