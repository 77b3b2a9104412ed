"""What assessment's routes share: who may see which assessments, and loading them."""

from __future__ import annotations

from typing import Any

import asyncpg

from kinerja_shared import access
from kinerja_shared.auth import Principal, Role
from kinerja_shared.db import Executor

from .. import repository
from ..domain.assessment import Assessment, EvidenceKind
from ..domain.rating_rules import not_agreed, not_observed


async def readable_assessment(
    pool: asyncpg.Pool, principal: Principal, nip: str, period_id: str
) -> tuple[Any, Assessment]:
    """The row and the assessment of ``nip`` if ``principal`` may read it and it is open: it
    opens when there is something to rate; until then the school summary lists what is
    missing."""
    await access.authorize_read(pool, principal, nip)
    row = await repository.get(pool, nip, period_id)
    if row is None:
        raise not_agreed()
    a = repository.to_domain(row, await repository.evidence_of(pool, nip, period_id))
    if not a.ever_agreed:
        raise not_agreed()
    if EvidenceKind.OBSERVATION not in a.evidence:
        raise not_observed()
    return row, a


async def visible_atasan(conn: Executor, principal: Principal, npsn: str) -> str | None:
    """Whose teachers of school ``npsn`` the caller may see: a Kepala Sekolah their own, the
    Dinas of its area and an operator all of them (None)."""
    await access.authorize_school_read(conn, principal, npsn)
    return principal.nip if principal.role is Role.KEPALA_SEKOLAH else None
