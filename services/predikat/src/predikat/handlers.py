"""Subscribers: the roster projection, recommendations from assessment, and delivery status
from bkn-sync."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from kinerja_shared import inbox, telemetry
from kinerja_shared.envelope import Envelope
from kinerja_shared.events.bkn_sync import DeliveryStatus, RecordKind
from kinerja_shared.roster.projection import subscribe_roster
from kinerja_shared.service import Runtime
from kinerja_shared.topics import ASSESSMENT_RECOMMENDED, BKN_DELIVERY_STATUS

from . import repository
from .config import Settings
from .domain.delivery import DeliveryFacts, DeliveryView, apply_status

log = logging.getLogger(__name__)


def register(runtime: Runtime[Settings, None]) -> None:
    group = runtime.settings.consumer_group
    subscribe_roster(runtime.broker, group=group, pool=runtime.db)

    async def on_recommended(conn: repository.Tx, event: Envelope[Any]) -> None:
        # Handled inside the record's own trace: its context is the assessment's flow.
        traceparent = telemetry.current_trace_headers().get("traceparent")
        await repository.upsert_recommendation(conn, event.payload, traceparent)

    inbox.subscribe(
        runtime.broker,
        ASSESSMENT_RECOMMENDED,
        group=group,
        pool=runtime.db,
        effect=on_recommended,
    )
    settings = runtime.settings
    assert isinstance(settings, Settings)
    # Two status events per teacher follow a Kirim within seconds: batches, applied set-based.
    inbox.subscribe_batch(
        runtime.broker,
        replace(BKN_DELIVERY_STATUS, name=settings.delivery_status_topic),
        group=group,
        pool=runtime.db,
        effect=on_delivery_statuses,
        max_records=settings.status_batch_max_records,
    )


async def on_delivery_statuses(
    conn: repository.Tx, events: Sequence[Envelope[DeliveryStatus]]
) -> int:
    """Apply a batch of bkn-sync's status events, in order; the number of teachers whose
    delivery state changed."""
    statuses = [e.payload for e in events if e.payload.kind is RecordKind.PREDIKAT]
    if not statuses:
        return 0
    keys = sorted({(s.nip, s.period_id) for s in statuses})
    seen: dict[tuple[str, str], tuple[int, DeliveryView]] = {
        (r["nip"], r["period_id"]): (r["version"], DeliveryView(r["delivery_state"]))
        for r in await repository.lock_teachers(conn, keys)
    }
    changed: dict[tuple[str, str], DeliveryFacts] = {}
    for s in statuses:
        key = (s.nip, s.period_id)
        if key not in seen:
            log.warning("delivery status for an unknown predikat", extra={"nip": s.nip})
            continue
        version, view = seen[key]
        facts = apply_status(
            version,
            view,
            version=s.version,
            state=s.state,
            next_attempt_at=s.next_attempt_at,
            reason_code=s.reason_code,
            reason=s.reason,
            remedy=s.remedy,
            actor=s.actor,
        )
        if facts is not None:
            changed[key] = facts
            seen[key] = (version, facts.view)
    await repository.save_deliveries(conn, changed)
    return len(changed)
