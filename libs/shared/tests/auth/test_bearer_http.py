"""The protected API seen over HTTP: status codes, bodies and headers for each token case."""

# No `from __future__ import annotations` (see conftest).
import base64
import json
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from kinerja_shared.auth import DevIdentityProvider, Role, TokenVerifier

MISSING_MESSAGE = "Masuk dengan Akun belajar.id."
GURU_NIP = "198609262015051001"
GURU_NPSN = "20100001"
ClaimsFactory = Callable[..., dict[str, Any]]
HandMadeToken = Callable[[dict[str, Any], dict[str, Any], bytes | None], str]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_rejected(response: httpx.Response, code: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["code"] == code
    assert response.json()["message"]
    assert set(response.json()) == {"code", "message", "correlation_id"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_valid_token_yields_the_principal(client: httpx.AsyncClient, guru_token: str) -> None:
    response = await client.get("/me", headers=bearer(guru_token))

    assert response.status_code == 200
    assert response.json() == {
        "subject": f"dev:guru:{GURU_NIP}",
        "role": "guru",
        "nip": GURU_NIP,
        "npsn": GURU_NPSN,
        "area": None,
        "name": "Siti Rahayu",
    }


async def test_bearer_scheme_is_case_insensitive(
    client: httpx.AsyncClient, guru_token: str
) -> None:
    response = await client.get("/me", headers={"Authorization": f"bearer  {guru_token}"})

    assert response.status_code == 200


async def test_missing_header_asks_to_sign_in_with_belajar_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/me")

    assert_rejected(response, "AUTH_MISSING")
    assert response.json()["message"] == MISSING_MESSAGE


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer a b", "Bearer ä.b.c"],
)
async def test_garbled_header_is_treated_as_missing(client: httpx.AsyncClient, header: str) -> None:
    response = await client.get("/me", headers={b"Authorization": header.encode("utf-8")})

    assert_rejected(response, "AUTH_MISSING")


async def test_expired_token_is_rejected_as_expired(
    client: httpx.AsyncClient, idp: DevIdentityProvider, claims_for: ClaimsFactory
) -> None:
    now = int(time.time())
    token = idp.sign(claims_for(iat=now - 3600, exp=now - 120))

    response = await client.get("/me", headers=bearer(token))

    assert_rejected(response, "AUTH_EXPIRED")


async def test_token_expired_within_leeway_is_accepted(
    client: httpx.AsyncClient, idp: DevIdentityProvider, claims_for: ClaimsFactory
) -> None:
    now = int(time.time())
    token = idp.sign(claims_for(iat=now - 3600, exp=now - 5))

    response = await client.get("/me", headers=bearer(token))

    assert response.status_code == 200


async def test_token_forged_with_another_key_under_the_same_kid_is_invalid(
    client: httpx.AsyncClient,
    idp: DevIdentityProvider,
    other_idp: DevIdentityProvider,
    claims_for: ClaimsFactory,
) -> None:
    forged = other_idp.sign(claims_for(), headers={"kid": idp.kid})

    response = await client.get("/me", headers=bearer(forged))

    assert_rejected(response, "AUTH_INVALID")


async def test_expired_forgery_is_invalid_not_expired(
    client: httpx.AsyncClient,
    idp: DevIdentityProvider,
    other_idp: DevIdentityProvider,
    claims_for: ClaimsFactory,
) -> None:
    now = int(time.time())
    forged = other_idp.sign(claims_for(exp=now - 600), headers={"kid": idp.kid})

    response = await client.get("/me", headers=bearer(forged))

    assert_rejected(response, "AUTH_INVALID")


async def test_token_with_unknown_kid_is_invalid(
    client: httpx.AsyncClient,
    idp: DevIdentityProvider,
    other_idp: DevIdentityProvider,
    claims_for: ClaimsFactory,
) -> None:
    response = await client.get("/me", headers=bearer(other_idp.sign(claims_for())))

    assert_rejected(response, "AUTH_INVALID")


async def test_tampered_payload_is_invalid(
    client: httpx.AsyncClient, idp: DevIdentityProvider, guru_token: str, claims_for: ClaimsFactory
) -> None:
    header, _, signature = guru_token.split(".")
    promoted = b64url(json.dumps(claims_for(role="dinas", area="3171", npsn=None)).encode())

    response = await client.get("/me", headers=bearer(f"{header}.{promoted}.{signature}"))

    assert_rejected(response, "AUTH_INVALID")


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"aud": "kinerja-lain"}, id="wrong-audience"),
        pytest.param({"aud": None}, id="no-audience"),
        pytest.param({"iss": "https://evil.example"}, id="wrong-issuer"),
        pytest.param({"iss": None}, id="no-issuer"),
        pytest.param({"exp": None}, id="no-exp"),
        pytest.param({"iat": None}, id="no-iat"),
        pytest.param({"sub": None}, id="no-sub"),
        pytest.param({"role": None}, id="no-role"),
        pytest.param({"role": "kepala_dinas"}, id="unknown-role"),
        pytest.param({"nip": "12345"}, id="short-nip"),
        pytest.param({"nip": 198609262015051001}, id="numeric-nip"),
        pytest.param({"npsn": None}, id="guru-without-npsn"),
        pytest.param({"area": "3171"}, id="guru-with-area"),
        pytest.param({"role": "dinas", "npsn": None, "area": None}, id="dinas-without-area"),
        pytest.param({"exp": "tomorrow"}, id="non-numeric-exp"),
        pytest.param({"iat": int(time.time()) + 3600}, id="issued-in-the-future"),
        pytest.param({"nbf": int(time.time()) + 3600}, id="not-yet-valid"),
    ],
)
async def test_token_with_wrong_or_malformed_claims_is_invalid(
    client: httpx.AsyncClient,
    idp: DevIdentityProvider,
    overrides: dict[str, Any],
    claims_for: ClaimsFactory,
) -> None:
    claims = claims_for()
    for key, value in overrides.items():
        if value is None:
            claims.pop(key, None)
        else:
            claims[key] = value

    response = await client.get("/me", headers=bearer(idp.sign(claims)))

    assert_rejected(response, "AUTH_INVALID")


