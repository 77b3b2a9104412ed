"""Whatever arrives in the Authorization header, the answer is 200 or 401, never a 500."""

# No `from __future__ import annotations` (see conftest).
import base64
import json
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kinerja_shared.auth import AuthError, DevIdentityProvider, TokenVerifier

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def segment() -> st.SearchStrategy[str]:
    as_json = json_values.map(lambda value: b64url(json.dumps(value).encode()))
    as_bytes = st.binary(max_size=64).map(b64url)
    return as_json | as_bytes | st.text(max_size=20)


jwt_headers = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["EdDSA", "RS256", "ES256", "HS256", "none", ""]) | json_values,
        "kid": st.text(max_size=50) | json_values,
        "typ": st.just("JWT") | json_values,
        "crit": json_values,
        "b64": json_values,
        "jku": st.just("file:///etc/passwd"),
    },
)
jwt_like = st.tuples(
    jwt_headers.map(lambda header: b64url(json.dumps(header).encode())) | segment(),
    segment(),
    segment(),
).map(".".join)

headers = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda text: text.encode("utf-8")),
    st.text(max_size=300).map(lambda text: f"Bearer {text}".encode()),
    jwt_like.map(lambda token: f"Bearer {token}".encode()),
)


async def assert_only_200_or_401(app: FastAPI, header: bytes) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://kinerja") as http:
        response = await http.get("/me", headers={b"Authorization": header})

    assert response.status_code in (200, 401), (header, response.status_code, response.text)
    if response.status_code == 401:
        assert response.json()["code"] in {"AUTH_MISSING", "AUTH_EXPIRED", "AUTH_INVALID"}
        assert response.headers["WWW-Authenticate"] == "Bearer"


@FUZZ
@given(header=headers)
async def test_any_authorization_header_gets_401_never_500(app: FastAPI, header: bytes) -> None:
    await assert_only_200_or_401(app, header)


@FUZZ
@given(
    overrides=st.dictionaries(
        st.sampled_from(["iss", "aud", "exp", "iat", "nbf", "sub", "role", "nip", "npsn", "area"]),
        json_values,
        max_size=4,
    ),
    extra_header=st.dictionaries(st.sampled_from(["crit", "b64", "x5u", "cty"]), json_values),
)
async def test_correctly_signed_token_with_random_claims_gets_200_or_401(
    app: FastAPI,
    idp: DevIdentityProvider,
    overrides: dict[str, Any],
    extra_header: dict[str, Any],
) -> None:
    claims = {
        "iss": idp.issuer,
        "aud": idp.audience,
        "iat": 1_700_000_000,
        "exp": 4_000_000_000,
        "sub": "dinas-1",
        "role": "dinas",
        "area": "3171",
        **overrides,
    }
    try:
        token = idp.sign(claims, headers=extra_header)
    except (TypeError, ValueError, jwt.PyJWTError):
        return  # not serialisable as a JWT in the first place

    await assert_only_200_or_401(app, f"Bearer {token}".encode())


@FUZZ
@given(token=st.text(max_size=500) | jwt_like)
def test_verifier_raises_only_auth_error_without_hitting_the_safety_net(
    verifier: TokenVerifier, token: str
) -> None:
    with pytest.raises(AuthError) as caught:
        verifier.verify(token)

    assert caught.value.status_code == 401
    assert not caught.value.detail.startswith("unexpected"), caught.value.detail
