"""Events of bkn-sync: where each delivery to e-Kinerja stands."""

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from .base import Payload

# Bound of ``DeliveryStatus.error``: one line for a person to read, not e-Kinerja's whole body.
ERROR_MAX = 500


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
    # Added within v1 (optional, so records written before still read): what the attempt that
    # led to this event got back. Both stay None for an event not about an attempt.
    http_status: int | None = Field(
        default=None,
        description="The HTTP status e-Kinerja answered on the attempt that led to this event; "
        "null when no answer came (timeout, connection error) or the event is not about an "
        "attempt (queued, in flight, a redrive, a pause).",
    )
    error: str | None = Field(
        default=None,
        max_length=ERROR_MAX,
        description="That attempt's error in one short line (reason code and text); null when "
        "it succeeded or the event is not about an attempt. Never carries credentials.",
    )
