"""Each service's local copy of the roster, kept from the compacted roster topics.

Upserts keep the newest fact per key (``occurred_at``), so a replay of the compacted topic, or a
redelivery, never turns an entry back to an older state. For the same reason a record dated in
the future is refused (its consumer's DLQ, ``ROSTER_FUTURE_DATED``): it would outrank every true
update of its entry until that date.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import asyncpg
from faststream.kafka import KafkaBroker

from .. import inbox
from ..db import Conn, Executor
from ..envelope import Envelope, utcnow
from ..events.roster import Pegawai, Sekolah
from ..topics import ROSTER_PEGAWAI, ROSTER_SEKOLAH

PegawaiChanged = Callable[[Conn, Pegawai, asyncpg.Record | None], Awaitable[None]]

# Clocks of the importer's host and the consumers' differ a little; more is no clock skew.
FUTURE_SKEW = timedelta(minutes=5)


def future_dated(event: Envelope[Any]) -> tuple[str, str] | None:
    """``(code, reason)`` for a roster record dated later than now (beyond clock skew)."""
    if event.occurred_at <= utcnow() + FUTURE_SKEW:
        return None
    return (
        "ROSTER_FUTURE_DATED",
        f"occurred_at {event.occurred_at.isoformat()} is in the future: the record would "
        "outrank every true update of this entry until then",
    )


_PEGAWAI_COLUMNS = (
    "nip, nama, npsn, jenis_ptk, status_kepegawaian, naungan, kode_wilayah, atasan_nip, "
    "atasan_plt, aktif, updated_at"
)
_SEKOLAH_COLUMNS = "npsn, nama, kode_wilayah, naungan, updated_at"


def _newest(events: Sequence[Envelope[Any]], key: str) -> dict[str, Envelope[Any]]:
    """Per key, the newest of ``events`` (the later one of equal age)."""
    newest: dict[str, Envelope[Any]] = {}
    for event in events:
        k = getattr(event.payload, key)
        if k not in newest or newest[k].occurred_at <= event.occurred_at:
            newest[k] = event
    return newest


def _rows(newest: dict[str, Envelope[Any]]) -> str:
    """The entries as ``jsonb_populate_recordset`` reads them, in key order (the lock order)."""
    return json.dumps(
        [
            {
                **newest[k].payload.model_dump(mode="json"),
                "updated_at": newest[k].occurred_at.isoformat(),
            }
            for k in sorted(newest)
        ]
    )


async def upsert_pegawai_many(conn: Conn, events: Sequence[Envelope[Pegawai]]) -> list[Pegawai]:
    """Store the newest entry per NIP, in one statement; the entries that were newer than what
    we had (a NIP not seen before included)."""
    newest = _newest(events, "nip")
    if not newest:
        return []
    stored = await conn.fetch(
        f"""INSERT INTO roster_pegawai ({_PEGAWAI_COLUMNS})
           SELECT {_PEGAWAI_COLUMNS}
           FROM jsonb_populate_recordset(NULL::roster_pegawai, $1::text::jsonb)
           ON CONFLICT (nip) DO UPDATE SET nama = excluded.nama, npsn = excluded.npsn,
               jenis_ptk = excluded.jenis_ptk, status_kepegawaian = excluded.status_kepegawaian,
               naungan = excluded.naungan, kode_wilayah = excluded.kode_wilayah,
               atasan_nip = excluded.atasan_nip, atasan_plt = excluded.atasan_plt,
               aktif = excluded.aktif, updated_at = excluded.updated_at
           WHERE roster_pegawai.updated_at <= excluded.updated_at
           RETURNING nip""",
        _rows(newest),
    )
    return [newest[r["nip"]].payload for r in stored]


async def upsert_sekolah_many(conn: Conn, events: Sequence[Envelope[Sekolah]]) -> None:
    """Store the newest entry per NPSN, in one statement."""
    newest = _newest(events, "npsn")
    if not newest:
        return
    await conn.execute(
        f"""INSERT INTO roster_sekolah ({_SEKOLAH_COLUMNS})
           SELECT {_SEKOLAH_COLUMNS}
           FROM jsonb_populate_recordset(NULL::roster_sekolah, $1::text::jsonb)
           ON CONFLICT (npsn) DO UPDATE SET nama = excluded.nama,
               kode_wilayah = excluded.kode_wilayah, naungan = excluded.naungan,
               updated_at = excluded.updated_at
           WHERE roster_sekolah.updated_at <= excluded.updated_at""",
        _rows(newest),
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
    service react in the same transaction (e.g. move pending plans to a new atasan), once per
    NIP and batch, with the newest entry of the batch."""

    async def pegawai(conn: Conn, events: Sequence[Envelope[Pegawai]]) -> None:
        if on_pegawai_changed is None:
            await upsert_pegawai_many(conn, events)
            return
        # Read before the upsert, and only for a service that reacts to changes.
        nips = sorted({e.payload.nip for e in events})
        rows = await conn.fetch("SELECT * FROM roster_pegawai WHERE nip = ANY($1::text[])", nips)
        previous = {r["nip"]: r for r in rows}
        for new in await upsert_pegawai_many(conn, events):
            await on_pegawai_changed(conn, new, previous.get(new.nip))

    # A new replica (or a new service) reads the whole compacted topic, one entry per teacher
    # of the country: batches, set-based, make that minutes instead of hours.
    inbox.subscribe_batch(
        broker, ROSTER_PEGAWAI, group=group, pool=pool, effect=pegawai, refuse=future_dated
    )
    inbox.subscribe_batch(
        broker,
        ROSTER_SEKOLAH,
        group=group,
        pool=pool,
        effect=upsert_sekolah_many,
        refuse=future_dated,
    )
