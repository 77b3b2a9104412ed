"""The dev identity provider: key directory, JWKS, the Python API and the CLI."""

import json
import stat
from pathlib import Path

import jwt
import pytest

from kinerja_shared.auth import AuthSettings, DevIdentityProvider, Principal, Role, TokenVerifier
from kinerja_shared.auth.devtoken import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    ENV_DIR,
    STACK_ENV,
    main,
)

NIP = "198609262015051001"
NPSN = "20100001"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out.strip()


def test_cli_mints_a_token_that_verifies_against_the_jwks_it_wrote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_dir = str(tmp_path / "idp")
    token = run_cli(
        capsys, "--dir", key_dir, "--role", "guru", "--nip", NIP, "--npsn", NPSN, "--ttl", "600"
    )
    jwks_url = run_cli(capsys, "jwks-path", "--dir", key_dir)

    verifier = TokenVerifier(
        AuthSettings(jwks_url=jwks_url, issuer=DEFAULT_ISSUER, audience=DEFAULT_AUDIENCE)
    )
    principal = verifier.verify(token)

    assert jwks_url == (tmp_path / "idp" / "jwks.json").resolve().as_uri()
    assert principal.role is Role.GURU
    assert (principal.nip, principal.npsn, principal.area) == (NIP, NPSN, None)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 600


def test_cli_honours_issuer_audience_and_area(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = run_cli(
        capsys,
        *("--dir", str(tmp_path), "--role", "dinas", "--area", "3171"),
        *("--issuer", "https://idp.example", "--audience", "kinerja-planning"),
    )
    settings = DevIdentityProvider(tmp_path).auth_settings(
        issuer="https://idp.example", audience="kinerja-planning"
    )

    principal = TokenVerifier(settings).verify(token)

    assert (principal.role, principal.area) == (Role.DINAS, "3171")


def test_cli_uses_the_directory_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_DIR, str(tmp_path / "from-env"))

    jwks_url = run_cli(capsys, "jwks-path")

    assert jwks_url == (tmp_path / "from-env" / "jwks.json").resolve().as_uri()
    assert (tmp_path / "from-env" / "jwks.json").is_file()


def _checkout(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout of the workspace at ``root``, the working directory, with no key settings in
    the environment (a shell that never sourced deploy/local/env.sh)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[tool.uv.workspace]\n", encoding="utf-8")
    monkeypatch.chdir(root)
    monkeypatch.delenv(ENV_DIR, raising=False)
    monkeypatch.delenv(STACK_ENV, raising=False)
    return root


def _started_stack(root: Path, stack: str) -> Path:
    """What `make run` (stack dev) or the test stack leaves: .local/<stack>/env naming keys."""
    keys = root / ".local" / stack / "dev-idp"
    env = root / ".local" / stack / "env"
    env.parent.mkdir(parents=True, exist_ok=True)
    env.write_text(f"KINERJA_STACK={stack}\n{ENV_DIR}={keys}\n", encoding="utf-8")
    return keys


def test_without_a_stack_the_default_directory_is_under_the_repository_local_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _checkout(tmp_path / "repo", monkeypatch)

    assert DevIdentityProvider().directory == root / ".local" / "dev-idp"


@pytest.mark.parametrize("stack", ["dev", "test"])
def test_a_shell_without_env_sh_mints_with_the_running_stacks_keys(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    stack: str,
) -> None:
    root = _checkout(tmp_path / "repo", monkeypatch)
    keys = _started_stack(root, stack)
    _started_stack(root, "test" if stack == "dev" else "dev")  # the other stack's keys
    if stack == "test":
        monkeypatch.setenv(STACK_ENV, "test")
    services_trust = DevIdentityProvider(keys).auth_settings()  # what the stack's services read

    token = run_cli(capsys, "--role", "guru", "--nip", NIP, "--npsn", NPSN)

    assert TokenVerifier(services_trust).verify(token).nip == NIP
    assert capsys.readouterr().err == ""


def test_without_a_stack_the_cli_says_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _checkout(tmp_path / "repo", monkeypatch)

    assert main(["--role", "operator"]) == 0
    captured = capsys.readouterr()

    assert captured.out.strip().count(".") == 2  # the token is still printed
    assert str(root / ".local" / "dev" / "env") in captured.err
    assert "make run" in captured.err
    assert "deploy/local/env.sh" in captured.err


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--role", "guru", "--npsn", NPSN], id="guru-without-nip"),
        pytest.param(["--role", "guru", "--nip", "123", "--npsn", NPSN], id="short-nip"),
        pytest.param(["--role", "dinas"], id="dinas-without-area"),
        pytest.param(["--role", "kepala_dinas"], id="unknown-role"),
        pytest.param(["--role", "operator", "--ttl", "0"], id="zero-ttl"),
        pytest.param([], id="no-role"),
    ],
)
def test_cli_rejects_inconsistent_identities_with_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--dir", str(tmp_path), *argv])

    assert exited.value.code == 2
    assert capsys.readouterr().out == ""


def test_key_is_created_once_and_reused(tmp_path: Path) -> None:
    first = DevIdentityProvider(tmp_path)
    token = first.mint(role=Role.OPERATOR)
    second = DevIdentityProvider(tmp_path)

    assert second.kid == first.kid
    assert TokenVerifier(second.auth_settings()).verify(token).role is Role.OPERATOR


def test_private_key_is_private_and_jwks_holds_only_the_public_key(tmp_path: Path) -> None:
    idp = DevIdentityProvider(tmp_path)
    idp.mint(role=Role.OPERATOR)

    key_mode = stat.S_IMODE((tmp_path / "signing-key.pem").stat().st_mode)
    jwks = json.loads((tmp_path / "jwks.json").read_text())

    assert key_mode == 0o600
    assert jwks == {"keys": [idp.public_jwk]}
    assert set(idp.public_jwk) == {"kty", "crv", "x", "kid", "use", "alg"}


def test_missing_jwks_is_rewritten_from_the_existing_key(tmp_path: Path) -> None:
    kid = DevIdentityProvider(tmp_path).kid
    (tmp_path / "jwks.json").unlink()

    assert DevIdentityProvider(tmp_path).public_jwk["kid"] == kid
    assert (tmp_path / "jwks.json").is_file()


def test_mint_refuses_a_principal_the_verifier_would_reject(tmp_path: Path) -> None:
    idp = DevIdentityProvider(tmp_path)

    with pytest.raises(ValueError, match="nip"):
        idp.mint(role=Role.KEPALA_SEKOLAH, npsn=NPSN)
    with pytest.raises(ValueError, match="ttl"):
        idp.mint(role=Role.OPERATOR, ttl=-1)


def test_minted_token_carries_the_principal_claims(tmp_path: Path) -> None:
    idp = DevIdentityProvider(tmp_path)
    token = idp.mint(role="kepala_sekolah", nip=NIP, npsn=NPSN, name="Budi", subject="kepsek-7")

    principal = TokenVerifier(idp.auth_settings()).verify(token)

    assert principal == Principal(
        subject="kepsek-7", role=Role.KEPALA_SEKOLAH, nip=NIP, npsn=NPSN, name="Budi"
    )
    assert jwt.get_unverified_header(token)["kid"] == idp.kid
