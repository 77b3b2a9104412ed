"""The one envelope every Kinerja event travels in (docs/architecture.md "Events").

The payload is typed per topic; the envelope fields are what every consumer may rely on to
deduplicate (``event_id``), order (``occurred_at`` within a key) and route (``type``).
Trace context and the correlation id travel in Kafka headers, not here, so the body stays the
business fact and tooling can read context without parsing it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from uuid6 import uuid7

P = TypeVar("P", bound=BaseModel)


def new_event_id() -> UUID:
    # UUIDv7 sorts by creation time, which keeps inbox and outbox indexes append-mostly.
    return UUID(str(uuid7()))


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel, Generic[P]):
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: UUID = Field(default_factory=new_event_id)
    type: str = Field(description="Event type, e.g. 'planning.plan-agreed'.")
    schema_version: int = Field(ge=1, description="Major version of the payload schema.")
    occurred_at: datetime = Field(default_factory=utcnow)
    producer: str = Field(description="The service that wrote the event.")
    subject: str = Field(description="Whom the event is about: a NIP, or an NPSN for schools.")
    payload: P
