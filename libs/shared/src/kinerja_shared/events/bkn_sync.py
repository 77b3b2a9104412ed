"""Events of bkn-sync: where each delivery to e-Kinerja stands."""

from datetime import datetime
from enum import StrEnum

from .base import Payload


class RecordKind(StrEnum):
    SKP = "SKP"
    PREDIKAT = "PREDIKAT"


class DeliveryState(StrEnum):
    QUEUED = "QUEUED"
    IN_FLIGHT = "IN_FLIGHT"
    DELIVERED = "DELIVERED"
    RETRYING = "RETRYING"
    PARKED = "PARKED"
    DEAD = "DEAD"
    SUPERSEDED = "SUPERSEDED"


class DeliveryStatus(Payload):
    delivery_id: str
    kind: RecordKind
    nip: str
    npsn: str
    period_id: str
    version: int
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None = None
    reason_code: str | None = None
    reason: str | None = None
    remedy: str | None = None
    actor: str | None = None
    at: datetime
