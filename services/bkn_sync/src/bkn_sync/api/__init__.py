"""bkn-sync's HTTP API: where each delivery to e-Kinerja stands, and the redrive (an operator's,
or a Dinas's of its own area's roster-fixable deliveries), and the pause.

One module per resource, ``deps.py`` for what they share and ``views.py`` for what they answer.
The counts come first: ``/deliveries/counts`` and ``/deliveries/parked/groups`` must match
before ``/deliveries/{nip}`` does.
"""

from fastapi import APIRouter

from . import counts, deliveries, pause, redrive

router = APIRouter(tags=["bkn-sync"])
for part in (counts, deliveries, redrive, pause):
    router.include_router(part.router)

__all__ = ["router"]
