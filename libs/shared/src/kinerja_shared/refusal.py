"""The one refusal every service raises: a rule does not allow what the caller asked for.

Framework-free, so pure domain modules raise it as they are. ``code`` is the stable code of
docs/domain.md §5 that clients branch on, ``message`` the Indonesian text shown to the user,
``detail`` what helps to fix the request. ``kind`` is what sort of refusal it is, never a
transport's number: the HTTP layer maps each kind to one status (``kinerja_shared.errors``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    INVALID = "invalid"
    """The request breaks a business rule; the caller can fix it and ask again."""
    FORBIDDEN = "forbidden"
    """This caller may not do this, whatever the request says."""
    NOT_FOUND = "not_found"
    """What the request is about does not exist, or not yet."""
    CONFLICT = "conflict"
    """The record's current state does not allow it (or it changed since it was read)."""


class Refusal(Exception):
    """Raise a fresh one each time (a factory function per rule, not a module-level instance):
    a raised exception keeps its traceback, so an instance raised on every request would grow
    one without end."""

    def __init__(self, code: str, message: str, kind: Kind = Kind.INVALID, **detail: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.kind = kind
        self.detail = detail
