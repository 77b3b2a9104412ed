# No `from __future__ import annotations`: FastAPI must resolve the route signatures below.
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from kinerja_shared.auth import (
    DevIdentityProvider,
    Principal,
    Role,
    TokenVerifier,
    bearer_principal,
    install_auth_errors,
    require_roles,
)

GURU_NIP = "198609262015051001"
GURU_NPSN = "20100001"

# Tests get these helpers through fixtures: with --import-mode=importlib, conftest is not
# importable as a module.
ClaimsFactory = Callable[..., dict[str, Any]]
HandMadeToken = Callable[[dict[str, Any], dict[str, Any], bytes | None], str]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hand_made_token(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """A JWS built without PyJWT, so tests can produce what PyJWT refuses to (alg none,
    HMAC keyed with a public key). ``key=None`` leaves the signature empty."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = (
        b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    )
    return f"{signing_input}.{b64url(signature)}"


def build_app(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    install_auth_errors(app)
    current_principal = bearer_principal(verifier)
    dinas_only = require_roles(Role.DINAS, principal=current_principal)

    @app.get("/me")
    def me(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        return principal

    @app.get("/wilayah/ringkasan")
    def ringkasan(principal: Annotated[Principal, Depends(dinas_only)]) -> dict[str, str | None]:
        return {"area": principal.area}

    @app.get("/sekolah/{npsn}/kinerja", dependencies=[Depends(dinas_only)])
    def sekolah(npsn: str) -> dict[str, str]:
        return {"npsn": npsn}

    return app


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> DevIdentityProvider:
    return DevIdentityProvider(tmp_path_factory.mktemp("dev-idp"))


@pytest.fixture(scope="module")
def verifier(idp: DevIdentityProvider) -> TokenVerifier:
    return TokenVerifier(idp.auth_settings())


@pytest.fixture(scope="module")
def app(verifier: TokenVerifier) -> FastAPI:
    return build_app(verifier)


@pytest.fixture
def guru_token(idp: DevIdentityProvider) -> str:
    return idp.mint(role=Role.GURU, nip=GURU_NIP, npsn=GURU_NPSN, name="Siti Rahayu")


@pytest.fixture
def client_for() -> Callable[[FastAPI], httpx.AsyncClient]:
    def make(app: FastAPI) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kinerja")

    return make


@pytest.fixture
async def client(
    app: FastAPI, client_for: Callable[[FastAPI], httpx.AsyncClient]
) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


@pytest.fixture
def other_idp(tmp_path: Path) -> DevIdentityProvider:
    return DevIdentityProvider(tmp_path / "other-idp")


@pytest.fixture
def claims_for(idp: DevIdentityProvider) -> ClaimsFactory:
    """Valid guru claims for ``idp``; keyword overrides replace claims, ``None`` drops one."""

    def make(**overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": idp.issuer,
            "aud": idp.audience,
            "iat": now,
            "exp": now + 600,
            "sub": "guru-1",
            "role": "guru",
            "nip": GURU_NIP,
            "npsn": GURU_NPSN,
        }
        claims.update(overrides)
        return {key: value for key, value in claims.items() if value is not None}

    return make


@pytest.fixture
def hand_made() -> HandMadeToken:
    return hand_made_token


@pytest.fixture
def make_app() -> Callable[[TokenVerifier], FastAPI]:
    return build_app
