"""What observation's routes and subscribers share for the process's life, reached, typed, as
``runtime.parts``: the rules loaded at start-up, and the clock that says what "today" is (what
is in the past, V-13, and when an observation is due)."""

from __future__ import annotations

from dataclasses import dataclass

from kinerja_shared.service import Runtime

from .config import Settings
from .domain.calendar import Clock
from .rules import ObservationRules


@dataclass(frozen=True)
class Parts:
    rules: ObservationRules
    clock: Clock


ObservationRuntime = Runtime[Settings, Parts]
