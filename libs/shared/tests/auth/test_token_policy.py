"""What a token must be beyond a valid signature, and where a service refuses to start: a capped
lifetime, no dev issuer and no file:// or http:// JWKS outside dev."""

import time
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from kinerja_shared import cli_errors
from kinerja_shared.auth import AuthError, AuthSettings, DevIdentityProvider, Role, TokenVerifier
from kinerja_shared.auth.devtoken import DEFAULT_ISSUER
from kinerja_shared.settings import ServiceSettings

GURU_NIP = "198609262015051001"


class _Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="POLICYTEST_", extra="ignore")

    database_url: str = "postgresql://u:p@db/x"
    db_schema: str = "x"
    consumer_group: str = "x"


def _signed(idp: DevIdentityProvider, lifetime: int, **claims: Any) -> str:
    now = int(time.time())
    return idp.sign(
        {
            "iss": idp.issuer,
            "aud": idp.audience,
            "iat": now,
            "exp": now + lifetime,
            "sub": "s",
            "role": "operator",
            **claims,
        }
    )


@pytest.mark.parametrize(("lifetime", "accepted"), [(3600, True), (3601, False), (86400, False)])
def test_a_token_living_longer_than_the_maximum_is_invalid(
    idp: DevIdentityProvider, lifetime: int, accepted: bool
) -> None:
    verifier = TokenVerifier(idp.auth_settings())
    token = _signed(idp, lifetime)

    if accepted:
        assert verifier.verify(token).role is Role.OPERATOR
    else:
        with pytest.raises(AuthError) as caught:
            verifier.verify(token)
        assert caught.value.code == "AUTH_INVALID"
        assert "lifetime" in caught.value.detail


def test_the_maximum_lifetime_is_a_setting(idp: DevIdentityProvider) -> None:
    verifier = TokenVerifier(idp.auth_settings(max_lifetime_seconds=600))

    with pytest.raises(AuthError):
        verifier.verify(idp.mint(role=Role.OPERATOR, ttl=601))
    assert verifier.verify(idp.mint(role=Role.OPERATOR, ttl=600)).role is Role.OPERATOR


def test_a_token_issued_in_the_future_is_invalid(idp: DevIdentityProvider) -> None:
    verifier = TokenVerifier(idp.auth_settings())
    now = int(time.time())
    token = idp.sign(
        {
            "iss": idp.issuer,
            "aud": idp.audience,
            "iat": now + 3600,
            "exp": now + 3700,
            "sub": "s",
            "role": "operator",
        }
    )

    with pytest.raises(AuthError) as caught:
        verifier.verify(token)
    assert caught.value.code == "AUTH_INVALID"


def test_an_overlong_authorization_header_is_invalid_before_it_is_split(
    idp: DevIdentityProvider,
) -> None:
    from kinerja_shared.auth import parse_bearer

    with pytest.raises(AuthError) as caught:
        parse_bearer("Bearer " + "a" * 100_000)
    assert caught.value.code == "AUTH_INVALID"


# --- where a service refuses to start ------------------------------------------------------------

PROD_OK = {
    "env": "prod",
    "jwt_jwks_url": "https://idp.example/.well-known/jwks.json",
    "jwt_issuer": "https://idp.example",
}


def test_dev_needs_no_issuer_and_accepts_the_dev_jwks() -> None:
    settings = _Settings(jwt_jwks_url="file:///tmp/jwks.json")

    auth = settings.auth()
    assert auth.issuer == DEFAULT_ISSUER
    assert auth.require_https_jwks is False
    assert settings.serves_api_docs is True


def test_production_with_a_real_issuer_and_an_https_jwks_starts() -> None:
    settings = _Settings(**PROD_OK)

    auth = settings.auth()
    assert (auth.issuer, auth.require_https_jwks) == ("https://idp.example", True)
    assert settings.serves_api_docs is False


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"jwt_issuer": None}, "POLICYTEST_JWT_ISSUER"),
        ({"jwt_issuer": DEFAULT_ISSUER}, "POLICYTEST_JWT_ISSUER"),
        ({"jwt_jwks_url": "file:///idp/jwks.json"}, "POLICYTEST_JWT_JWKS_URL"),
        ({"jwt_jwks_url": "http://idp.example/jwks.json"}, "POLICYTEST_JWT_JWKS_URL"),
        ({"env": "staging", "jwt_issuer": DEFAULT_ISSUER}, "POLICYTEST_JWT_ISSUER"),
    ],
)
def test_outside_dev_the_dev_issuer_and_an_insecure_jwks_refuse_to_start(
    change: dict[str, Any], variable: str
) -> None:
    values = {**PROD_OK, **change}
    if values["jwt_issuer"] is None:
        del values["jwt_issuer"]

    with pytest.raises(ValidationError) as caught:
        _Settings(**values)

    line = str(cli_errors.settings_error(caught.value, _Settings))
    assert line.startswith(f"{variable}: "), line


def test_the_environment_is_read_from_the_services_prefixed_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POLICYTEST_ENV", "prod")
    monkeypatch.setenv("POLICYTEST_JWT_JWKS_URL", "file:///idp/jwks.json")

    with pytest.raises(ValidationError):
        _Settings()


def test_auth_settings_that_require_https_refuse_another_scheme() -> None:
    with pytest.raises(ValidationError):
        AuthSettings(jwks_url="http://idp/jwks", issuer="i", audience="a", require_https_jwks=True)


def test_the_services_setting_reaches_the_verifier(idp: DevIdentityProvider) -> None:
    settings = _Settings(
        jwt_jwks_url=idp.jwks_url, jwt_max_token_lifetime_seconds=60, jwt_issuer=idp.issuer
    )
    verifier = TokenVerifier(settings.auth())

    with pytest.raises(AuthError):
        verifier.verify(idp.mint(role=Role.GURU, nip=GURU_NIP, npsn="20100001", ttl=61))
