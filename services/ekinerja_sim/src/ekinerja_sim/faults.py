"""Transport faults scripted at run time and applied to the record endpoints.

Every random choice comes from one ``random.Random`` seeded by the fault config, so a test that
sends the same requests in the same order sees the same faults.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ekinerja_sim.records import RecordKind


class FaultType(StrEnum):
    ERROR = "error"  # 500/502/503 before anything is recorded
    RATE_LIMIT = "rate_limit"  # 429 with Retry-After
    TIMEOUT = "timeout"  # hold the response past the client's timeout, record nothing
    RESET = "reset"  # drop the connection without a response, record nothing
    LOST_RESPONSE = "lost_response"  # record, THEN fail: a retry must replay, not duplicate
    MALFORMED = "malformed"  # record, then answer 200 with a body that is not JSON
    # Refuse with a scripted 4xx: another spelling of a conflict or refusal than the ones this
    # simulator knows (a 409 with another code, a held_version), or a code no one knows yet.
    REJECT = "reject"


class LostAs(StrEnum):
    ERROR = "error"
    RESET = "reset"
    TIMEOUT = "timeout"


class Phase(StrEnum):
    """When a fault is drawn: before the request is processed, or after it was recorded."""

    BEFORE = "before"
    AFTER_RECORDED = "after_recorded"


ServerErrorStatus = Literal[500, 502, 503]
_ALL_SERVER_ERRORS: tuple[ServerErrorStatus, ...] = (500, 502, 503)
_AFTER_RECORDED = frozenset({FaultType.LOST_RESPONSE, FaultType.MALFORMED})


class _Filter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: RecordKind | None = None
    nip: str | None = None

    def matches(self, kind: RecordKind, nip: str) -> bool:
        return (self.kind is None or self.kind == kind) and (self.nip is None or self.nip == nip)


class FaultRule(_Filter):
    fault: FaultType
    rate: float = Field(default=1.0, ge=0.0, le=1.0)
    times: int | None = Field(default=None, ge=1, description="stop after applying this often")
    statuses: list[ServerErrorStatus] = Field(
        default_factory=lambda: list(_ALL_SERVER_ERRORS), min_length=1
    )
    retry_after_seconds: int = Field(default=1, ge=0)
    hold_seconds: float = Field(default=30.0, gt=0)
    lost_as: LostAs = LostAs.ERROR
    # reject: the answer's status, and the body's code (left out when None), message and
    # held_version (the version e-Kinerja claims to hold; left out when None).
    status: int = Field(default=409, ge=400, le=499)
    code: str | None = None
    message: str = "Permintaan ditolak oleh e-Kinerja"
    held_version: int | None = Field(default=None, ge=0)

    @property
    def phase(self) -> Phase:
        return Phase.AFTER_RECORDED if self.fault in _AFTER_RECORDED else Phase.BEFORE


# The standard normal's 99th percentile: a log-normal with median m and p99 p has
# sigma = ln(p / m) / Z99.
_Z99 = 2.3263478740408408


class Latency(_Filter):
    """Either fixed (``ms`` + 0..``jitter_ms``) or drawn from a log-normal distribution with the
    given ``median_ms`` and ``p99_ms``: a long tail like a real upstream's, seeded."""

    ms: int = Field(default=0, ge=0)
    jitter_ms: int = Field(default=0, ge=0)
    median_ms: float | None = Field(default=None, gt=0)
    p99_ms: float | None = Field(default=None, gt=0)
    # A draw beyond this is cut to it: the far tail of a log-normal is unbounded.
    max_ms: float = Field(default=10_000, gt=0)
    # Ends early when the faults are next changed or cleared: a test holds a request in flight
    # exactly as long as it needs to, with no guess at how long that is.
    until_changed: bool = False

    @model_validator(mode="after")
    def _distribution_complete(self) -> Latency:
        if (self.median_ms is None) != (self.p99_ms is None):
            raise ValueError("median_ms and p99_ms come together")
        if self.median_ms is not None and self.p99_ms is not None:
            if self.p99_ms < self.median_ms:
                raise ValueError("p99_ms must be at least median_ms")
            if self.ms or self.jitter_ms:
                raise ValueError("give either ms/jitter_ms or median_ms/p99_ms")
        return self

    def draw_ms(self, rng: random.Random) -> float:
        if self.median_ms is None or self.p99_ms is None:
            return self.ms + (rng.randint(0, self.jitter_ms) if self.jitter_ms else 0)
        sigma = math.log(self.p99_ms / self.median_ms) / _Z99
        return min(self.max_ms, rng.lognormvariate(math.log(self.median_ms), sigma))


class FaultConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    rules: list[FaultRule] = Field(default_factory=list)
    latency: Latency | None = None
    outage_seconds: float | None = Field(default=None, gt=0)


@dataclass(frozen=True, slots=True)
class Chosen:
    rule: FaultRule
    status: int  # for ERROR and LOST_RESPONSE(lost_as=error): which of rule.statuses


class FaultInjector:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._config = FaultConfig()
        self._rng = random.Random(0)
        # Latency has a generator of its own: adding a latency to a script leaves the faults
        # that the same requests draw unchanged.
        self._latency_rng = random.Random(0)
        self._applied: list[int] = []
        self._outage_until: float | None = None
        self._holds: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)
            self._latency_rng = random.Random(f"latency-{config.seed}")
            self._applied = [0] * len(config.rules)
            self._outage_until = (
                None if config.outage_seconds is None else self._clock() + config.outage_seconds
            )
        self.release_holds()

    def clear(self) -> None:
        self.configure(FaultConfig())

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "config": self._config.model_dump(mode="json"),
                "applied": list(self._applied),
                "outage_remaining_seconds": self._outage_remaining(),
                "held_requests": len(self._holds),
            }

    def outage_remaining(self) -> float | None:
        with self._lock:
            return self._outage_remaining()

    def _outage_remaining(self) -> float | None:
        if self._outage_until is None:
            return None
        remaining = self._outage_until - self._clock()
        if remaining <= 0:
            self._outage_until = None
            return None
        return remaining

    def latency_seconds(self, kind: RecordKind, nip: str) -> float:
        with self._lock:
            latency = self._config.latency
            if latency is None or not latency.matches(kind, nip):
                return 0.0
            return latency.draw_ms(self._latency_rng) / 1000

    async def delay(self, seconds: float) -> None:
        """The latency of one request: slept, or held until the faults change if so scripted."""
        with self._lock:
            held = self._config.latency is not None and self._config.latency.until_changed
        if held:
            await self.hold(seconds)
        else:
            await asyncio.sleep(seconds)

    def draw(self, phase: Phase, kind: RecordKind, nip: str) -> Chosen | None:
        """The first rule of this phase that matches and wins its coin toss, if any."""
        with self._lock:
            for index, rule in enumerate(self._config.rules):
                if rule.phase is not phase or not rule.matches(kind, nip):
                    continue
                if rule.times is not None and self._applied[index] >= rule.times:
                    continue
                if self._rng.random() < rule.rate:
                    self._applied[index] += 1
                    status = rule.statuses[self._rng.randrange(len(rule.statuses))]
                    return Chosen(rule=rule, status=status)
            return None

    async def hold(self, seconds: float) -> None:
        """Sleep like a stuck upstream; reconfiguring or resetting wakes every holder early."""
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._lock:
            self._holds.append(entry)
        try:
            await asyncio.wait_for(event.wait(), timeout=seconds)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                if entry in self._holds:
                    self._holds.remove(entry)

    def release_holds(self) -> None:
        with self._lock:
            holds, self._holds = self._holds, []
        for loop, event in holds:
            # Admin calls may come from another thread than the one holding the request.
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)
