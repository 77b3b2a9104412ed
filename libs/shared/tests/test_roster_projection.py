"""The roster projection on the real database and broker: newest entry per key, whatever the
order; a record dated in the future is dead-lettered."""

from __future__ import annotations

import secrets
from datetime import timedelta

import asyncpg
import pytest
from faststream.kafka import KafkaBroker
from kafka_support import create_topic, read_all

from kinerja_shared import db
from kinerja_shared.envelope import Envelope
from kinerja_shared.events.roster import Pegawai, Sekolah, StatusKepegawaian
from kinerja_shared.roster.projection import (
    subscribe_roster,
    upsert_pegawai_many,
    upsert_sekolah_many,
)
from kinerja_shared.topics import ROSTER_PEGAWAI, ROSTER_SEKOLAH, dlq_name
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.groups import start_groups_at_end
from kinerja_tools.testing.stack import Stack

pytestmark = pytest.mark.infra

A, B = "198001012005011001", "198502022010012002"


def entry(nip: str, atasan: str | None, age_s: int = 0) -> Envelope[Pegawai]:
    event = ROSTER_PEGAWAI.envelope(
        nip,
        Pegawai(
            nip=nip,
            nama=f"Guru {nip[-3:]}",
            npsn="20100001",
            jenis_ptk="Guru Kelas",
            status_kepegawaian=StatusKepegawaian.PNS,
            kode_wilayah="3171",
            atasan_nip=atasan,
        ),
    )
    return event.model_copy(update={"occurred_at": event.occurred_at - timedelta(seconds=age_s)})


async def test_a_batch_keeps_the_newest_entry_and_reports_each_change_once(
    stack: Stack, fresh_schema: str
) -> None:
    conn = await asyncpg.connect(stack.pg_admin_dsn, server_settings={"search_path": fresh_schema})
    try:
        async with conn.transaction():
            first = await upsert_pegawai_many(conn, [entry(A, "KS-1", age_s=60)])
        assert [(new.nip, new.atasan_nip) for new in first] == [(A, "KS-1")]

        # A's newer entry arrives before an older one in the same batch; B is new.
        batch = [entry(A, "KS-3", age_s=10), entry(B, "KS-9"), entry(A, "KS-2", age_s=30)]
        async with conn.transaction():
            changed = await upsert_pegawai_many(conn, batch)
        assert sorted((new.nip, new.atasan_nip) for new in changed) == [(A, "KS-3"), (B, "KS-9")]

        # A replay of anything older changes nothing and reports nothing.
        async with conn.transaction():
            assert await upsert_pegawai_many(conn, [entry(A, "KS-1", age_s=60)]) == []
        rows = await conn.fetch("SELECT nip, atasan_nip FROM roster_pegawai ORDER BY nip")
        assert [(r["nip"], r["atasan_nip"]) for r in rows] == [(A, "KS-3"), (B, "KS-9")]

        old_name = ROSTER_SEKOLAH.envelope(
            "20100001", Sekolah(npsn="20100001", nama="SDN 1 Lama", kode_wilayah="3171")
        )
        new_name = ROSTER_SEKOLAH.envelope(
            "20100001", Sekolah(npsn="20100001", nama="SDN 1", kode_wilayah="3171")
        )
        async with conn.transaction():
            await upsert_sekolah_many(
                conn,
                [
                    new_name,
                    old_name.model_copy(
                        update={"occurred_at": old_name.occurred_at - timedelta(days=1)}
                    ),
                ],
            )
        assert await conn.fetchval("SELECT nama FROM roster_sekolah") == "SDN 1"
    finally:
        await conn.close()


async def test_a_roster_record_dated_in_the_future_is_dead_lettered_not_stored(
    stack: Stack, fresh_schema: str
) -> None:
    # Published to the real roster topic, read by a projection of its own from the topic's end.
    nip = f"1980010120050110{secrets.randbelow(90) + 10}"
    group = f"roster-{fresh_schema}"
    await create_topic(stack.kafka_bootstrap, name=dlq_name(group))
    await start_groups_at_end(stack.kafka_bootstrap, [group])
    pool = await db.create_pool(stack.pg_admin_dsn, fresh_schema)
    broker = KafkaBroker(stack.kafka_bootstrap, enable_idempotence=True, acks="all")
    subscribe_roster(broker, group=group, pool=pool)
    await broker.start()
    try:
        forged = entry(nip, "KS-FORGED", age_s=-86_400)  # dated a day ahead
        true = entry(nip, "KS-TRUE")
        for event in (forged, true):
            await broker.publish(
                event.model_dump_json().encode(), ROSTER_PEGAWAI.name, key=nip.encode()
            )

        async def stored() -> str | None:
            atasan: str | None = await pool.fetchval(
                "SELECT atasan_nip FROM roster_pegawai WHERE nip = $1", nip
            )
            return atasan

        # Stored, the forged entry would outrank the true one for a day.
        assert await wait_for(stored, timeout=60, what="the roster entry") == "KS-TRUE"
        dead = await read_all(stack.kafka_bootstrap, dlq_name(group), at_least=1)
        assert [d.key for d in dead] == [nip.encode()]
        headers = {k: v.decode() for k, v in dead[0].headers}
        assert headers["kinerja-error-code"] == "ROSTER_FUTURE_DATED"
        # A dead letter has an id of its own; the original's is in a header.
        assert headers["kinerja-original-event-id"] == str(forged.event_id)
        assert ROSTER_PEGAWAI.decode(dead[0].value).payload.atasan_nip == "KS-FORGED"
    finally:
        await broker.stop()
        await pool.close()
