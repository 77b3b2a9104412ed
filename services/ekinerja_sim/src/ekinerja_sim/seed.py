"""Start-up state read from the JSON file named by ``EKINERJA_SIM_SEED_FILE``."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ekinerja_sim.faults import FaultConfig
from ekinerja_sim.refusals import RefusalCode


class Seed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refusals: dict[str, list[RefusalCode]] = Field(default_factory=dict)
    faults: FaultConfig = Field(default_factory=FaultConfig)


def load_seed(path: Path | None) -> Seed:
    if path is None:
        return Seed()
    return Seed.model_validate_json(path.read_bytes())
