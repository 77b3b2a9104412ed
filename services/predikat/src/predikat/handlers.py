"""Subscribers: the roster projection, recommendations from assessment, and delivery status
from bkn-sync."""

from __future__ import annotations

import logging
from typing import Any

from kinerja_shared import inbox
from kinerja_shared.envelope import Envelope
from kinerja_shared.events.bkn_sync import RecordKind
from kinerja_shared.roster.projection import subscribe_roster
from kinerja_shared.service import Runtime
from kinerja_shared.topics import ASSESSMENT_RECOMMENDED, BKN_DELIVERY_STATUS

from . import repository
from .config import Settings
from .domain.delivery import DeliveryView, apply_status

log = logging.getLogger(__name__)


def register(runtime: Runtime) -> None:
    group = runtime.settings.consumer_group
    subscribe_roster(runtime.broker, group=group, pool=runtime.db)

    async def on_recommended(conn: repository.Tx, event: Envelope[Any]) -> None:
        await repository.upsert_recommendation(conn, event.payload)

    async def on_status(conn: repository.Tx, event: Envelope[Any]) -> None:
        await on_delivery_status(conn, event)

    inbox.subscribe(
        runtime.broker,
        ASSESSMENT_RECOMMENDED,
        group=group,
        pool=runtime.db,
        effect=on_recommended,
    )
    settings = runtime.settings
    assert isinstance(settings, Settings)
    inbox.subscribe(
        runtime.broker,
        BKN_DELIVERY_STATUS,
        group=group,
        pool=runtime.db,
        effect=on_status,
        max_workers=settings.status_workers,
    )


async def on_delivery_status(conn: repository.Tx, event: Envelope[Any]) -> bool:
    """True if the teacher's delivery state changed."""
    s = event.payload
    if s.kind is not RecordKind.PREDIKAT:
        return False
    row = await repository.get_teacher(conn, s.nip, s.period_id, lock=True)
    if row is None:
        log.warning("delivery status for an unknown predikat", extra={"nip": s.nip})
        return False
    facts = apply_status(
        row["version"],
        DeliveryView(row["delivery_state"]),
        version=s.version,
        state=s.state,
        next_attempt_at=s.next_attempt_at,
        reason_code=s.reason_code,
        reason=s.reason,
        remedy=s.remedy,
        actor=s.actor,
    )
    if facts is None:
        return False
    await repository.save_delivery(conn, s.nip, s.period_id, facts)
    return True
