"""Plain SQL over this service's schema, and the mapping rows <-> domain ``Assessment``."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from kinerja_shared.db import Conn, Executor

from .domain.assessment import Assessment, Evidence, EvidenceKind, PlanFact
from .domain.rating_rules import RatingOutcome

ASN = ("PNS", "PPPK")


async def get(conn: Executor, nip: str, period_id: str) -> Any:
    return await conn.fetchrow(
        "SELECT * FROM assessments WHERE nip = $1 AND period_id = $2", nip, period_id
    )


async def lock(conn: Conn, nip: str, period_id: str) -> Any:
    """The row of (nip, period), created empty if new, locked: one teacher's facts apply one by
    one even though their topics are consumed concurrently."""
    await conn.execute(
        """INSERT INTO assessments (nip, period_id, state) VALUES ($1, $2, 'BELUM_DINILAI')
           ON CONFLICT DO NOTHING""",
        nip,
        period_id,
    )
    return await conn.fetchrow(
        "SELECT * FROM assessments WHERE nip = $1 AND period_id = $2 FOR UPDATE", nip, period_id
    )


async def evidence_of(conn: Executor, nip: str, period_id: str) -> dict[EvidenceKind, Evidence]:
    rows = await conn.fetch(
        "SELECT * FROM evidence WHERE nip = $1 AND period_id = $2", nip, period_id
    )
    return {
        EvidenceKind(r["kind"]): Evidence(
            kind=EvidenceKind(r["kind"]),
            occurred_at=r["occurred_at"],
            event_id=r["event_id"],
            data=r["data"],
        )
        for r in rows
    }


def to_domain(row: Any, evidence: Mapping[EvidenceKind, Evidence]) -> Assessment:
    plan = None
    if row["plan_id"] is not None:
        plan = PlanFact(
            plan_id=row["plan_id"],
            version=row["plan_version"],
            agreed=row["plan_agreed"],
            npsn=row["npsn"],
            atasan_nip=row["atasan_nip"],
            occurred_at=row["plan_occurred_at"],
        )
    return Assessment(
        plan=plan,
        ever_agreed=row["ever_agreed"],
        evidence=MappingProxyType(dict(evidence)),
        rated_plan_version=row["rated_plan_version"],
        submitted=row["submitted"],
    )


async def load(conn: Conn, nip: str, period_id: str) -> tuple[Any, Assessment]:
    """Lock and load; the row exists afterwards."""
    row = await lock(conn, nip, period_id)
    return row, to_domain(row, await evidence_of(conn, nip, period_id))


async def remember_plan_trace(
    conn: Conn, nip: str, period_id: str, traceparent: str | None
) -> None:
    await conn.execute(
        "UPDATE assessments SET plan_traceparent = $3 WHERE nip = $1 AND period_id = $2",
        nip,
        period_id,
        traceparent,
    )


async def save(conn: Conn, nip: str, period_id: str, a: Assessment) -> None:
    obs = a.evidence.get(EvidenceKind.OBSERVATION)
    p = a.plan
    await conn.execute(
        """UPDATE assessments SET plan_id = $3, plan_version = $4, plan_agreed = $5,
               npsn = $6, atasan_nip = $7, plan_occurred_at = $8, ever_agreed = $9,
               practice_rating = $10, state = $11, submitted = $12, updated_at = now()
           WHERE nip = $1 AND period_id = $2""",
        nip,
        period_id,
        p.plan_id if p else None,
        p.version if p else None,
        p.agreed if p else False,
        p.npsn if p else None,
        p.atasan_nip if p else None,
        p.occurred_at if p else None,
        a.ever_agreed,
        obs.data["practice_rating"] if obs else None,
        a.state.value,
        a.submitted,
    )
    for ev in a.evidence.values():
        await conn.execute(
            """INSERT INTO evidence (nip, period_id, kind, occurred_at, event_id, data)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (nip, period_id, kind) DO UPDATE SET occurred_at = excluded.occurred_at,
                   event_id = excluded.event_id, data = excluded.data
               WHERE (evidence.occurred_at, evidence.event_id)
                   < (excluded.occurred_at, excluded.event_id)""",
            nip,
            period_id,
            ev.kind.value,
            ev.occurred_at,
            ev.event_id,
            dict(ev.data),
        )


async def save_rating(
    conn: Conn,
    nip: str,
    period_id: str,
    a: Assessment,
    outcome: RatingOutcome,
    *,
    by: str,
    hk_reason: str | None,
) -> None:
    await save(conn, nip, period_id, a)
    await conn.execute(
        """UPDATE assessments SET rated_plan_version = $3, rated_by = $4, rated_at = now(),
               reflection_quality = $5, follow_up_effort = $6, followup_missing = $7,
               hk_derived = $8, hasil_kerja = $9, perilaku_kerja = $10,
               recommended_predikat = $11, behaviours = $12, hk_adjustment_reason = $13
           WHERE nip = $1 AND period_id = $2""",
        nip,
        period_id,
        a.rated_plan_version,
        by,
        outcome.reflection_quality.value,
        outcome.follow_up_effort.value,
        outcome.followup_missing,
        outcome.hk_derived.value,
        outcome.hasil_kerja.value,
        outcome.perilaku_kerja.value,
        outcome.predikat.value,
        {k: v.value for k, v in outcome.behaviours.items()},
        hk_reason.strip() if outcome.hasil_kerja != outcome.hk_derived and hk_reason else None,
    )


async def school_teachers(
    conn: Executor, npsn: str, period_id: str, atasan_nip: str | None
) -> list[Any]:
    """Active ASN teachers of the school (of one atasan if given), with their assessment."""
    rows: list[Any] = await conn.fetch(
        """SELECT p.nip, p.nama, p.atasan_nip, a.state, a.ever_agreed, a.plan_agreed,
               a.recommended_predikat, a.hasil_kerja, a.perilaku_kerja, a.excluded_reason,
               a.submitted, a.rated_at,
               COALESCE((SELECT array_agg(e.kind ORDER BY e.kind) FROM evidence e
                         WHERE e.nip = p.nip AND e.period_id = $2), '{}') AS evidence_kinds
           FROM roster_pegawai p
           LEFT JOIN assessments a ON a.nip = p.nip AND a.period_id = $2
           WHERE p.npsn = $1 AND p.aktif AND p.status_kepegawaian = ANY($4::text[])
             AND p.jenis_ptk <> 'Kepala Sekolah'
             AND ($3::text IS NULL OR p.atasan_nip = $3)
           ORDER BY p.nama, p.nip""",
        npsn,
        period_id,
        atasan_nip,
        list(ASN),
    )
    return rows


async def get_submission(conn: Executor, npsn: str, period_id: str, atasan_nip: str) -> Any:
    return await conn.fetchrow(
        """SELECT * FROM school_submissions
           WHERE npsn = $1 AND period_id = $2 AND atasan_nip = $3""",
        npsn,
        period_id,
        atasan_nip,
    )


async def submissions_of(conn: Executor, npsn: str, period_id: str) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        "SELECT * FROM school_submissions WHERE npsn = $1 AND period_id = $2 ORDER BY atasan_nip",
        npsn,
        period_id,
    )
    return rows


async def record_submission(
    conn: Conn,
    npsn: str,
    period_id: str,
    atasan_nip: str,
    assessed: tuple[str, ...],
    excluded: Mapping[str, str],
) -> None:
    await conn.execute(
        """INSERT INTO school_submissions (npsn, period_id, atasan_nip, assessed, exclusions)
           VALUES ($1, $2, $3, $4, $5)""",
        npsn,
        period_id,
        atasan_nip,
        list(assessed),
        dict(excluded),
    )
    await conn.execute(
        """UPDATE assessments SET submitted = true, state = 'DIKIRIM_KE_DINAS', updated_at = now()
           WHERE period_id = $1 AND nip = ANY($2::text[])""",
        period_id,
        list(assessed),
    )
    for nip, why in excluded.items():
        await conn.execute(
            """UPDATE assessments SET excluded_reason = $3, updated_at = now()
               WHERE nip = $1 AND period_id = $2""",
            nip,
            period_id,
            why,
        )
