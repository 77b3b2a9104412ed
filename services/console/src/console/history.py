"""bkn-sync's delivery-status events, kept as each delivery's history: one row per event,
stored once however often it is read (its event id is the key)."""

from __future__ import annotations

import logging
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaMessage
from pydantic import ValidationError

from kinerja_shared.service import Runtime
from kinerja_shared.topics import BKN_DELIVERY_STATUS

from . import repository
from .config import Settings

log = logging.getLogger(__name__)


def trace_id_of(traceparent: str | None) -> str | None:
    parts = (traceparent or "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


def register(runtime: Runtime[Settings, None]) -> None:
    group = f"{runtime.settings.consumer_group}:{BKN_DELIVERY_STATUS.name}"

    async def on_status(msg: KafkaMessage) -> None:
        try:
            envelope = BKN_DELIVERY_STATUS.decode(msg.body)
        except ValidationError:
            # The history is a view of bkn-sync's truth: a record it cannot read is skipped.
            log.warning("unreadable delivery-status record skipped")
            return
        raw: Any = msg.raw_message
        headers = {k: bytes(v).decode(errors="replace") for k, v in (raw.headers or ())}
        await repository.record_status(
            runtime.db, envelope.event_id, envelope.payload, trace_id_of(headers.get("traceparent"))
        )

    runtime.broker.subscriber(
        BKN_DELIVERY_STATUS.name,
        group_id=group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title=group,
    )(on_status)
