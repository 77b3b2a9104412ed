"""Plain SQL over this service's schema."""

from __future__ import annotations

from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A pooled connection is a proxy to asyncpg's type checker; both are one transaction here.
Tx = asyncpg.Connection | PoolConnectionProxy
Conn = Tx | asyncpg.Pool


async def upsert_recommendation(conn: Tx, r: Any) -> None:
    # A KS override survives a later recommendation; a decided predikat is never touched.
    await conn.execute(
        """INSERT INTO teacher_predikat (nip, period_id, npsn, atasan_nip, hasil_kerja,
               perilaku_kerja, recommended_predikat, predikat)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
           ON CONFLICT (nip, period_id) DO UPDATE SET npsn = excluded.npsn,
               atasan_nip = excluded.atasan_nip, hasil_kerja = excluded.hasil_kerja,
               perilaku_kerja = excluded.perilaku_kerja,
               recommended_predikat = excluded.recommended_predikat,
               predikat = CASE WHEN teacher_predikat.override_reason IS NULL
                               THEN excluded.predikat ELSE teacher_predikat.predikat END,
               updated_at = now()
           WHERE teacher_predikat.state = 'DRAF' AND teacher_predikat.version = 0""",
        r.nip,
        r.period_id,
        r.npsn,
        r.atasan_nip,
        r.hasil_kerja,
        r.perilaku_kerja,
        r.recommended_predikat,
    )


async def get_teacher(conn: Conn, nip: str, period_id: str, *, lock: bool = False) -> Any:
    sql = "SELECT * FROM teacher_predikat WHERE nip = $1 AND period_id = $2"
    return await conn.fetchrow(sql + (" FOR UPDATE" if lock else ""), nip, period_id)


async def school_rows(conn: Conn, npsn: str, period_id: str, *, lock: bool = False) -> Any:
    sql = "SELECT * FROM teacher_predikat WHERE npsn = $1 AND period_id = $2 ORDER BY nip"
    return await conn.fetch(sql + (" FOR UPDATE" if lock else ""), npsn, period_id)


async def school_counted_rows(conn: Conn, npsn: str, period_id: str) -> Any:
    """The teachers n counts (§4.2): ASN teachers assessed in the school, not the KS."""
    return await conn.fetch(
        """SELECT t.nip, t.predikat FROM teacher_predikat t
           LEFT JOIN roster_pegawai p ON p.nip = t.nip
           WHERE t.npsn = $1 AND t.period_id = $2
             AND coalesce(p.status_kepegawaian, 'PNS') <> 'NON_ASN'
             AND coalesce(p.jenis_ptk, '') <> 'Kepala Sekolah'""",
        npsn,
        period_id,
    )


async def teachers_of_atasan(conn: Conn, atasan_nip: str, npsn: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT nip FROM roster_pegawai WHERE atasan_nip = $1 AND npsn = $2 AND aktif",
        atasan_nip,
        npsn,
    )
    return [r["nip"] for r in rows]


async def get_org(conn: Conn, npsn: str, period_id: str, *, lock: bool = False) -> Any:
    sql = "SELECT * FROM org_predikat WHERE npsn = $1 AND period_id = $2"
    return await conn.fetchrow(sql + (" FOR UPDATE" if lock else ""), npsn, period_id)


async def any_sent(conn: Conn, npsn: str, period_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM teacher_predikat WHERE npsn = $1 AND period_id = $2 "
            "AND version > 0)",
            npsn,
            period_id,
        )
    )


async def save_org(conn: Tx, npsn: str, period_id: str, value: str, state: str, by: str) -> Any:
    return await conn.fetchrow(
        """INSERT INTO org_predikat (npsn, period_id, predikat_organisasi, state, ditetapkan_by)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (npsn, period_id) DO UPDATE SET
               predikat_organisasi = excluded.predikat_organisasi, state = excluded.state,
               revision = org_predikat.revision + 1, ditetapkan_by = excluded.ditetapkan_by,
               ditetapkan_at = now()
           RETURNING *""",
        npsn,
        period_id,
        value,
        state,
        by,
    )


async def reopen_unsent(conn: Tx, npsn: str, period_id: str) -> None:
    """A revised org predikat changes the curve: decided but unsent predikat go back to DRAF."""
    await conn.execute(
        "UPDATE teacher_predikat SET state = 'DRAF', distribution_reason = NULL, "
        "updated_at = now() WHERE npsn = $1 AND period_id = $2 AND state = 'DITETAPKAN' "
        "AND version = 0",
        npsn,
        period_id,
    )


async def set_draft_predikat(
    conn: Tx, nip: str, period_id: str, predikat: str, reason: str | None
) -> None:
    await conn.execute(
        "UPDATE teacher_predikat SET predikat = $3, override_reason = $4, state = 'DRAF', "
        "updated_at = now() WHERE nip = $1 AND period_id = $2",
        nip,
        period_id,
        predikat,
        reason,
    )


async def mark_ditetapkan(
    conn: Tx, nips: list[str], period_id: str, penilai: str, reason: str | None
) -> None:
    await conn.execute(
        "UPDATE teacher_predikat SET state = 'DITETAPKAN', penilai_nip = $3, "
        "distribution_reason = $4, ditetapkan_at = now(), updated_at = now() "
        "WHERE nip = ANY($1::text[]) AND period_id = $2 AND state = 'DRAF'",
        nips,
        period_id,
        penilai,
        reason,
    )


async def record_override(
    conn: Tx,
    npsn: str,
    period_id: str,
    reason: str,
    violations: list[dict[str, Any]],
    counts: dict[str, int],
    by: str,
) -> None:
    await conn.execute(
        "INSERT INTO distribution_override (npsn, period_id, reason, violations, counts, by_nip) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        npsn,
        period_id,
        reason,
        violations,
        counts,
        by,
    )


async def record_sent(
    conn: Tx,
    *,
    nip: str,
    period_id: str,
    version: int,
    predikat: str,
    delivery_id: str,
    correction_reason: str | None,
    by: str,
) -> None:
    await conn.execute(
        """INSERT INTO predikat_version (nip, period_id, version, predikat, delivery_id,
               correction_reason, sent_by) VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        nip,
        period_id,
        version,
        predikat,
        delivery_id,
        correction_reason,
        by,
    )
    await conn.execute(
        """UPDATE teacher_predikat SET version = $3, predikat = $4, delivery_id = $5,
               delivery_state = 'menunggu', next_attempt_at = NULL, reason_code = NULL,
               reason = NULL, remedy = NULL, actor = NULL, updated_at = now()
           WHERE nip = $1 AND period_id = $2""",
        nip,
        period_id,
        version,
        predikat,
        delivery_id,
    )


async def save_delivery(conn: Tx, nip: str, period_id: str, f: Any) -> None:
    delivered = f.view.value == "terkirim"
    await conn.execute(
        """UPDATE teacher_predikat SET delivery_state = $3, next_attempt_at = $4,
               reason_code = $5, reason = $6, remedy = $7, actor = $8,
               delivered_version = CASE WHEN $9 THEN $10 ELSE delivered_version END,
               delivered_predikat = CASE WHEN $9 THEN
                   (SELECT v.predikat FROM predikat_version v WHERE v.nip = $1
                      AND v.period_id = $2 AND v.version = $10)
                   ELSE delivered_predikat END,
               updated_at = now()
           WHERE nip = $1 AND period_id = $2""",
        nip,
        period_id,
        f.view.value,
        f.next_attempt_at,
        f.reason_code,
        f.reason,
        f.remedy,
        f.actor,
        delivered,
        f.version,
    )
