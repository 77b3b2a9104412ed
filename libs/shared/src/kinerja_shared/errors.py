"""One error shape for every HTTP API: ``{"code", "message", "correlation_id"}``.

A ``Refusal`` (docs/domain.md §5 code, Indonesian message, optional detail) gets the status of its
kind from ``STATUS_OF``, the only place a refusal meets HTTP; anything unexpected is a 500 with a
code and the correlation id to quote to the helpdesk, never a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import telemetry
from .refusal import Kind, Refusal

log = logging.getLogger(__name__)


STATUS_OF: Mapping[Kind, int] = MappingProxyType(
    {
        Kind.INVALID: 422,
        Kind.FORBIDDEN: 403,
        Kind.NOT_FOUND: 404,
        Kind.CONFLICT: 409,
    }
)


def _body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, "correlation_id": telemetry.trace_id_hex(), **extra}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Refusal)
    async def _refused(_: Request, exc: Refusal) -> JSONResponse:
        extra = {"detail": exc.detail} if exc.detail else {}
        return JSONResponse(_body(exc.code, exc.message, **extra), status_code=STATUS_OF[exc.kind])

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return JSONResponse(
            _body("VALIDATION_ERROR", "Data yang dikirim tidak valid.", errors=errors),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's "error parsing the body": the same refusal as any other bad input.
            return JSONResponse(
                _body("VALIDATION_ERROR", "Isi permintaan bukan JSON yang valid.", errors=[]),
                status_code=422,
            )
        code = {
            404: "NOT_FOUND",
            405: "METHOD_NOT_ALLOWED",
            413: "REQUEST_TOO_LARGE",
            431: "HEADER_TOO_LARGE",
        }.get(exc.status_code, "HTTP_ERROR")
        return JSONResponse(
            _body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    async def _unstorable(_: Request, exc: Exception) -> JSONResponse:
        # PostgreSQL text cannot hold NUL (U+0000): refuse such input instead of failing on it.
        return JSONResponse(
            _body("VALIDATION_ERROR", "Data mengandung karakter yang tidak diizinkan.", errors=[]),
            status_code=422,
        )

    for unstorable in (
        asyncpg.exceptions.CharacterNotInRepertoireError,
        asyncpg.exceptions.UntranslatableCharacterError,
    ):
        app.add_exception_handler(unstorable, _unstorable)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            _body(
                "INTERNAL_ERROR",
                "Terjadi kesalahan pada sistem. Sebutkan correlation_id "
                "saat menghubungi Pusat Bantuan.",
            ),
            status_code=500,
        )


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string"},
        "message": {"type": "string"},
        "correlation_id": {"type": ["string", "null"]},
        "detail": {"type": "object"},
    },
}
