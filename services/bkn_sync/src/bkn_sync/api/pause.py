"""Pause and resume every delivery to e-Kinerja, across replicas (BKN's maintenance windows)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from kinerja_shared import access
from kinerja_shared.auth import Role
from kinerja_shared.http import CurrentPrincipal, Db, error_responses
from kinerja_shared.refusal import Kind, Refusal

from .. import pause
from .views import PauseView

router = APIRouter()
log = logging.getLogger(__name__)


MAX_PAUSE = timedelta(days=30)


class PauseRequest(BaseModel):
    reason: str = Field(
        min_length=5,
        max_length=500,
        description="Why, e.g. BKN's announced maintenance window (shown to operators and logged).",
    )
    until: datetime | None = Field(
        default=None,
        description="When deliveries resume by themselves (with a time zone); none: until "
        "DELETE /pause.",
    )


def _pause_view(record: pause.PauseRecord | None) -> PauseView:
    if record is None or not record.in_force(datetime.now(UTC)):
        return PauseView(paused=False)
    return PauseView(
        paused=True,
        reason=record.reason,
        paused_by=record.paused_by,
        paused_at=record.paused_at,
        until=record.until,
    )


def _learn(request: Request, record: pause.PauseRecord | None) -> None:
    # This replica knows at once; the others on their next read (pause_poll_seconds).
    held: pause.Pause = request.app.state.runtime.parts.pause
    held.learn(record)


@router.get("/pause", responses=error_responses(403))
async def pause_state(principal: CurrentPrincipal, pool: Db) -> PauseView:
    """Whether deliveries to e-Kinerja are paused, as every replica reads it."""
    access.require_role(principal, Role.OPERATOR)
    return _pause_view(await pause.read(pool))


@router.put("/pause", responses=error_responses(403, 422))
async def pause_deliveries(
    body: PauseRequest, principal: CurrentPrincipal, pool: Db, request: Request
) -> PauseView:
    """Hold every delivery on every replica: they wait where they are, spending no attempt, as
    under an open breaker, until DELETE /pause or ``until``."""
    access.require_role(principal, Role.OPERATOR)
    if body.until is not None:
        if body.until.tzinfo is None:
            raise Refusal(
                "PAUSE_UNTIL_INVALID",
                "Waktu akhir jeda harus menyertakan zona waktu.",
                Kind.INVALID,
            )
        now = datetime.now(UTC)
        if not now < body.until <= now + MAX_PAUSE:
            # A maintenance window lasts hours; a year typed wrong must not stop deliveries for
            # good (a pause without an end stays until DELETE /pause, on purpose).
            raise Refusal(
                "PAUSE_UNTIL_INVALID",
                f"Waktu akhir jeda harus di masa depan, paling lama {MAX_PAUSE.days} hari lagi.",
                Kind.INVALID,
                until=body.until.isoformat(),
            )
    record = await pause.write(
        pool, reason=body.reason.strip(), paused_by=principal.subject, until=body.until
    )
    _learn(request, record)
    log.info(
        "pause",
        extra={
            "pause_actor": principal.subject,
            "pause_reason": record.reason,
            "pause_until": record.until.isoformat() if record.until else None,
        },
    )
    return _pause_view(record)


@router.delete("/pause", responses=error_responses(403))
async def resume_deliveries(principal: CurrentPrincipal, pool: Db, request: Request) -> PauseView:
    """Lift the pause: every replica resumes on its next read."""
    access.require_role(principal, Role.OPERATOR)
    lifted = await pause.lift(pool)
    _learn(request, None)
    log.info(
        "resume",
        extra={"pause_actor": principal.subject, "was_paused": lifted is not None},
    )
    return PauseView(paused=False)
