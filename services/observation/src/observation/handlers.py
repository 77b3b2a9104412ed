"""Subscribers: the roster projection, and an agreed plan opening (or refocusing) an observation."""

from __future__ import annotations

from typing import Any

from kinerja_shared import inbox
from kinerja_shared.envelope import Envelope
from kinerja_shared.roster.projection import subscribe_roster
from kinerja_shared.service import Runtime
from kinerja_shared.topics import PLAN_AGREED

from . import repository
from .domain.errors import Refusal
from .domain.observation import AgreedPlan, on_plan_agreed
from .repository import Conn


def register(runtime: Runtime) -> None:
    group = runtime.settings.consumer_group
    subscribe_roster(runtime.broker, group=group, pool=runtime.db)
    inbox.subscribe(runtime.broker, PLAN_AGREED, group=group, pool=runtime.db, effect=plan_agreed)


async def plan_agreed(conn: Conn, event: Envelope[Any]) -> None:
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
        updated = on_plan_agreed(current, plan)
    except Refusal as exc:
        # An unknown period or sub-indicator will not become known by retrying: park it.
        raise inbox.PermanentError(exc.code, exc.message) from exc
    if updated is not None:
        await repository.save(conn, updated)
