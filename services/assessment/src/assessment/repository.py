"""Plain SQL over this service's schema."""

from __future__ import annotations

from typing import Any

from kinerja_shared.db import Conn, Executor


async def open_assessment(
    conn: Conn,
    *,
    nip: str,
    period_id: str,
    npsn: str,
    plan_id: str,
    atasan_nip: str,
    practice_rating: str,
) -> None:
    await conn.execute(
        """INSERT INTO assessments (nip, period_id, npsn, plan_id, atasan_nip, state,
               practice_rating)
           VALUES ($1, $2, $3, $4, $5, 'BELUM_DINILAI', $6)
           ON CONFLICT (nip, period_id) DO UPDATE SET practice_rating = excluded.practice_rating,
               updated_at = now()
           WHERE assessments.state = 'BELUM_DINILAI'""",
        nip,
        period_id,
        npsn,
        plan_id,
        atasan_nip,
        practice_rating,
    )


async def get(conn: Executor, nip: str, period_id: str) -> Any:
    return await conn.fetchrow(
        "SELECT * FROM assessments WHERE nip = $1 AND period_id = $2", nip, period_id
    )


async def save_rating(
    conn: Conn,
    *,
    nip: str,
    period_id: str,
    hasil_kerja: str,
    perilaku_kerja: str,
    recommended: str,
    behaviours: dict[str, str],
) -> None:
    await conn.execute(
        """UPDATE assessments SET state = 'DINILAI', hasil_kerja = $3, perilaku_kerja = $4,
               recommended_predikat = $5, behaviours = $6, updated_at = now()
           WHERE nip = $1 AND period_id = $2""",
        nip,
        period_id,
        hasil_kerja,
        perilaku_kerja,
        recommended,
        behaviours,
    )
