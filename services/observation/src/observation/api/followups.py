"""The follow-up after the observation: the Guru records, the atasan reviews.

See docs/domain.md §2.4.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

import asyncpg
from fastapi import APIRouter, Request
from pydantic import BaseModel

from kinerja_shared import access, outbox
from kinerja_shared.fields import Reason, Reflection
from kinerja_shared.http import CurrentPrincipal, Db, error_responses
from kinerja_shared.refusal import Refusal

from .. import repository
from ..domain import followup as domain
from ..domain.calendar import check_pelaksanaan_open
from ..domain.followup import Followup
from ..domain.refusals import plan_not_agreed
from ..rules import ObservationRules
from .deps import Rules, now_of, require_self
from .views import FollowupView, followup_view

router = APIRouter(prefix="/observations", tags=["follow-up"])


class ActionRequest(BaseModel):
    action: Reason


class ReflectionRequest(BaseModel):
    reflection: Reflection


class ReviewRequest(BaseModel):
    comment: Reason | None = None


# Only the teacher records their follow-up; the atasan reads it (docs/domain.md §1.3).
_require_owner = partial(
    require_self,
    not_own="Anda hanya dapat mengisi tindak lanjut Anda sendiri.",
    not_a_teacher="Tindak lanjut diisi oleh guru yang bersangkutan.",
)


async def _missing(conn: repository.Conn | asyncpg.Pool, nip: str, period_id: str) -> Refusal:
    """Why there is no follow-up: no observation at all (V-12), or no feedback yet."""
    if await repository.get(conn, nip, period_id) is None:
        return plan_not_agreed()
    return domain.not_open()


async def _change(
    conn: repository.Conn,
    rules: ObservationRules,
    nip: str,
    period_id: str,
    now: datetime,
    step: Callable[[Followup], Followup],
) -> tuple[Followup, bool]:
    """The follow-up after ``step``, saved, and whether it changed (a retry changes nothing)."""
    check_pelaksanaan_open(rules.calendar, period_id, now)
    current = await repository.get_followup(conn, nip, period_id, lock=True)
    if current is None:
        raise await _missing(conn, nip, period_id)
    updated = step(current)
    changed = updated is not current
    if changed:
        await repository.save_followup(conn, updated)
    return updated, changed


@router.get("/{nip}/{period_id}/followup", responses=error_responses(403, 404, 422))
async def get_followup(
    nip: str, period_id: str, principal: CurrentPrincipal, pool: Db
) -> FollowupView:
    await access.authorize_read(pool, principal, nip)
    f = await repository.get_followup(pool, nip, period_id)
    if f is None:
        raise await _missing(pool, nip, period_id)
    return followup_view(f)


@router.post("/{nip}/{period_id}/followup/actions", responses=error_responses(403, 404, 409, 422))
async def log_action(
    nip: str,
    period_id: str,
    body: ActionRequest,
    principal: CurrentPrincipal,
    pool: Db,
    rules: Rules,
    request: Request,
) -> FollowupView:
    _require_owner(principal, nip)
    now = now_of(request)
    async with pool.acquire() as conn, conn.transaction():
        await access.teacher_on_roster(conn, nip)
        f, _ = await _change(
            conn, rules, nip, period_id, now, lambda f: domain.log_action(f, body.action, now=now)
        )
    return followup_view(f)


@router.post(
    "/{nip}/{period_id}/followup/reflection", responses=error_responses(403, 404, 409, 422)
)
async def submit_reflection(
    nip: str,
    period_id: str,
    body: ReflectionRequest,
    principal: CurrentPrincipal,
    pool: Db,
    rules: Rules,
    request: Request,
) -> FollowupView:
    _require_owner(principal, nip)
    now = now_of(request)
    async with pool.acquire() as conn, conn.transaction():
        await access.teacher_on_roster(conn, nip)
        f, changed = await _change(
            conn,
            rules,
            nip,
            period_id,
            now,
            lambda f: domain.submit_reflection(f, body.reflection, now=now),
        )
        if changed:
            obs = await repository.get(conn, nip, period_id)
            assert obs is not None  # a follow-up exists only for an observation
            await outbox.add_events(conn, [domain.reflected_event(obs, f)])
    return followup_view(f)


@router.post("/{nip}/{period_id}/followup/review", responses=error_responses(403, 404, 409, 422))
async def review(
    nip: str,
    period_id: str,
    body: ReviewRequest,
    principal: CurrentPrincipal,
    pool: Db,
    rules: Rules,
    request: Request,
) -> FollowupView:
    now = now_of(request)
    async with pool.acquire() as conn, conn.transaction():
        await access.authorize_atasan(conn, principal, nip)
        f, _ = await _change(
            conn,
            rules,
            nip,
            period_id,
            now,
            lambda f: domain.review(f, body.comment, by_nip=str(principal.nip), now=now),
        )
    return followup_view(f)
