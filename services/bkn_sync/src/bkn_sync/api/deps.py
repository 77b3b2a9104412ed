"""What every route shares: who sees what, this instance's breaker, the listing's pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request

from kinerja_shared import access
from kinerja_shared.auth import Principal, Role
from kinerja_shared.refusal import Kind, Refusal

from ..breaker import BreakerView
from ..sender import Sender

MAX_ROWS = 500


def scope_of(principal: Principal) -> dict[str, Any]:
    """Operators see everything; a Dinas only the schools of its area."""
    access.require_role(principal, Role.OPERATOR, Role.DINAS)
    return {"area": principal.area} if principal.role is Role.DINAS else {}


def breaker_of(request: Request) -> BreakerView:
    sender: Sender = request.app.state.runtime.parts.sender
    return sender.gate.view()


def cursor_of(after: str | None) -> tuple[datetime, str] | None:
    if after is None:
        return None
    at, sep, delivery_id = after.partition("|")
    try:
        if not sep or not delivery_id:
            raise ValueError(after)
        return datetime.fromisoformat(at), delivery_id
    except ValueError:
        raise Refusal(
            "VALIDATION_ERROR", "Kursor halaman tidak valid.", Kind.INVALID, after=after
        ) from None
