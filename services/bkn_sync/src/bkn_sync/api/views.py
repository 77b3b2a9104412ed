"""What the routes answer: a delivery as everyone may see it, counts, parked groups,
who redrove, the pause."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from kinerja_shared.auth import Role
from kinerja_shared.events.bkn_sync import DeliveryState, RecordKind

from ..breaker import BreakerView
from ..counts import Window


class DeliveryView(BaseModel):
    delivery_id: str
    kind: RecordKind
    nip: str
    npsn: str
    period_id: str
    version: int
    idempotency_key: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    reason_code: str | None
    reason: str | None
    remedy: str | None
    actor: str | None
    first_error: str | None
    last_error: str | None
    first_attempt_at: datetime | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    updated_at: datetime
    school_name: str | None = Field(
        default=None, description="The school's name as the roster knows it, if it does."
    )
    trace_id: str | None = Field(
        default=None,
        description="The trace of the record that brought the current version (W3C trace id).",
    )
    cursor: str = Field(
        default="",
        description="Pass as ``after`` to list the rows that follow this one (keyset).",
    )


def trace_id_of(context: Any) -> str | None:
    if isinstance(context, str):  # a pool without the json codec hands jsonb over as text
        context = json.loads(context)
    parts = str((context or {}).get("traceparent", "")).split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


def delivery_view(row: Any) -> DeliveryView:
    derived = {"school_name", "trace_id", "cursor"}
    fields = {k: row[k] for k in DeliveryView.model_fields if k not in derived}
    fields["idempotency_key"] = str(row["idempotency_key"])
    keys = set(row.keys())
    fields["school_name"] = row["school_name"] if "school_name" in keys else None
    fields["trace_id"] = trace_id_of(row["trace_context"]) if "trace_context" in keys else None
    fields["cursor"] = f"{row['updated_at'].isoformat()}|{row['delivery_id']}"
    return DeliveryView(**fields)


class Count(BaseModel):
    state: DeliveryState
    reason_code: str | None
    count: int


class KindCount(Count):
    kind: RecordKind


class WindowCounts(BaseModel):
    window: Window
    since: datetime | None = Field(
        description="The first hour the window covers (whole hours); none for ``all``."
    )
    counts: list[KindCount] = Field(
        description="``all``: deliveries in each state and reason now. ``1h``, ``1d``: entries "
        "into each state since ``since`` (per entry; reason_code none)."
    )


class Counts(BaseModel):
    counts: list[Count]
    breaker: BreakerView = Field(
        description="Whether deliveries are flowing: while OPEN they wait without spending "
        "their attempts (BKN-T04)."
    )
    windows: list[WindowCounts] = Field(
        default_factory=list, description="Per kind, for each ``window`` asked for."
    )
    source: Literal["kept", "live"] = Field(
        default="kept",
        description="kept: the counts bkn-sync keeps as it writes (exact, cheap). live: counted "
        "from the deliveries now, for a filter the kept counts cannot answer (``since``, "
        "``period_id``); a window is then the deliveries that changed in it.",
    )


class Actor(BaseModel):
    subject: str
    role: Role
    area: str | None = None


class RedriveResult(BaseModel):
    dry_run: bool
    count: int
    deliveries: list[DeliveryView]
    actor: Actor = Field(description="Who asked for it.")
    reason: str | None = Field(default=None, description="Why, as they gave it.")


class ParkedGroup(BaseModel):
    reason_code: str | None
    reason: str | None
    remedy: str | None
    actor: str | None
    npsn: str
    school_name: str | None = Field(description="As the roster knows it, if it does.")
    count: int = Field(description="Parked deliveries of this school for this reason.")
    reason_count: int = Field(description="Parked deliveries for this reason, every school.")
    reason_schools: int = Field(description="Schools with deliveries parked for this reason.")


class PauseView(BaseModel):
    paused: bool = Field(description="Whether deliveries to e-Kinerja are held now.")
    reason: str | None = None
    paused_by: str | None = None
    paused_at: datetime | None = None
    until: datetime | None = None
