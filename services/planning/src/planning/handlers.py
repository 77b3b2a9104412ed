"""Subscribers: the roster projection, and pending plans following a teacher's new atasan."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from kinerja_shared import outbox
from kinerja_shared.events.roster import Pegawai
from kinerja_shared.periods import WIB
from kinerja_shared.refusal import Refusal
from kinerja_shared.roster.projection import subscribe_roster
from kinerja_shared.service import Runtime

from . import repository
from .config import Settings
from .domain.periods import require_plan_stage_open
from .domain.plan import Atasan
from .rules import PlanningRules

ROSTER_ACTOR = "SYSTEM_ROSTER"


def register(runtime: Runtime[Settings, None]) -> None:
    settings = runtime.settings
    assert isinstance(settings, Settings)
    rules = PlanningRules.load(settings)

    async def changed(conn: repository.Conn, new: Pegawai, old: asyncpg.Record | None) -> None:
        await on_pegawai_changed(conn, new, old, rules)

    subscribe_roster(
        runtime.broker,
        group=settings.consumer_group,
        pool=runtime.db,
        on_pegawai_changed=changed,
    )


async def on_pegawai_changed(
    conn: repository.Conn, new: Pegawai, old: asyncpg.Record | None, rules: PlanningRules
) -> None:
    """Runs in the roster upsert's transaction, so a plan never points at a stale atasan, and a
    submission that waited for an atasan (V-03) goes to the one the roster names now."""
    if old is not None and (old["atasan_nip"], old["atasan_plt"]) == (
        new.atasan_nip,
        new.atasan_plt,
    ):
        return
    atasan = Atasan(nip=new.atasan_nip, plt=new.atasan_plt)
    now = datetime.now(UTC)
    for plan in await repository.pending_for_teacher(conn, new.nip):
        transition = plan.reassign_atasan(atasan, now)
        await repository.save_transition(conn, plan, transition, actor=ROSTER_ACTOR)
        await outbox.add_events(conn, transition.events)
    for plan, since in await repository.waiting_for_atasan(conn, new.nip):
        try:
            require_plan_stage_open(rules.calendar, plan.period_id, now.astimezone(WIB).date())
        except Refusal:
            continue  # the plan stage closed meanwhile: nothing may be submitted any more
        transition = plan.resume_submission(atasan, rules.catalog, now, since)
        await repository.save_transition(conn, plan, transition, actor=ROSTER_ACTOR)
        await outbox.add_events(conn, transition.events)
