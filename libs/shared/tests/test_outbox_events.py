"""Domain events into outbox records: the topic, key and subject come from the registry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kinerja_shared import db, outbox
from kinerja_shared.events.assessment import SchoolSubmitted
from kinerja_shared.events.planning import PlanSubmitted
from kinerja_shared.events.predikat import PredikatDitetapkan
from kinerja_shared.topics import (
    PLAN_SUBMITTED,
    PREDIKAT_CURRENT,
    PREDIKAT_DITETAPKAN,
    REGISTRY,
    SCHOOL_SUBMITTED,
)
from kinerja_tools.testing.stack import Stack

NIP = "198609262015051001"
AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def test_each_payload_type_is_carried_by_the_topics_that_declare_it() -> None:
    assert outbox.topics_carrying(PlanSubmitted) == (PLAN_SUBMITTED,)
    assert outbox.topics_carrying(PredikatDitetapkan) == (PREDIKAT_DITETAPKAN, PREDIKAT_CURRENT)


def test_a_payload_no_topic_carries_is_refused_before_anything_is_staged() -> None:
    class Stray(PlanSubmitted):
        pass

    with pytest.raises(LookupError, match="Stray"):
        outbox.topics_carrying(Stray)


@pytest.mark.infra
async def test_events_are_staged_in_order_with_the_declared_keys(
    stack: Stack, fresh_schema: str
) -> None:
    submitted = PlanSubmitted(
        plan_id="p1", nip=NIP, npsn="20100001", period_id="2026", version=2, atasan_nip=None
    )
    school = SchoolSubmitted(
        npsn="20100001", period_id="2026", atasan_nip=NIP, assessed=3, excluded=1
    )
    predikat = PredikatDitetapkan(
        nip=NIP,
        npsn="20100001",
        period_id="2026",
        version=1,
        predikat="BAIK",
        hasil_kerja="SESUAI_EKSPEKTASI",
        perilaku_kerja="SESUAI_EKSPEKTASI",
        predikat_organisasi="BAIK",
        penilai_nip=NIP,
        ditetapkan_at=AT,
    )
    pool = await db.create_pool(stack.pg_admin_dsn, fresh_schema)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await outbox.add_events(conn, [submitted, school, predikat])
        rows = await pool.fetch("SELECT topic, key, value FROM outbox ORDER BY id")
    finally:
        await pool.close()

    assert [(r["topic"], r["key"]) for r in rows] == [
        (PLAN_SUBMITTED.name, NIP),
        (SCHOOL_SUBMITTED.name, "20100001"),
        (PREDIKAT_DITETAPKAN.name, NIP),
        (PREDIKAT_CURRENT.name, f"{NIP}:2026"),
    ]
    by_name = {t.name: t for t in REGISTRY}
    envelopes = [by_name[r["topic"]].decode(bytes(r["value"])) for r in rows]
    assert [(e.type, e.subject) for e in envelopes] == [
        (PLAN_SUBMITTED.event_type, NIP),
        (SCHOOL_SUBMITTED.event_type, "20100001"),
        (PREDIKAT_DITETAPKAN.event_type, NIP),
        (PREDIKAT_CURRENT.event_type, f"{NIP}:2026"),
    ]
    assert [e.payload for e in envelopes] == [submitted, school, predikat, predikat]
    assert len({e.event_id for e in envelopes}) == len(envelopes)
