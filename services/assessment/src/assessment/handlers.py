"""Subscribers: the roster projection, and a conducted observation opening an assessment."""

from __future__ import annotations

from typing import Any

from kinerja_shared import inbox
from kinerja_shared.db import Conn
from kinerja_shared.envelope import Envelope
from kinerja_shared.roster.projection import subscribe_roster
from kinerja_shared.service import Runtime
from kinerja_shared.topics import OBSERVATION_CONDUCTED

from . import repository


def register(runtime: Runtime) -> None:
    group = runtime.settings.consumer_group
    subscribe_roster(runtime.broker, group=group, pool=runtime.db)
    inbox.subscribe(
        runtime.broker,
        OBSERVATION_CONDUCTED,
        group=group,
        pool=runtime.db,
        effect=on_observation_conducted,
    )


async def on_observation_conducted(conn: Conn, event: Envelope[Any]) -> None:
    o = event.payload
    await repository.open_assessment(
        conn,
        nip=o.nip,
        period_id=o.period_id,
        npsn=o.npsn,
        plan_id=o.plan_id,
        atasan_nip=o.observer_nip,
        practice_rating=o.practice_rating,
    )
