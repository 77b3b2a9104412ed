"""A pause of every delivery to e-Kinerja, across every replica (BKN's maintenance windows).

The pause is one row in ``delivery_pause`` (migration 0004): set with a reason and an optional
end time through ``PUT /pause``, lifted with ``DELETE /pause`` or by its end time passing. Each
replica reads it every ``pause_poll_seconds`` (at once on the replica that took the request)
and holds its breaker ``Gate`` while it is paused: deliveries wait where they are, spending no
attempt and no retry tier, exactly as under an open breaker (a hold longer than
``retry_hold_max_seconds`` fails the handler and its records are read again later, still with
no attempt counted).

Until its first read a replica holds too: a replica starting during a pause must not slip a
delivery through before it knows. A read that fails keeps what was last known.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kinerja_shared.db import Executor

from . import metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PauseRecord:
    reason: str
    paused_by: str
    paused_at: datetime
    until: datetime | None

    def in_force(self, at: datetime) -> bool:
        return self.until is None or at < self.until


class Pause:
    """What this replica knows of the pause; a hold of the ``Gate`` (``holding``, ``wait``)."""

    def __init__(self, poll_seconds: float, clock: Callable[[], datetime] | None = None) -> None:
        self.poll_seconds = poll_seconds
        self._clock = clock or (lambda: datetime.now(UTC))
        self._known = False
        self._record: PauseRecord | None = None
        self._wake: list[Callable[[], None]] = []
        self.read_at = time.monotonic()

    def on_change(self, wake: Callable[[], None]) -> None:
        """``wake`` is called whenever what this replica knows changes (the gate looks again)."""
        self._wake.append(wake)

    @property
    def record(self) -> PauseRecord | None:
        """The pause in force now, if any."""
        r = self._record
        return r if r is not None and r.in_force(self._clock()) else None

    def holding(self) -> bool:
        return not self._known or self.record is not None

    def wait(self) -> float:
        """How long a held delivery may sleep before looking again: until the pause's end, or
        the next read, whichever comes first."""
        left = self.poll_seconds
        r = self.record
        if r is not None and r.until is not None:
            left = min(left, (r.until - self._clock()).total_seconds())
        return max(left, 0.05)

    def learn(self, record: PauseRecord | None) -> None:
        changed = not self._known or record != self._record
        self._known, self._record = True, record
        self.read_at = time.monotonic()
        # Every read, not only on a change: a pause whose end passed stops counting here.
        held = self.record
        metrics.set_pause(held.paused_at if held else None, held.until if held else None)
        if changed:
            log.info(
                "delivery pause",
                extra={
                    "paused": record is not None,
                    "pause_reason": record.reason if record else None,
                    "pause_until": record.until.isoformat() if record and record.until else None,
                },
            )
            for wake in self._wake:
                wake()


async def read(conn: Executor) -> PauseRecord | None:
    row = await conn.fetchrow("SELECT reason, paused_by, paused_at, until FROM delivery_pause")
    if row is None:
        return None
    return PauseRecord(row["reason"], row["paused_by"], row["paused_at"], row["until"])


async def write(
    conn: Executor, *, reason: str, paused_by: str, until: datetime | None
) -> PauseRecord:
    row = await conn.fetchrow(
        "INSERT INTO delivery_pause (reason, paused_by, until) VALUES ($1, $2, $3) "
        "ON CONFLICT (singleton) DO UPDATE SET reason = EXCLUDED.reason, "
        "paused_by = EXCLUDED.paused_by, paused_at = now(), until = EXCLUDED.until "
        "RETURNING reason, paused_by, paused_at, until",
        reason,
        paused_by,
        until,
    )
    assert row is not None
    return PauseRecord(row["reason"], row["paused_by"], row["paused_at"], row["until"])


async def lift(conn: Executor) -> PauseRecord | None:
    row = await conn.fetchrow(
        "DELETE FROM delivery_pause RETURNING reason, paused_by, paused_at, until"
    )
    return None if row is None else PauseRecord(*row.values())


async def watch(pause: Pause, pool: Any) -> None:
    """Read the pause every ``poll_seconds`` for as long as the replica runs."""
    while True:
        try:
            pause.learn(await read(pool))
        except Exception:
            log.warning("delivery pause not read; keeping what was known", exc_info=True)
        await asyncio.sleep(pause.poll_seconds)
