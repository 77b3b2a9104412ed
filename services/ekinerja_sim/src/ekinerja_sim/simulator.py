"""The simulator's whole in-memory state, shared by every endpoint of one app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ekinerja_sim.faults import FaultInjector
from ekinerja_sim.gateway import Gateway
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
    gateway: Gateway

    @classmethod
    def from_settings(cls, settings: SimSettings) -> Simulator:
        sim = cls(
            settings=settings,
            seed=load_seed(settings.seed_file),
            ledger=Ledger(max_attempts_kept=settings.max_attempts_kept),
            refusals=RefusalBook(),
            faults=FaultInjector(),
            gateway=Gateway(
                max_concurrent_requests=settings.max_concurrent_requests,
                max_connections=settings.max_connections,
                retry_after_seconds=settings.gateway_retry_after_seconds,
            ),
        )
        sim.reset()
        return sim

    def reset(self) -> None:
        """Back to the state at start: empty ledger, seeded refusals and faults."""
        self.faults.configure(self.seed.faults)
        self.refusals.replace_all(self.seed.refusals)
        self.ledger.clear()
        self.gateway.reset_counts()

    def settings_report(self) -> dict[str, Any]:
        """What shapes every figure measured against this simulator: print it beside them."""
        faults = self.faults.snapshot()["config"]
        return {
            "latency": faults["latency"],
            "fault_seed": faults["seed"],
            "fault_rules": faults["rules"],
            "gateway": self.gateway.snapshot(),
        }
