"""The dev identity provider as an OpenID Connect issuer, for local use only: the authorization
code flow with PKCE (S256) that the delivery console logs in with.

``/authorize`` shows a form to say who you are (role and scope, as ``kinerja-dev-token`` takes
them) instead of a password; ``/token`` exchanges the one-time code for tokens minted by
`DevIdentityProvider`, after checking the client, the redirect URI and the PKCE verifier. Codes
live in memory for a minute. Mount it only in dev: whoever reaches it can be anyone.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import ValidationError

from kinerja_shared.auth import DevIdentityProvider, Principal, Role

CODE_SECONDS = 60


@dataclass(frozen=True)
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    principal: Principal
    expires: float


def s256(verifier: str) -> str:
    """The PKCE code challenge of ``verifier`` (RFC 7636, S256)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _error(code: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=status)


_FORM = """<!doctype html><html lang="id"><head><meta charset="utf-8">
<title>Dev issuer: masuk</title></head><body>
<h1>Dev issuer (lokal saja)</h1>
<p>Pilih identitas yang akan dipakai. Tidak ada kata sandi: ini hanya untuk pengembangan.</p>
<form method="post" action="{action}">
{hidden}
<label>Peran <select name="role" id="role">{roles}</select></label><br>
<label>NIP <input name="nip" id="nip"></label><br>
<label>NPSN <input name="npsn" id="npsn"></label><br>
<label>Kode wilayah (Dinas) <input name="area" id="area"></label><br>
<label>Nama <input name="name" id="name"></label><br>
<button type="submit" id="sign-in">Masuk</button>
</form></body></html>"""


def dev_oidc_router(idp: DevIdentityProvider, *, prefix: str, token_ttl: int = 3600) -> APIRouter:
    """The issuer's endpoints under ``prefix`` (e.g. ``/dev-idp``)."""
    router = APIRouter(prefix=prefix, include_in_schema=False)
    grants: dict[str, _Grant] = {}

    def forget_expired() -> None:
        now = time.monotonic()
        for code in [c for c, g in grants.items() if g.expires < now]:
            grants.pop(code, None)

    @router.get("/authorize")
    async def authorize_form(
        client_id: Annotated[str, Query(max_length=200)],
        redirect_uri: Annotated[str, Query(max_length=2000)],
        code_challenge: Annotated[str, Query(min_length=43, max_length=128)],
        state: Annotated[str, Query(max_length=500)] = "",
        nonce: Annotated[str, Query(max_length=500)] = "",
        response_type: Annotated[str, Query(pattern="^code$")] = "code",
        code_challenge_method: Annotated[str, Query(pattern="^S256$")] = "S256",
    ) -> HTMLResponse:
        carried = {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "code_challenge": code_challenge,
            "state": state,
            "nonce": nonce,
        }
        hidden = "\n".join(
            f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in carried.items()
        )
        roles = "".join(f'<option value="{r.value}">{r.value}</option>' for r in Role)
        page = _FORM.format(action=f"{prefix}/authorize", hidden=hidden, roles=roles)
        return HTMLResponse(page)

    @router.post("/authorize", response_model=None)
    async def authorize(
        client_id: Annotated[str, Form(max_length=200)],
        redirect_uri: Annotated[str, Form(max_length=2000)],
        code_challenge: Annotated[str, Form(min_length=43, max_length=128)],
        role: Annotated[str, Form(max_length=32)],
        state: Annotated[str, Form(max_length=500)] = "",
        nonce: Annotated[str, Form(max_length=500)] = "",
        nip: Annotated[str, Form(max_length=18)] = "",
        npsn: Annotated[str, Form(max_length=8)] = "",
        area: Annotated[str, Form(max_length=4)] = "",
        name: Annotated[str, Form(max_length=255)] = "",
    ) -> RedirectResponse | JSONResponse:
        try:
            who = Role(role)
            principal = Principal(
                subject=f"dev:{who.value}:{nip or area or npsn or 'user'}",
                role=who,
                nip=nip or None,
                npsn=npsn or None,
                area=area or None,
                name=name or None,
            )
        except (ValueError, ValidationError) as exc:
            return _error("invalid_request", f"identity not valid for the role: {exc}")
        forget_expired()
        code = secrets.token_urlsafe(32)
        grants[code] = _Grant(
            client_id, redirect_uri, code_challenge, nonce, principal, time.monotonic() + 60
        )
        query = urlencode({"code": code, **({"state": state} if state else {})})
        joiner = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{joiner}{query}", status_code=303)

    @router.post("/token")
    async def token(
        grant_type: Annotated[str, Form(max_length=50)],
        code: Annotated[str, Form(max_length=200)],
        redirect_uri: Annotated[str, Form(max_length=2000)],
        client_id: Annotated[str, Form(max_length=200)],
        code_verifier: Annotated[str, Form(min_length=43, max_length=128)],
    ) -> JSONResponse:
        if grant_type != "authorization_code":
            return _error("unsupported_grant_type", "only authorization_code")
        grant = grants.pop(code, None)  # one use, whatever follows
        if grant is None or grant.expires < time.monotonic():
            return _error("invalid_grant", "unknown, used or expired code")
        if (client_id, redirect_uri) != (grant.client_id, grant.redirect_uri):
            return _error("invalid_grant", "client or redirect_uri differ from the request")
        if not secrets.compare_digest(s256(code_verifier), grant.challenge):
            return _error("invalid_grant", "code_verifier does not match the code_challenge")
        p = grant.principal
        access = idp.mint(
            role=p.role,
            nip=p.nip,
            npsn=p.npsn,
            area=p.area,
            name=p.name,
            subject=p.subject,
            ttl=token_ttl,
        )
        now = int(time.time())
        id_token = idp.sign(
            {
                "iss": idp.issuer,
                "aud": client_id,
                "iat": now,
                "exp": now + token_ttl,
                **({"nonce": grant.nonce} if grant.nonce else {}),
                **p.to_claims(),
            }
        )
        return JSONResponse(
            {
                "access_token": access,
                "id_token": id_token,
                "token_type": "Bearer",
                "expires_in": token_ttl,
            },
            headers={"Cache-Control": "no-store"},
        )

    @router.get("/jwks")
    async def jwks() -> JSONResponse:
        return JSONResponse({"keys": [idp.public_jwk]})

    return router
