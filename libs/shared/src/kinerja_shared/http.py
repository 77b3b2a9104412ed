"""FastAPI dependencies every service's routes use: who is calling, and the database."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .auth import Principal
from .auth.verify import parse_bearer
from .errors import ERROR_SCHEMA

_bearer = HTTPBearer(auto_error=False, description="A token from the identity provider.")


def _principal(
    request: Request,
    _scheme: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    verifier = request.app.state.runtime.verifier
    principal: Principal = verifier.verify(parse_bearer(request.headers.get("authorization")))
    request.state.principal = principal
    return principal


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.runtime.db
    return pool


CurrentPrincipal = Annotated[Principal, Depends(_principal)]
Db = Annotated[asyncpg.Pool, Depends(_pool)]


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error shape, so clients see every refusal a route can give."""
    described = {
        401: "Tidak masuk / token tidak sah (AUTH_MISSING, AUTH_EXPIRED, AUTH_INVALID)",
        403: "Tidak berwenang (ROLE_FORBIDDEN, V-10, NOT_OWN_RECORD, OUTSIDE_AREA, ...)",
        404: "Tidak ditemukan",
        409: "Konflik keadaan (V-09, V-14, V-15, ...)",
        413: "Isi permintaan terlalu besar (REQUEST_TOO_LARGE)",
        414: "Alamat permintaan terlalu panjang (URI_TOO_LONG)",
        422: "Aturan bisnis dilanggar (V-xx) atau data tidak valid (VALIDATION_ERROR)",
        431: "Header terlalu panjang (HEADER_TOO_LARGE)",
    }
    return {
        s: {
            "description": described.get(s, "Error"),
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        }
        # Every route can refuse its input (parameters or body) with our 422 shape, so it is
        # always listed: FastAPI's default 422 schema would document a body we never send. The
        # size limits (kinerja_shared.middleware) guard every route alike: 413, 414 and 431.
        for s in sorted({401, 413, 414, 422, 431, *statuses})
    }
