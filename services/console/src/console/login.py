"""Login and logout: the authorization code flow with PKCE against the identity provider."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from kinerja_shared.auth import AuthError

from .sessions import CONSOLE_ROLES, LOGIN_COOKIE, LOGIN_SECONDS, SESSION_COOKIE
from .web import ConsoleDep, PageRefusal, forbidden

router = APIRouter(include_in_schema=False)


def _redirect_uri(c: ConsoleDep) -> str:
    return f"{c.settings.public_url.rstrip('/')}/auth/callback"


@router.get("/login")
async def login(c: ConsoleDep, next: Annotated[str, Query(max_length=500)] = "/") -> Response:
    start, sealed = c.sealer.login_start(next)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": c.settings.oidc_client_id,
            "redirect_uri": _redirect_uri(c),
            "scope": "openid",
            "state": start.state,
            "nonce": start.nonce,
            "code_challenge": start.challenge,
            "code_challenge_method": "S256",
        }
    )
    response = RedirectResponse(f"{c.settings.authorize_url}?{query}", status_code=303)
    response.set_cookie(
        LOGIN_COOKIE,
        sealed,
        max_age=LOGIN_SECONDS,
        httponly=True,
        samesite="lax",  # sent on the identity provider's redirect back
        secure=not c.settings.dev,
    )
    return response


@router.get("/auth/callback")
async def callback(
    request: Request,
    c: ConsoleDep,
    code: Annotated[str, Query(max_length=500)],
    state: Annotated[str, Query(max_length=500)],
) -> Response:
    start = c.sealer.login_of(request.cookies.get(LOGIN_COOKIE))
    if start is None or start.state != state:
        raise PageRefusal(
            400, "LOGIN_STATE_MISMATCH", "Sesi masuk kedaluwarsa; silakan masuk lagi."
        )
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": _redirect_uri(c),
        "client_id": c.settings.oidc_client_id,
        "code_verifier": start.verifier,
    }
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(c.settings.token_url, data=form)
    except httpx.HTTPError as exc:
        message = f"Penyedia identitas tidak menjawab: {exc!r}"
        raise PageRefusal(424, "IDP_UNAVAILABLE", message) from exc
    if answer.status_code != 200:
        raise PageRefusal(400, "LOGIN_REFUSED", f"Penyedia identitas menolak: {answer.text[:200]}")
    token = str(answer.json().get("access_token", ""))
    try:
        principal = request.app.state.runtime.verifier.verify(token)
    except AuthError as exc:
        raise PageRefusal(401, exc.code.value, exc.message) from exc
    if principal.role not in CONSOLE_ROLES:
        raise forbidden("Konsol hanya untuk operator dan Dinas Pendidikan.")
    response = RedirectResponse(start.next, status_code=303)
    response.delete_cookie(LOGIN_COOKIE)
    response.set_cookie(
        SESSION_COOKIE,
        c.sealer.session(principal, token, c.settings.session_seconds),
        max_age=c.settings.session_seconds,
        httponly=True,
        # Lax, so the first page after the identity provider's redirect sees it; actions are
        # POSTs, which a browser sends it with from this site only (and web.same_origin checks).
        samesite="lax",
        secure=not c.settings.dev,
    )
    return response


@router.post("/logout")
async def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
