"""Subscribers: the roster projection, and pending plans following a teacher's new atasan."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from kinerja_shared import outbox
from kinerja_shared.events.roster import Pegawai
from kinerja_shared.roster.projection import subscribe_roster
from kinerja_shared.service import Runtime

from . import repository
from .domain.plan import Atasan

ROSTER_ACTOR = "SYSTEM_ROSTER"


def register(runtime: Runtime) -> None:
    subscribe_roster(
        runtime.broker,
        group=runtime.settings.consumer_group,
        pool=runtime.db,
        on_pegawai_changed=on_pegawai_changed,
    )


async def on_pegawai_changed(
    conn: repository.Conn, new: Pegawai, old: asyncpg.Record | None
) -> None:
    """Runs in the roster upsert's transaction, so a plan never points at a stale atasan."""
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
