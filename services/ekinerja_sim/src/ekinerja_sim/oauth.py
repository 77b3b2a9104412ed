"""e-Kinerja's client-credentials door (OAuth2, RFC 6749 §4.4), when the simulator is given a
client: ``POST /oauth/token`` issues bearer tokens to that client, and every record PUT must carry
a live one, else 401 ``UNAUTHORIZED``. Without a client configured the door is open, as the
functional tests expect. ``POST /admin/oauth/revoke`` ends every token, as a key rotation at
e-Kinerja would.
"""

from __future__ import annotations

import base64
import secrets
import time
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ekinerja_sim.errors import error_response

RECORD_PATHS = ("/skp/", "/predikat/", "/penilaian-periodik/")


class ClientDoor:
    def __init__(self, client_id: str | None, client_secret: str | None, ttl_seconds: int) -> None:
        self.client_id, self._secret, self.ttl = client_id, client_secret, ttl_seconds
        self._tokens: dict[str, float] = {}
        self.issued = 0
        self.refused = 0

    @property
    def enabled(self) -> bool:
        return self.client_id is not None

    def issue(self, client_id: str, secret: str) -> str | None:
        if not (
            secrets.compare_digest(client_id, self.client_id or "")
            and secrets.compare_digest(secret, self._secret or "")
        ):
            return None
        token = secrets.token_urlsafe(32)
        self._tokens[token] = time.monotonic() + self.ttl
        self.issued += 1
        return token

    def admits(self, authorization: str | None) -> bool:
        if not self.enabled:
            return True
        scheme, _, token = (authorization or "").partition(" ")
        expires = self._tokens.get(token) if scheme.lower() == "bearer" else None
        if expires is None or expires < time.monotonic():
            self.refused += 1
            return False
        return True

    def revoke_all(self) -> None:
        self._tokens.clear()


def _credentials(request: Request, form: dict[str, list[str]]) -> tuple[str, str]:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return "", ""
        return client_id, secret
    return form.get("client_id", [""])[0], form.get("client_secret", [""])[0]


def oauth_router(door: ClientDoor) -> APIRouter:
    router = APIRouter()

    @router.post("/oauth/token")
    async def token(request: Request) -> Response:
        form = parse_qs((await request.body()).decode(errors="replace"))
        if form.get("grant_type", [""])[0] != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        issued = door.issue(*_credentials(request, form)) if door.enabled else None
        if issued is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        return JSONResponse(
            {"access_token": issued, "token_type": "Bearer", "expires_in": door.ttl},
            headers={"Cache-Control": "no-store"},
        )

    @router.post("/admin/oauth/revoke", status_code=204)
    async def revoke() -> None:
        door.revoke_all()

    @router.get("/admin/oauth")
    async def state() -> dict[str, object]:
        return {"enabled": door.enabled, "issued": door.issued, "refused": door.refused}

    return router


def unauthorized() -> Response:
    return error_response(401, "UNAUTHORIZED", "Token akses tidak sah atau kedaluwarsa")
