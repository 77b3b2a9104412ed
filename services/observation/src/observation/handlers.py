"""Subscribers: the roster projection (a transfer out cancels open items), and an agreed plan
opening (or refocusing) an observation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from kinerja_shared import inbox
from kinerja_shared.envelope import Envelope
from kinerja_shared.events.roster import Pegawai
from kinerja_shared.refusal import Refusal
from kinerja_shared.roster.projection import subscribe_roster
from kinerja_shared.topics import PLAN_AGREED

from . import repository
from .domain import followup
from .domain.observation import AgreedPlan, cancel, on_plan_agreed
from .parts import ObservationRuntime
from .repository import Conn
from .rules import ObservationRules

SYSTEM = "SYSTEM"
TRANSFER_REASON = "Pegawai mutasi keluar (tidak aktif lagi pada data Dapodik)."


def register(runtime: ObservationRuntime) -> None:
    group = runtime.settings.consumer_group

    async def pegawai_changed(conn: Conn, new: Pegawai, old: asyncpg.Record | None) -> None:
        if not new.aktif:
            await cancel_open_items(conn, new.nip, now=runtime.parts.clock())

    async def agreed(conn: Conn, event: Envelope[Any]) -> None:
        await plan_agreed(conn, event, runtime.parts.rules)

    subscribe_roster(
        runtime.broker, group=group, pool=runtime.db, on_pegawai_changed=pegawai_changed
    )
    inbox.subscribe(runtime.broker, PLAN_AGREED, group=group, pool=runtime.db, effect=agreed)


async def plan_agreed(conn: Conn, event: Envelope[Any], rules: ObservationRules) -> None:
    p = event.payload
    plan = AgreedPlan(
        plan_id=p.plan_id,
        plan_version=p.version,
        nip=p.nip,
        npsn=p.npsn,
        period_id=p.period_id,
        sub_indikator=p.sub_indikator,
        atasan_nip=p.atasan_nip,
    )
    current = await repository.get(conn, p.nip, p.period_id, lock=True)
    try:
        updated = on_plan_agreed(current, plan, calendar=rules.calendar, rubrics=rules.rubrics)
    except Refusal as exc:
        # An unknown period or sub-indicator will not become known by retrying: park it.
        raise inbox.PermanentError(exc.code, exc.message) from exc
    if updated is not None:
        await repository.save(conn, updated)


async def cancel_open_items(conn: Conn, nip: str, *, now: datetime) -> None:
    """A teacher who left (``aktif=False``) will not be observed: cancel what is still open,
    which frees the observer's slots. History, follow-up actions and reports are kept."""
    for obs in await repository.open_observations(conn, nip):
        cancelled, change = cancel(obs, TRANSFER_REASON, by_nip=SYSTEM, now=now)
        if change is not None:
            await repository.save(conn, cancelled)
            await repository.add_history(conn, cancelled, change)
    for period_id in await repository.open_followup_periods(conn, nip):
        f = await repository.get_followup(conn, nip, period_id, lock=True)
        if f is not None:
            await repository.save_followup(conn, followup.cancel(f))
