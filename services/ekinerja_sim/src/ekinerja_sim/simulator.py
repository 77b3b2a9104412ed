"""The simulator's whole in-memory state, shared by every endpoint of one app."""

from __future__ import annotations

from dataclasses import dataclass

from ekinerja_sim.faults import FaultInjector
from ekinerja_sim.ledger import Ledger
from ekinerja_sim.refusals import RefusalBook
from ekinerja_sim.seed import Seed, load_seed
from ekinerja_sim.settings import SimSettings


@dataclass
class Simulator:
    settings: SimSettings
    seed: Seed
    ledger: Ledger
    refusals: RefusalBook
    faults: FaultInjector

    @classmethod
    def from_settings(cls, settings: SimSettings) -> Simulator:
        sim = cls(
            settings=settings,
            seed=load_seed(settings.seed_file),
            ledger=Ledger(max_attempts_kept=settings.max_attempts_kept),
            refusals=RefusalBook(),
            faults=FaultInjector(),
        )
        sim.reset()
        return sim

    def reset(self) -> None:
        """Back to the state at start: empty ledger, seeded refusals and faults."""
        self.faults.configure(self.seed.faults)
        self.refusals.replace_all(self.seed.refusals)
        self.ledger.clear()
