"""The one error shape every endpoint uses: ``{"code": ..., "message": ...}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse


def error_response(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, **extra}, status, headers=headers)
