"""The call caps towards e-Kinerja (docs/domain.md §8: 50/s per instansi, 200/s in total),
held in PostgreSQL so every replica shares them: a cap is one rate for all of bkn-sync, not a
per-replica share that idles when replicas are few.

Each PUT (a retry too) first waits its turn in its instansi's queue (``call_turn``: the
teacher's ``kode_wilayah`` on the roster; a teacher the roster does not know has no instansi
queue), then takes a departure (``call_departure``): the total's spacing (1/rate) after the call
before it, whichever replica sent that, and its instansi's spacing after that instansi's last
call. Departures of one scope are at least 1/rate apart, so no one-second window holds more
than the rate. Waiting for the turn first keeps a busy instansi's calls from taking the total's
slots far ahead: the others' calls go between them.

A call leaves a little after its departure (the event loop, the network): the rates used are
``HEADROOM`` below the caps, and a call that wakes more than ``LATE_SECONDS`` after its
departure takes a new one rather than leave in a later call's slot, so a busy process can lower
the rate but never push a window over the cap.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import asyncpg
from opentelemetry.instrumentation.utils import suppress_instrumentation

# Calls that leave up to LATE_SECONDS after their departure stay within the cap: departures in
# any (1 + LATE_SECONDS) window number at most HEADROOM x (1 + LATE_SECONDS) x cap + 1 <= cap.
# A busy process wakes tens of milliseconds late, and e-Kinerja's door sees the calls later
# still: on a loaded host (the cap bench, bench/README.md) 30 ms threw most departures away, and
# 5 % / 50 ms let 51 calls into one second under a cap of 50.
HEADROOM = 0.9
LATE_SECONDS = 0.1
# The offset between this process's clock and the database's is estimated from the answers
# that came back fastest among the last ones (as NTP does): a slow answer says little. Many of
# them: when the fastest leaves the window, the estimate jumps to the next fastest, and a jump
# that way moves the next departures earlier on this clock. With 32, a test once counted 41
# calls in a second under a cap of 40 (the bound above leaves 0.6 of a call at 40/s), such a
# jump being the likeliest way to it; 256 answers are a second or more of calls at the caps,
# still far shorter than any clock drift that matters.
_OFFSET_SAMPLES = 256

_INSTANSI = "(SELECT kode_wilayah FROM roster_pegawai WHERE nip = $2)"
_TURN = f"SELECT call_turn({_INSTANSI}, $1)"
_DEPARTURE = f"SELECT call_departure($1, {_INSTANSI}, $3)"


class SharedCallCap:
    def __init__(
        self,
        pool: asyncpg.Pool,
        total_per_second: float,
        per_instansi_per_second: float = 0,
        headroom: float = HEADROOM,
    ) -> None:
        self._pool = pool
        self._total = 1 / (total_per_second * headroom) if total_per_second > 0 else 0.0
        self._instansi = (
            1 / (per_instansi_per_second * headroom) if per_instansi_per_second > 0 else 0.0
        )
        self._samples: deque[tuple[float, float]] = deque(maxlen=_OFFSET_SAMPLES)

    async def acquire(self, nip: str) -> None:
        """Wait until a call for ``nip`` may leave."""
        if self._instansi:
            await self._until(await self._ask(_TURN, self._instansi, nip))
        while True:
            departure = await self._ask(_DEPARTURE, self._total, nip, self._instansi)
            await self._until(departure)
            if time.time() - departure <= LATE_SECONDS:
                return

    @staticmethod
    async def _until(at: float) -> None:
        delay = at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _ask(self, query: str, *args: object) -> float:
        """The time ``query`` answers, on this process's clock."""
        # Bookkeeping of the call, whose own span says what happened.
        with suppress_instrumentation():
            async with self._pool.acquire() as conn:
                # Timed once the connection is ours: a wait for one is no part of the answer's
                # way back, and would skew the offset.
                asked = time.time()
                at, db_now = await conn.fetchval(query, *args)
                answered = time.time()
        self._samples.append((answered - asked, db_now - (asked + answered) / 2))
        _, offset = min(self._samples)
        return float(at) - offset
