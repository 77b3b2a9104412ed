"""Each service's local copy of the roster, kept from the compacted roster topics.

Upserts keep the newest fact per key (``occurred_at``), so a replay of the compacted topic, or a
redelivery, never turns an entry back to an older state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from faststream.kafka import KafkaBroker

from .. import inbox
from ..db import Conn, Executor
from ..envelope import Envelope
from ..events.roster import Pegawai, Sekolah
from ..topics import ROSTER_PEGAWAI, ROSTER_SEKOLAH

PegawaiChanged = Callable[[Conn, Pegawai, asyncpg.Record | None], Awaitable[None]]


async def upsert_pegawai(conn: Conn, event: Envelope[Pegawai]) -> bool:
    """Store the entry; True if it was newer than what we had."""
    p = event.payload
    stored = await conn.fetchval(
        """INSERT INTO roster_pegawai (nip, nama, npsn, jenis_ptk, status_kepegawaian, naungan,
               kode_wilayah, atasan_nip, atasan_plt, aktif, updated_at)
           VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)
           ON CONFLICT (nip) DO UPDATE SET nama = excluded.nama, npsn = excluded.npsn,
               jenis_ptk = excluded.jenis_ptk, status_kepegawaian = excluded.status_kepegawaian,
               naungan = excluded.naungan, kode_wilayah = excluded.kode_wilayah,
               atasan_nip = excluded.atasan_nip, atasan_plt = excluded.atasan_plt,
               aktif = excluded.aktif, updated_at = excluded.updated_at
           WHERE roster_pegawai.updated_at <= excluded.updated_at
           RETURNING true""",
        p.nip,
        p.nama,
        p.npsn,
        p.jenis_ptk,
        p.status_kepegawaian.value,
        p.naungan.value,
        p.kode_wilayah,
        p.atasan_nip,
        p.atasan_plt,
        p.aktif,
        event.occurred_at,
    )
    return bool(stored)


async def upsert_sekolah(conn: Conn, event: Envelope[Sekolah]) -> None:
    s = event.payload
    await conn.execute(
        """INSERT INTO roster_sekolah (npsn, nama, kode_wilayah, naungan, updated_at)
           VALUES ($1,$2,$3,$4,$5)
           ON CONFLICT (npsn) DO UPDATE SET nama = excluded.nama,
               kode_wilayah = excluded.kode_wilayah, naungan = excluded.naungan,
               updated_at = excluded.updated_at
           WHERE roster_sekolah.updated_at <= excluded.updated_at""",
        s.npsn,
        s.nama,
        s.kode_wilayah,
        s.naungan.value,
        event.occurred_at,
    )


async def get_pegawai(conn: Executor, nip: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM roster_pegawai WHERE nip = $1", nip
    )
    return row


async def get_sekolah(conn: Executor, npsn: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM roster_sekolah WHERE npsn = $1", npsn
    )
    return row


def subscribe_roster(
    broker: KafkaBroker,
    *,
    group: str,
    pool: asyncpg.Pool,
    on_pegawai_changed: PegawaiChanged | None = None,
) -> None:
    """Keep this service's roster projection; ``on_pegawai_changed(conn, new, old)`` lets a
    service react in the same transaction (e.g. move pending plans to a new atasan)."""

    async def pegawai(conn: Conn, event: Envelope[Any]) -> None:
        old = await get_pegawai(conn, event.payload.nip)
        if await upsert_pegawai(conn, event) and on_pegawai_changed is not None:
            await on_pegawai_changed(conn, event.payload, old)

    async def sekolah(conn: Conn, event: Envelope[Any]) -> None:
        await upsert_sekolah(conn, event)

    inbox.subscribe(broker, ROSTER_PEGAWAI, group=group, pool=pool, effect=pegawai)
    inbox.subscribe(broker, ROSTER_SEKOLAH, group=group, pool=pool, effect=sekolah)
