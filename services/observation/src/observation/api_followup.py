"""HTTP routes of the follow-up (DOMAIN.md §2.4): the Guru records, the atasan reviews."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel

from kinerja_shared import access, outbox
from kinerja_shared.auth import Principal, Role
from kinerja_shared.http import CurrentPrincipal, Db, error_responses
from kinerja_shared.topics import FOLLOWUP_REFLECTED

from . import publishing, repository
from .api import check_stage_open, domain_error, now_of
from .domain import followup as rules
from .domain.errors import Refusal, plan_not_agreed
from .domain.followup import Followup

router = APIRouter(prefix="/observations", tags=["follow-up"])


class ActionRequest(BaseModel):
    action: str


class ReflectionRequest(BaseModel):
    reflection: str


class ReviewRequest(BaseModel):
    comment: str | None = None


class ActionView(BaseModel):
    text: str
    at: datetime


class FollowupView(BaseModel):
    nip: str
    period_id: str
    state: str
    revision: int
    actions: list[ActionView]
    reflection: str | None
    reflected_at: datetime | None
    review_comment: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None


def _view(f: Followup) -> FollowupView:
    return FollowupView(
        nip=f.nip,
        period_id=f.period_id,
        state=f.state.value,
        revision=f.revision,
        actions=[ActionView(text=a.text, at=a.at) for a in f.actions],
        reflection=f.reflection,
        reflected_at=f.reflected_at,
        review_comment=f.review_comment,
        reviewed_by=f.reviewed_by,
        reviewed_at=f.reviewed_at,
    )


def _require_owner(principal: Principal, nip: str) -> None:
    """Only the teacher records their follow-up; the atasan reads it (DOMAIN.md §1.3)."""
    if principal.role in (Role.GURU, Role.KEPALA_SEKOLAH) and principal.nip == nip:
        return
    if principal.role is Role.GURU:
        raise access.forbidden(
            "NOT_OWN_RECORD", "Anda hanya dapat mengisi tindak lanjut Anda sendiri."
        )
    raise access.forbidden("ROLE_FORBIDDEN", "Tindak lanjut diisi oleh guru yang bersangkutan.")


async def _change(
    conn: repository.Conn,
    nip: str,
    period_id: str,
    now: datetime,
    step: Callable[[Followup], Followup],
) -> tuple[Followup, bool]:
    """The follow-up after ``step``, saved, and whether it changed (a retry changes nothing)."""
    check_stage_open(period_id, now)
    current = await repository.get_followup(conn, nip, period_id, lock=True)
    if current is None:
        if await repository.get(conn, nip, period_id) is None:
            raise domain_error(plan_not_agreed())
        raise domain_error(rules.not_open())
    try:
        updated = step(current)
    except Refusal as exc:
        raise domain_error(exc) from exc
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
        if await repository.get(pool, nip, period_id) is None:
            raise domain_error(plan_not_agreed())
        raise domain_error(rules.not_open())
    return _view(f)


@router.post("/{nip}/{period_id}/followup/actions", responses=error_responses(403, 404, 409, 422))
async def log_action(
    nip: str,
    period_id: str,
    body: ActionRequest,
    principal: CurrentPrincipal,
    pool: Db,
    request: Request,
) -> FollowupView:
    _require_owner(principal, nip)
    now = now_of(request)
    async with pool.acquire() as conn, conn.transaction():
        await access.teacher_on_roster(conn, nip)
        f, _ = await _change(
            conn, nip, period_id, now, lambda f: rules.log_action(f, body.action, now=now)
        )
    return _view(f)


@router.post(
    "/{nip}/{period_id}/followup/reflection", responses=error_responses(403, 404, 409, 422)
)
async def submit_reflection(
    nip: str,
    period_id: str,
    body: ReflectionRequest,
    principal: CurrentPrincipal,
    pool: Db,
    request: Request,
) -> FollowupView:
    _require_owner(principal, nip)
    now = now_of(request)
    async with pool.acquire() as conn, conn.transaction():
        await access.teacher_on_roster(conn, nip)
        f, changed = await _change(
            conn,
            nip,
            period_id,
            now,
            lambda f: rules.submit_reflection(f, body.reflection, now=now),
        )
        if changed:
            obs = await repository.get(conn, nip, period_id)
            assert obs is not None  # a follow-up exists only for an observation
            event = publishing.followup_reflected(obs, f)
            await outbox.add_event(conn, FOLLOWUP_REFLECTED, nip, event)
    return _view(f)


@router.post("/{nip}/{period_id}/followup/review", responses=error_responses(403, 404, 409, 422))
async def review(
    nip: str,
    period_id: str,
    body: ReviewRequest,
    principal: CurrentPrincipal,
    pool: Db,
    request: Request,
) -> FollowupView:
    now = now_of(request)
    async with pool.acquire() as conn, conn.transaction():
        await access.authorize_atasan(conn, principal, nip)
        f, _ = await _change(
            conn,
            nip,
            period_id,
            now,
            lambda f: rules.review(f, body.comment, by_nip=str(principal.nip), now=now),
        )
    return _view(f)
