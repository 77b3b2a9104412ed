"""The one exception the pure rules raise; the HTTP layer turns it into a DomainError."""

from __future__ import annotations

from typing import Any


class RuleViolation(Exception):
    """A refusal with its DOMAIN.md §5 code, the user's Indonesian message and HTTP status."""

    def __init__(self, code: str, message: str, status: int = 422, **detail: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.detail = detail
