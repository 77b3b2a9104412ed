"""What e-Kinerja accepted, and every attempt that reached it.

The ledger is also the idempotency store: an accepted write is remembered under its key, and
the same key later gets that first result back instead of a second record.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ekinerja_sim.records import RecordKind, Target


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class StoredResult:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AcceptedRecord:
    target: Target
    key: str
    version: int
    received_at: datetime
    record: dict[str, Any]
    result: StoredResult

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.target.as_dict(),
            "key": self.key,
            "version": self.version,
            "received_at": self.received_at.isoformat(),
            "status": self.result.status,
            "receipt_id": self.result.body.get("receipt_id"),
            "record": self.record,
        }


@dataclass(frozen=True, slots=True)
class Attempt:
    at: datetime
    target: Target
    key: str | None
    status: int | None  # None when the connection was dropped without a response
    outcome: str  # accepted | replayed | stale | refused | key_reused | invalid | fault
    fault: str | None = None
    code: str | None = None
    delay_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.target.as_dict(),
            "key": self.key,
            "status": self.status,
            "outcome": self.outcome,
            "fault": self.fault,
            "code": self.code,
            "delay_ms": self.delay_ms,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Replay:
    result: StoredResult


@dataclass(frozen=True, slots=True)
class KeyReused:
    """The key was first used for another record or version: a client bug, not a retry."""

    first: AcceptedRecord


@dataclass(frozen=True, slots=True)
class Stale:
    current_version: int


@dataclass(frozen=True, slots=True)
class Accepted:
    entry: AcceptedRecord


@dataclass
class _Slot:
    current: AcceptedRecord
    accepted: int = 1


@dataclass
class Ledger:
    max_attempts_kept: int = 200_000
    # Held by the app across lookup → refusal checks → write so the three see one state.
    lock: threading.RLock = field(default_factory=threading.RLock)
    _records: list[AcceptedRecord] = field(default_factory=list)
    _by_key: dict[str, list[AcceptedRecord]] = field(default_factory=dict)
    _slots: dict[Target, _Slot] = field(default_factory=dict)
    _attempts: deque[Attempt] = field(init=False)
    _attempts_total: int = 0
    _outcomes: Counter[str] = field(default_factory=Counter)
    _faults: Counter[str] = field(default_factory=Counter)
    _arrivals: deque[float] = field(init=False)

    def __post_init__(self) -> None:
        self._attempts = deque(maxlen=self.max_attempts_kept)
        self._arrivals = deque(maxlen=self.max_attempts_kept)

    def log_arrival(self, at: float) -> None:
        self._arrivals.append(at)

    def arrivals(self, since: float | None = None, until: float | None = None) -> list[float]:
        with self.lock:
            return [
                t
                for t in self._arrivals
                if (since is None or t >= since) and (until is None or t < until)
            ]

    def clear(self) -> None:
        with self.lock:
            self._records.clear()
            self._by_key.clear()
            self._slots.clear()
            self._attempts.clear()
            self._attempts_total = 0
            self._outcomes.clear()
            self._faults.clear()
            self._arrivals.clear()

    def lookup_key(self, key: str, target: Target, version: int) -> Replay | KeyReused | None:
        with self.lock:
            entries = self._by_key.get(key)
            if not entries:
                return None
            first = entries[0]
            if first.target != target or first.version != version:
                return KeyReused(first)
            return Replay(first.result)

    def current(self, target: Target) -> AcceptedRecord | None:
        with self.lock:
            slot = self._slots.get(target)
            return None if slot is None else slot.current

    def write(
        self, target: Target, key: str, version: int, record: dict[str, Any]
    ) -> Stale | Accepted:
        with self.lock:
            slot = self._slots.get(target)
            if slot is not None and version < slot.current.version:
                return Stale(slot.current.version)
            received_at = utc_now()
            receipt_id = f"EK-{len(self._records) + 1:08d}"
            body: dict[str, Any] = {
                "status": "accepted",
                **target.as_dict(),
                "version": version,
                "idempotency_key": key,
                "receipt_id": receipt_id,
                "received_at": received_at.isoformat(),
            }
            result = StoredResult(status=201 if slot is None else 200, body=body)
            entry = AcceptedRecord(target, key, version, received_at, record, result)
            self._records.append(entry)
            self._by_key.setdefault(key, []).append(entry)
            if slot is None:
                self._slots[target] = _Slot(current=entry)
            else:
                slot.current = entry
                slot.accepted += 1
            return Accepted(entry)

    def log_attempt(self, attempt: Attempt) -> None:
        with self.lock:
            self._attempts.append(attempt)
            self._attempts_total += 1
            self._outcomes[attempt.outcome] += 1
            if attempt.fault is not None:
                self._faults[attempt.fault] += 1

    def records(
        self, kind: RecordKind | None = None, nip: str | None = None, period: str | None = None
    ) -> list[AcceptedRecord]:
        with self.lock:
            return [r for r in self._records if _matches(r.target, kind, nip, period)]

    def attempts(
        self,
        kind: RecordKind | None = None,
        nip: str | None = None,
        period: str | None = None,
        key: str | None = None,
    ) -> list[Attempt]:
        with self.lock:
            return [
                a
                for a in self._attempts
                if _matches(a.target, kind, nip, period) and (key is None or a.key == key)
            ]

    def summary(self) -> dict[str, Any]:
        with self.lock:
            accepted = Counter(r.target.kind.value for r in self._records)
            return {
                "accepted": {kind.value: accepted.get(kind.value, 0) for kind in RecordKind},
                "accepted_total": len(self._records),
                "attempts": self._attempts_total,
                "outcomes": dict(self._outcomes),
                "faults": dict(self._faults),
                # Computed from the data rather than assumed: must always be 0.
                "duplicates": sum(len(rs) - 1 for rs in self._by_key.values() if len(rs) > 1),
                "targets": [
                    {
                        **target.as_dict(),
                        "accepted": slot.accepted,
                        "current_version": slot.current.version,
                        "current_key": slot.current.key,
                    }
                    for target, slot in self._slots.items()
                ],
            }


def max_in_window(times: list[float], width: float) -> int:
    """The most of ``times`` in any half-open window of ``width`` seconds (sliding, not aligned
    to whole seconds: a gateway's limit holds for every window)."""
    ordered = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - width:
            start += 1
        most = max(most, end - start + 1)
    return most


def _matches(target: Target, kind: RecordKind | None, nip: str | None, period: str | None) -> bool:
    return (
        (kind is None or target.kind == kind)
        and (nip is None or target.nip == nip)
        and (period is None or target.period == period)
    )
