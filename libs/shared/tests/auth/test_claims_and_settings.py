"""Principal invariants and AuthSettings validation."""

import pytest
from pydantic import ValidationError

from kinerja_shared.auth import AuthError, AuthSettings, Principal, Role, parse_bearer

NIP = "198609262015051001"


@pytest.mark.parametrize(
    "fields",
    [
        {"role": "guru", "nip": NIP, "npsn": "20100001"},
        {"role": "kepala_sekolah", "nip": NIP, "npsn": "P9999999"},
        {"role": "dinas", "area": "31"},
        {"role": "dinas", "area": "3171", "nip": NIP},
        {"role": "operator"},
        {"role": "operator", "npsn": "20100001"},
    ],
)
def test_principal_accepts_role_consistent_scopes(fields: dict[str, str]) -> None:
    principal = Principal.model_validate({"subject": "s", **fields})

    assert principal.role is Role(fields["role"])


@pytest.mark.parametrize(
    "fields",
    [
        {"role": "guru", "npsn": "20100001"},
        {"role": "guru", "nip": NIP},
        {"role": "guru", "nip": NIP + "0", "npsn": "20100001"},
        {"role": "guru", "nip": NIP, "npsn": "2010001"},
        {"role": "guru", "nip": NIP, "npsn": "20100001", "area": "3171"},
        {"role": "dinas"},
        {"role": "dinas", "area": "317"},
        {"role": "dinas", "area": "31.71"},
        {"role": "dinas", "area": "3171", "npsn": "20100001"},
        {"role": "admin"},
    ],
)
def test_principal_rejects_inconsistent_scopes(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        Principal.model_validate({"subject": "s", **fields})


def test_principal_is_immutable() -> None:
    principal = Principal(subject="s", role=Role.OPERATOR)

    with pytest.raises(ValidationError):
        principal.role = Role.DINAS  # type: ignore[misc]


@pytest.mark.parametrize("algorithms", [["HS256"], ["none"], ["EdDSA", "HS512"], []])
def test_settings_refuse_symmetric_or_none_algorithms(algorithms: list[str]) -> None:
    with pytest.raises(ValidationError):
        AuthSettings(jwks_url="https://idp/jwks", issuer="i", audience="a", algorithms=algorithms)


@pytest.mark.parametrize("url", ["ftp://idp/jwks", "/etc/jwks.json", "https:///jwks", "jwks"])
def test_settings_refuse_unusable_jwks_urls(url: str) -> None:
    with pytest.raises(ValidationError):
        AuthSettings(jwks_url=url, issuer="i", audience="a")


def test_settings_default_to_eddsa_rs256_es256() -> None:
    settings = AuthSettings(jwks_url="file:///tmp/jwks.json", issuer="i", audience="a")

    assert settings.algorithms == ["EdDSA", "RS256", "ES256"]


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer   a-b_c~+/=", "a-b_c~+/="),
        ("BEARER x ", "x"),
    ],
)
def test_parse_bearer_extracts_the_token(header: str, token: str) -> None:
    assert parse_bearer(header) == token


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic abc", "Bearer a,b", "Bearer a b"])
def test_parse_bearer_reports_missing_credentials(header: str | None) -> None:
    with pytest.raises(AuthError) as caught:
        parse_bearer(header)

    assert caught.value.code == "AUTH_MISSING"
    assert caught.value.message == "Masuk dengan Akun belajar.id."
