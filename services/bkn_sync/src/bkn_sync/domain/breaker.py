"""The circuit breaker in front of e-Kinerja (docs/domain.md §6.4 BKN-T04), as a pure state
machine.

Time is passed in, never read, so every transition can be tested over any outcome sequence.
CLOSED lets every call through and watches a sliding window of outcomes; sustained failure
(at least ``min_failures`` transient failures making up at least ``failure_ratio`` of the calls
in the last ``window_seconds``) opens it. OPEN lets nothing through until ``cool_down_seconds``
have passed; then HALF_OPEN lets exactly one probe through: its success closes the breaker, its
failure opens it again for another cool-down. A 5xx that says how long e-Kinerja will be down
(Retry-After, e.g. its maintenance window) opens it at once for at least that long.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


class Health(StrEnum):
    """What one exchange says about e-Kinerja itself (not about the record sent)."""

    UP = "UP"  # any answer that is not a transient server/network failure
    DOWN = "DOWN"  # timeout, reset, 5xx
    UNKNOWN = "UNKNOWN"  # 429, or the call never finished: says nothing either way


@dataclass(frozen=True)
class BreakerConfig:
    window_seconds: float = 10.0
    min_failures: int = 5
    failure_ratio: float = 0.5
    cool_down_seconds: float = 5.0


@dataclass(frozen=True)
class Permit:
    """Leave to make one call; ``probe`` marks the single half-open trial."""

    generation: int
    probe: bool


@dataclass
class Breaker:
    config: BreakerConfig = field(default_factory=BreakerConfig)
    state: BreakerState = BreakerState.CLOSED
    opened_at: float | None = None
    cool_down_until: float | None = None
    # Bumped on every transition: outcomes of calls let through under an older state are
    # ignored, so a slow call that started before the breaker opened cannot close it.
    generation: int = 0
    probe_out: bool = False
    opened_count: int = 0
    _window: deque[tuple[float, bool]] = field(default_factory=deque)
    # The failures in the window, kept as it slides: a sum over it on every call cost ~9 % of
    # bkn-sync's CPU at 800 calls/s (thousands of entries each time).
    _failures: int = 0

    def _move(self, state: BreakerState, now: float) -> None:
        self.state = state
        self.generation += 1
        self.probe_out = False
        self._window.clear()
        self._failures = 0
        if state is BreakerState.OPEN:
            self.opened_at = now
            self.cool_down_until = now + self.config.cool_down_seconds
            self.opened_count += 1
        elif state is BreakerState.CLOSED:
            self.opened_at = None
            self.cool_down_until = None

    def _cooled(self, now: float) -> bool:
        assert self.cool_down_until is not None
        return now >= self.cool_down_until

    def acquire(self, now: float) -> Permit | None:
        """A permit for one call now, or None: wait (see ``retry_in``) and ask again."""
        if self.state is BreakerState.OPEN:
            if not self._cooled(now):
                return None
            self._move(BreakerState.HALF_OPEN, now)
        if self.state is BreakerState.HALF_OPEN:
            if self.probe_out:
                return None
            self.probe_out = True
            return Permit(self.generation, probe=True)
        return Permit(self.generation, probe=False)

    def retry_in(self, now: float) -> float:
        """Seconds until a waiting caller may usefully ask again (0 if it may now)."""
        if self.state is BreakerState.OPEN:
            assert self.cool_down_until is not None
            return max(0.0, self.cool_down_until - now)
        if self.state is BreakerState.HALF_OPEN and self.probe_out:
            return self.config.cool_down_seconds  # or sooner, when the probe reports
        return 0.0

    def record(
        self, permit: Permit, health: Health, now: float, down_for: float | None = None
    ) -> None:
        """``down_for``: e-Kinerja itself announced it is down for this long (Retry-After)."""
        if health is Health.DOWN and down_for is not None:
            if self.state is not BreakerState.OPEN:
                self._move(BreakerState.OPEN, now)
            assert self.cool_down_until is not None
            self.cool_down_until = max(self.cool_down_until, now + down_for)
            return
        if permit.generation != self.generation:
            return
        if permit.probe:
            if health is Health.UP:
                self._move(BreakerState.CLOSED, now)
            elif health is Health.DOWN:
                self._move(BreakerState.OPEN, now)
            else:
                self.probe_out = False  # no verdict: let another probe try
            return
        if health is Health.UNKNOWN:
            return
        down = health is Health.DOWN
        self._window.append((now, down))
        self._failures += down
        while self._window and self._window[0][0] <= now - self.config.window_seconds:
            self._failures -= self._window.popleft()[1]
        failures = self._failures
        if failures >= self.config.min_failures and failures >= self.config.failure_ratio * len(
            self._window
        ):
            self._move(BreakerState.OPEN, now)
