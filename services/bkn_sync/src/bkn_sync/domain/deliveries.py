"""Identity, versions and retry schedule of a delivery (docs/domain.md §2.10,
docs/architecture.md).

A delivery is one record slot in e-Kinerja: (kind, NIP, period), named by its delivery key
``{kind}:{nip}:{period}``. The key is what the status event, the ``deliveries`` table and the
``kinerja-delivery-id`` header call ``delivery_id`` (contract names, kept). It is not predikat's
``PREDIKAT:{nip}:{period}:v{n}``, which names one *version* of a predikat; here a version is
the delivery's ``version`` number, and its idempotency key.

Each version has an idempotency key that never changes, so every retry of that version is the
same request to e-Kinerja and a lost response cannot create a second record.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from kinerja_shared.events.bkn_sync import DeliveryState, RecordKind

# Fixed forever: changing it would change every key and make e-Kinerja see new requests.
KEY_NAMESPACE = uuid.UUID("5b0c1d8e-3f7a-4c2b-9e61-0a8f4d2c7b13")


def delivery_key(kind: str, nip: str, period_id: str) -> str:
    return f"{kind}:{nip}:{period_id}"


def idempotency_key(kind: str, nip: str, period_id: str, version: int) -> uuid.UUID:
    return uuid.uuid5(KEY_NAMESPACE, f"{kind}|{nip}|{period_id}|{version}")


class Arrival(StrEnum):
    NEW = "NEW"  # first version of this slot: queue it
    NEWER = "NEWER"  # replaces the current version, whatever its state
    SAME = "SAME"  # a redelivery or re-publish of the current version
    OLDER = "OLDER"  # superseded at once, never sent


def on_arrival(current_version: int | None, version: int) -> Arrival:
    if current_version is None:
        return Arrival.NEW
    if version > current_version:
        return Arrival.NEWER
    if version == current_version:
        return Arrival.SAME
    return Arrival.OLDER


# States in which the current version still has to reach e-Kinerja by the pipeline itself.
PENDING = frozenset({DeliveryState.QUEUED, DeliveryState.IN_FLIGHT})
# What may be taken for an attempt: queued (new or redriven), waiting for its retry tier, or
# IN_FLIGHT still after a crash mid-attempt.
CLAIMABLE = PENDING | {DeliveryState.RETRYING}
# The end of a version's road: only a redrive (PARKED, DEAD) takes it out again; a newer
# version replaces the delivery whatever its state.
TERMINAL = frozenset(
    {DeliveryState.DELIVERED, DeliveryState.PARKED, DeliveryState.DEAD, DeliveryState.SUPERSEDED}
)
REDRIVABLE = frozenset({DeliveryState.PARKED, DeliveryState.DEAD})
# The states of a teacher's SKP delivery in which e-Kinerja holds an SKP for that period: ours,
# or a newer one it told us of (BKN-E11).
SKP_AT_E_KINERJA = frozenset({DeliveryState.DELIVERED, DeliveryState.SUPERSEDED})


def waits_for_skp(kind: RecordKind, skp_state: DeliveryState | None) -> bool:
    """A teacher's predikat goes to e-Kinerja only after their SKP for the period is there
    (e-Kinerja refuses it before, docs/domain.md §6.3): until then it waits, spending no
    attempt."""
    return kind is RecordKind.PREDIKAT and skp_state not in SKP_AT_E_KINERJA


DAY = 86400.0


@dataclass(frozen=True)
class RecheckSchedule:
    """When a delivery parked for a cause outside Kinerja is checked with e-Kinerja again.

    Counted from when it was parked: every ``every_seconds`` during the first
    ``first_seconds`` (hourly for a day), then every ``then_every_seconds`` (daily), up to
    ``days`` days after it was parked; then no more. A fix at BKN or the agency that Kinerja
    never hears of is found within an hour at first, within a day later on.
    """

    every_seconds: float = 3600.0
    first_seconds: float = DAY
    then_every_seconds: float = DAY
    days: float = 14.0

    def next_check(self, parked_at: datetime, now: datetime) -> datetime | None:
        """The first check strictly after ``now``; None once the last one is past."""
        # In whole microseconds, as datetimes count: a check rounds onto no instant twice.
        elapsed = max((now - parked_at) // _US, 0)
        every, first, then = (
            _micros(s) for s in (self.every_seconds, self.first_seconds, self.then_every_seconds)
        )
        if elapsed < first:
            offset = (elapsed // every + 1) * every
            if offset > first:
                offset = first + then
        else:
            offset = first + ((elapsed - first) // then + 1) * then
        if offset > _micros(self.days * DAY):
            return None
        return parked_at + offset * _US


_US = timedelta(microseconds=1)


def _micros(seconds: float) -> int:
    return max(round(seconds * 1_000_000), 1)


@dataclass(frozen=True)
class RetrySchedule:
    """Tier n (1-based) waits delays[n-1] before its attempt; after the last tier, DEAD. A
    delivery parked for a cause outside Kinerja is checked again on ``recheck``."""

    delays: Sequence[float]
    recheck: RecheckSchedule = field(default_factory=RecheckSchedule)

    @property
    def tiers(self) -> int:
        return len(self.delays)

    def next_tier(self, tier: int) -> int | None:
        """The tier after a transient failure in ``tier`` (0 = the first, in-process try)."""
        nxt = tier + 1
        return nxt if nxt <= self.tiers else None

    def due_at(self, tier: int, now: datetime, retry_after: float | None = None) -> datetime:
        # e-Kinerja's own Retry-After wins when it asks for longer than our tier delay.
        delay = max(self.delays[tier - 1], retry_after or 0.0)
        return now + timedelta(seconds=delay)
