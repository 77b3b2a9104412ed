"""The roster projection on the real database: newest entry per key, whatever the order."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from kinerja_shared.envelope import Envelope
from kinerja_shared.events.roster import Pegawai, Sekolah, StatusKepegawaian
from kinerja_shared.roster.projection import upsert_pegawai_many, upsert_sekolah_many
from kinerja_shared.testing.stack import Stack
from kinerja_shared.topics import ROSTER_PEGAWAI, ROSTER_SEKOLAH

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
