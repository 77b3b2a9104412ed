"""The breaker as the sender and the handlers use it: waits instead of refusals.

A delivery that meets an open breaker is held where it is (its handler waits, so its partition
is not consumed further) and spends none of its attempts or retry tiers. A hold is bounded by
``hold_max_seconds`` so the consumer stays inside Kafka's poll interval: past it the handler
fails with ``BreakerOpen`` and the record is read again, with no attempt counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from . import metrics
from .domain.breaker import Breaker, BreakerConfig, BreakerState, Health, Permit
from .domain.classify import E_KINERJA_DOWN, Outcome

_GAUGE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class BreakerOpen(Exception):
    """Held longer than a handler may: fail it so the record is read again later."""


class Hold(Protocol):
    """Another reason to hold every call, as an open breaker does (the pause, pause.py)."""

    def holding(self) -> bool: ...

    def wait(self) -> float:
        """At most how long a held caller sleeps before looking again."""
        ...


def health_of(outcome: Outcome) -> Health:
    if outcome.code in E_KINERJA_DOWN:
        return Health.DOWN
    if outcome.code == "BKN-T03":
        return Health.UNKNOWN
    return Health.UP


@dataclass(frozen=True)
class BreakerView:
    state: BreakerState
    since: datetime
    retry_in_seconds: float
    opened_count: int
    window_seconds: float
    min_failures: int
    failure_ratio: float
    cool_down_seconds: float


class Gate:
    def __init__(
        self,
        config: BreakerConfig,
        hold_max_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._breaker = Breaker(config)
        self._hold_max = hold_max_seconds
        self._clock = clock
        self._changed = asyncio.Event()
        self._since = datetime.now(UTC)
        self._seen = (self._breaker.state, self._breaker.generation)
        # Set when the breaker leaves CLOSED: an outage began, to be recovered from.
        self._outage = asyncio.Event()
        # When it last closed (or started, closed).
        self.closed_at = self._since
        self._holds: list[Hold] = []
        metrics.BREAKER_STATE.set(0)

    def hold_also(self, hold: Hold) -> None:
        """Hold every call while ``hold`` says so; it calls ``wake`` when that changes."""
        self._holds.append(hold)

    def wake(self) -> None:
        """Let every waiter look again (a hold changed)."""
        self._changed.set()
        self._changed = asyncio.Event()

    def _held(self) -> Hold | None:
        return next((h for h in self._holds if h.holding()), None)

    @property
    def state(self) -> BreakerState:
        return self._breaker.state

    def view(self) -> BreakerView:
        b, c = self._breaker, self._breaker.config
        return BreakerView(
            state=b.state,
            since=self._since,
            retry_in_seconds=round(b.retry_in(self._clock()), 3),
            opened_count=b.opened_count,
            window_seconds=c.window_seconds,
            min_failures=c.min_failures,
            failure_ratio=c.failure_ratio,
            cool_down_seconds=c.cool_down_seconds,
        )

    def _after_change(self) -> None:
        now_seen = (self._breaker.state, self._breaker.generation)
        if now_seen == self._seen:
            return
        if now_seen[0] != self._seen[0]:
            self._since = datetime.now(UTC)
            metrics.BREAKER_STATE.set(_GAUGE[now_seen[0]])
            if self._seen[0] is BreakerState.CLOSED:
                self._outage.set()
            elif now_seen[0] is BreakerState.CLOSED:
                self.closed_at = self._since
        self._seen = now_seen
        # Wake every waiter to look again; a fresh event for the next change.
        self._changed.set()
        self._changed = asyncio.Event()

    async def _hold(self, until_admitted: Callable[[], bool]) -> None:
        deadline = self._clock() + self._hold_max
        held = False
        while not until_admitted():
            self._after_change()  # the cool-down may have turned OPEN into HALF_OPEN
            hold = self._held()
            left = deadline - self._clock()
            if left <= 0:
                raise BreakerOpen("PAUSED" if hold else self._breaker.state.value)
            if not held:
                metrics.BREAKER_HOLDS.inc()
                held = True
            wait = min(left, max(self._breaker.retry_in(self._clock()), 0.01))
            if hold is not None:
                wait = min(left, max(wait, hold.wait()))
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=wait)

    async def outage(self) -> None:
        """Wait until the breaker opens (an outage begins); at once if it has since the last
        call."""
        await self._outage.wait()
        self._outage.clear()

    async def changed(self, timeout: float) -> None:
        """Wait until the breaker changes, at most ``timeout`` seconds."""
        self._after_change()  # a cool-down that ran out is a change too
        changed = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), timeout=timeout)

    def admitting(self) -> bool:
        """Whether a call could be let through right now (no waiting)."""
        return self._held() is None and self._breaker.retry_in(self._clock()) == 0

    async def ready(self) -> None:
        """Wait until a call could be let through (before claiming a delivery)."""
        await self._hold(self.admitting)

    async def permit(self) -> Permit:
        """Wait for leave to make one call; report its health with ``record``."""
        got: list[Permit] = []

        def admitted() -> bool:
            if self._held() is not None:
                return False
            permit = self._breaker.acquire(self._clock())
            self._after_change()
            if permit is not None:
                got.append(permit)
            return permit is not None

        await self._hold(admitted)
        return got[0]

    def record(self, permit: Permit, health: Health, down_for: float | None = None) -> None:
        self._breaker.record(permit, health, self._clock(), down_for)
        self._after_change()
