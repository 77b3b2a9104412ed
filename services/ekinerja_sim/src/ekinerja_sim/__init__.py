"""e-Kinerja simulator: a stand-in for BKN's e-Kinerja over real HTTP.

It records SKP, penilaian periodik and predikat pushes keyed by ``Idempotency-Key``, keeps a
ledger that proves nothing was recorded twice, refuses NIPs the way e-Kinerja does (docs/domain.md
§6.3/§6.4) and injects transport faults scripted at run time. See README.md for the admin API.
"""

from ekinerja_sim.app import create_app
from ekinerja_sim.settings import SimSettings

__all__ = ["SimSettings", "create_app"]