async def test_alg_none_token_is_invalid(
    client: httpx.AsyncClient,
    idp: DevIdentityProvider,
    claims_for: ClaimsFactory,
    hand_made: HandMadeToken,
) -> None:
    for alg in ("none", "None", "NONE"):
        token = hand_made({"alg": alg, "kid": idp.kid, "typ": "JWT"}, claims_for(), None)

        response = await client.get("/me", headers=bearer(token))

        assert_rejected(response, "AUTH_INVALID")


async def test_hs256_signed_with_the_public_key_is_invalid(
    client: httpx.AsyncClient,
    idp: DevIdentityProvider,
    claims_for: ClaimsFactory,
    hand_made: HandMadeToken,
) -> None:
    jwk = idp.public_jwk
    public_key = jwt.PyJWK(jwk).key
    secrets = [
        idp.jwks_path.read_bytes(),
        json.dumps(jwk).encode(),
        jwk["x"].encode(),
        public_key.public_bytes_raw(),
    ]
    for secret in secrets:
        for alg in ("HS256", "EdDSA"):
            header = {"alg": alg, "kid": idp.kid, "typ": "JWT"}
            token = hand_made(header, claims_for(), secret)

            response = await client.get("/me", headers=bearer(token))

            assert_rejected(response, "AUTH_INVALID")


async def test_alg_header_not_matching_the_key_is_invalid(
    client: httpx.AsyncClient, idp: DevIdentityProvider, claims_for: ClaimsFactory
) -> None:
    token = idp.sign(claims_for())
    _, payload, signature = token.split(".")
    for alg in ("ES256", "RS256"):
        header = b64url(json.dumps({"alg": alg, "kid": idp.kid, "typ": "JWT"}).encode())

        response = await client.get("/me", headers=bearer(f"{header}.{payload}.{signature}"))

        assert_rejected(response, "AUTH_INVALID")


async def test_not_a_jwt_is_invalid(client: httpx.AsyncClient) -> None:
    for token in ("abc", "a.b.c", "a.b.c.d.e", "eyJ.eyJ.sig", "x" * 20000):
        response = await client.get("/me", headers=bearer(token))

        assert_rejected(response, "AUTH_INVALID")


async def test_wrong_role_is_forbidden(client: httpx.AsyncClient, guru_token: str) -> None:
    for path in ("/wilayah/ringkasan", "/sekolah/20100001/kinerja"):
        response = await client.get(path, headers=bearer(guru_token))

        assert response.status_code == 403
        body = response.json()
        # The correlation id is the request's trace id: None in this bare app unless an earlier
        # test of the session instrumented FastAPI.
        correlation_id = body.pop("correlation_id")
        assert correlation_id is None or re.fullmatch(r"[0-9a-f]{32}", correlation_id)
        assert body == {
            "code": "ROLE_FORBIDDEN",
            "message": "Peran Anda tidak memiliki akses ke fitur ini.",
        }


async def test_allowed_role_passes_the_role_check(
    client: httpx.AsyncClient, idp: DevIdentityProvider
) -> None:
    token = idp.mint(role=Role.DINAS, area="3171")

    response = await client.get("/wilayah/ringkasan", headers=bearer(token))

    assert response.status_code == 200
    assert response.json() == {"area": "3171"}


async def test_role_check_without_token_is_unauthenticated_not_forbidden(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/wilayah/ringkasan")

    assert_rejected(response, "AUTH_MISSING")


async def test_missing_jwks_is_service_unavailable_not_token_invalid(
    tmp_path: Any,
    client_for: Callable[[FastAPI], httpx.AsyncClient],
    make_app: Callable[[TokenVerifier], FastAPI],
) -> None:
    idp = DevIdentityProvider(tmp_path / "idp")
    token = idp.mint(role=Role.OPERATOR)
    app = make_app(TokenVerifier(idp.auth_settings()))
    idp.jwks_path.unlink()

    async with client_for(app) as http:
        response = await http.get("/me", headers=bearer(token))

    assert response.status_code == 503
    assert response.json()["code"] == "AUTH_UNAVAILABLE"
    assert "Retry-After" in response.headers


async def test_openapi_declares_the_bearer_scheme(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()

    assert schema["components"]["securitySchemes"]["belajarId"]["scheme"] == "bearer"
