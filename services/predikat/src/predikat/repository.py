"""Plain SQL over this service's schema."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from kinerja_shared.events.predikat import PredikatDitetapkan

from .domain.delivery import DeliveryFacts, delivery_id

# A pooled connection is a proxy to asyncpg's type checker; both are one transaction here.
Tx = asyncpg.Connection | PoolConnectionProxy
Conn = Tx | asyncpg.Pool


async def upsert_recommendation(conn: Tx, r: Any, traceparent: str | None = None) -> None:
    # A KS override survives a later recommendation; a decided predikat is never touched.
    await conn.execute(
        """INSERT INTO teacher_predikat (nip, period_id, npsn, atasan_nip, hasil_kerja,
               perilaku_kerja, recommended_predikat, predikat, recommended_traceparent)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)
           ON CONFLICT (nip, period_id) DO UPDATE SET npsn = excluded.npsn,
               atasan_nip = excluded.atasan_nip, hasil_kerja = excluded.hasil_kerja,
               perilaku_kerja = excluded.perilaku_kerja,
               recommended_predikat = excluded.recommended_predikat,
               recommended_traceparent = excluded.recommended_traceparent,
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
        traceparent,
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


async def record_sent(conn: Tx, sent: Sequence[PredikatDitetapkan]) -> None:
    """Record each sent version under its delivery id and make it the teacher's current one,
    waiting for delivery."""
    if not sent:
        return
    rows = json.dumps(
        [
            {
                "nip": e.nip,
                "period_id": e.period_id,
                "version": e.version,
                "predikat": e.predikat,
                "delivery_id": delivery_id(e.nip, e.period_id, e.version),
                "correction_reason": e.correction_reason,
                "sent_by": e.penilai_nip,
            }
            for e in sent
        ]
    )
    await conn.execute(
        """INSERT INTO predikat_version (nip, period_id, version, predikat, delivery_id,
               correction_reason, sent_by)
           SELECT nip, period_id, version, predikat, delivery_id, correction_reason, sent_by
           FROM jsonb_populate_recordset(NULL::predikat_version, $1::text::jsonb)""",
        rows,
    )
    await conn.execute(
        """UPDATE teacher_predikat t SET version = v.version, predikat = v.predikat,
               delivery_id = v.delivery_id, delivery_state = 'menunggu', bkn_state = NULL,
               next_attempt_at = NULL, reason_code = NULL, reason = NULL, remedy = NULL,
               actor = NULL, updated_at = now()
           FROM jsonb_populate_recordset(NULL::predikat_version, $1::text::jsonb) AS v
           WHERE t.nip = v.nip AND t.period_id = v.period_id""",
        rows,
    )


async def lock_teachers(conn: Tx, keys: Sequence[tuple[str, str]]) -> list[Any]:
    """The rows of ``keys`` (nip, period_id), locked in NIP order, the order a school's
    Kirim locks them in too."""
    return await conn.fetch(
        """SELECT t.nip, t.period_id, t.version, t.delivery_state FROM teacher_predikat t
           JOIN unnest($1::text[], $2::text[]) AS k(nip, period_id)
             ON t.nip = k.nip AND t.period_id = k.period_id
           ORDER BY t.nip, t.period_id FOR UPDATE OF t""",
        [nip for nip, _ in keys],
        [period for _, period in keys],
    )


async def save_deliveries(conn: Tx, facts: Mapping[tuple[str, str], DeliveryFacts]) -> None:
    """Write each teacher's new delivery facts, in one statement. TERKIRIM also records which
    version (and predikat) the teacher can now see."""
    if not facts:
        return
    rows = [
        {
            "nip": nip,
            "period_id": period_id,
            "version": f.version,
            "view": f.view.value,
            "bkn_state": f.state.value if f.state else None,
            "next_attempt_at": f.next_attempt_at.isoformat() if f.next_attempt_at else None,
            "reason_code": f.reason_code,
            "reason": f.reason,
            "remedy": f.remedy,
            "actor": f.actor,
        }
        for (nip, period_id), f in facts.items()
    ]
    await conn.execute(
        """UPDATE teacher_predikat t SET delivery_state = d.view, bkn_state = d.bkn_state,
               next_attempt_at = d.next_attempt_at, reason_code = d.reason_code,
               reason = d.reason, remedy = d.remedy, actor = d.actor,
               delivered_version = CASE WHEN d.view = 'terkirim' THEN d.version
                                        ELSE t.delivered_version END,
               delivered_predikat = CASE WHEN d.view = 'terkirim' THEN v.predikat
                                         ELSE t.delivered_predikat END,
               updated_at = now()
           FROM jsonb_to_recordset($1::text::jsonb) AS d(nip text, period_id text, version int,
                   view text, bkn_state text, next_attempt_at timestamptz, reason_code text,
                   reason text, remedy text, actor text)
           LEFT JOIN predikat_version v
             ON v.nip = d.nip AND v.period_id = d.period_id AND v.version = d.version
           WHERE t.nip = d.nip AND t.period_id = d.period_id""",
        json.dumps(rows),
    )


async def overrides(conn: Conn, npsn: str, period_id: str) -> list[Any]:
    """Every reason given to pass the curve at a school, oldest first."""
    return list(
        await conn.fetch(
            "SELECT reason, violations, counts, by_nip, at FROM distribution_override "
            "WHERE npsn = $1 AND period_id = $2 ORDER BY id",
            npsn,
            period_id,
        )
    )


async def curve_policy_for(conn: Conn, kode_wilayah: str) -> str | None:
    """The mode of the most specific area policy covering ``kode_wilayah``, if any."""
    mode: str | None = await conn.fetchval(
        "SELECT mode FROM curve_policy WHERE starts_with($1, area) "
        "ORDER BY length(area) DESC LIMIT 1",
        kode_wilayah,
    )
    return mode


async def get_curve_policy(conn: Conn, area: str) -> Any:
    return await conn.fetchrow("SELECT * FROM curve_policy WHERE area = $1", area)


async def set_curve_policy(conn: Conn, area: str, mode: str, by: str) -> Any:
    return await conn.fetchrow(
        """INSERT INTO curve_policy (area, mode, set_by) VALUES ($1, $2, $3)
           ON CONFLICT (area) DO UPDATE SET mode = excluded.mode, set_by = excluded.set_by,
               set_at = now()
           RETURNING *""",
        area,
        mode,
        by,
    )
