"""Development identity provider: an Ed25519 key in a local directory, a JWKS, and tokens.

Stands in for Akun belajar.id on laptops and in tests. The key directory (``--dir``, else
``$KINERJA_DEV_IDP_DIR``, else the one the local stack started from this checkout trusts, read
from ``<repo>/.local/<stack>/env``, else ``<repo>/.local/dev-idp/``) holds
``signing-key.pem`` (private, mode 0600) and ``jwks.json`` (public). Both are created on first
use; concurrent first uses agree on one key.

CLI (console script ``kinerja-dev-token``)::

    kinerja-dev-token --role guru --nip 198609262015051001 --npsn 20100001
    kinerja-dev-token --role dinas --area 3171 --ttl 600
    kinerja-dev-token jwks-path        # file:// URL to put in AuthSettings.jwks_url
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from kinerja_shared import cli_errors
from kinerja_shared.auth.claims import Principal, Role
from kinerja_shared.auth.verify import AuthSettings

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_ISSUER",
    "ENV_DIR",
    "DevIdentityProvider",
    "default_key_dir",
    "main",
]

DEFAULT_ISSUER = "https://dev-idp.kinerja.local"
DEFAULT_AUDIENCE = "kinerja"
DEFAULT_TTL_SECONDS = 3600
ENV_DIR = "KINERJA_DEV_IDP_DIR"
STACK_ENV = "KINERJA_STACK"
PRIVATE_KEY_FILE = "signing-key.pem"
JWKS_FILE = "jwks.json"
ALGORITHM = "EdDSA"


def _repo_root() -> Path | None:
    """The uv workspace root above the working directory (or above this file)."""
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for candidate in (start, *start.parents):
            pyproject = candidate / "pyproject.toml"
            with contextlib.suppress(OSError):
                if "[tool.uv.workspace]" in pyproject.read_text(encoding="utf-8"):
                    return candidate
    return None


def stack_env_file() -> Path:
    """The env file the local stack (``make run``, or ``make test`` with ``KINERJA_STACK=test``)
    writes when it starts: ``<repo>/.local/<stack>/env``."""
    stack = os.environ.get(STACK_ENV) or "dev"
    return (_repo_root() or Path.cwd()) / ".local" / stack / "env"


def stack_key_dir() -> Path | None:
    """The key directory the running local stack's services trust, from its env file; None
    when no stack was started from this checkout."""
    with contextlib.suppress(OSError):
        for line in stack_env_file().read_text(encoding="utf-8").splitlines():
            name, _, value = line.partition("=")
            if name.strip() == ENV_DIR and value.strip():
                return Path(value.strip()).expanduser()
    return None


def default_key_dir() -> Path:
    """``$KINERJA_DEV_IDP_DIR``; else the key directory of the local stack started from this
    checkout (its services trust only that one, whether or not ``deploy/local/env.sh`` was
    sourced in this shell); else ``<repo>/.local/dev-idp`` (``./.local/dev-idp`` outside)."""
    from_env = os.environ.get(ENV_DIR)
    if from_env:
        return Path(from_env).expanduser()
    return stack_key_dir() or (_repo_root() or Path.cwd()) / ".local" / "dev-idp"


def _no_stack_warning(provider: DevIdentityProvider) -> str | None:
    """What is wrong when the key used is one no running service trusts, or None."""
    if os.environ.get(ENV_DIR) or stack_key_dir() is not None:
        return None
    return (
        f"{PROG}: warning: no local stack found ({stack_env_file()} does not exist), so this "
        f"token is signed with the key in {provider.directory}, which no service started by "
        "`make run` trusts: start the stack with `make run` first (or `source "
        "deploy/local/env.sh` for its settings), or give the services' key directory with "
        f"--dir or ${ENV_DIR}.\n"
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _write_atomically(path: Path, data: bytes, *, replace: bool) -> None:
    """Write via a 0600 temp file; ``replace=False`` keeps an existing file (first one wins)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


class DevIdentityProvider:
    """Mints dev tokens that `kinerja_shared.auth.TokenVerifier` accepts via `jwks_url`."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
    ) -> None:
        self.directory = Path(directory) if directory is not None else default_key_dir()
        self.issuer = issuer
        self.audience = audience
        self._key: Ed25519PrivateKey | None = None
        self._public_jwk: dict[str, str] | None = None

    # --- keys ---------------------------------------------------------------------------------

    def _ensure(self) -> tuple[Ed25519PrivateKey, dict[str, str]]:
        if self._key is None or self._public_jwk is None:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            key_path = self.directory / PRIVATE_KEY_FILE
            if not key_path.exists():
                pem = Ed25519PrivateKey.generate().private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                _write_atomically(key_path, pem, replace=False)
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{key_path} is not an Ed25519 private key")
            raw = key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            x = _b64url(raw)
            # RFC 7638 thumbprint: members in lexicographic order, no whitespace.
            thumbprint = json.dumps(
                {"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True
            )
            kid = _b64url(hashlib.sha256(thumbprint.encode("ascii")).digest())
            jwk = {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": x,
                "kid": kid,
                "use": "sig",
                "alg": ALGORITHM,
            }
            jwks = (json.dumps({"keys": [jwk]}, indent=2) + "\n").encode("ascii")
            jwks_path = self.directory / JWKS_FILE
            try:
                current = jwks_path.read_bytes()
            except FileNotFoundError:
                current = b""
            if current != jwks:
                _write_atomically(jwks_path, jwks, replace=True)
            self._key, self._public_jwk = key, jwk
        return self._key, self._public_jwk

    @property
    def kid(self) -> str:
        return self._ensure()[1]["kid"]

    @property
    def public_jwk(self) -> dict[str, str]:
        return dict(self._ensure()[1])

    @property
    def jwks_path(self) -> Path:
        self._ensure()
        return (self.directory / JWKS_FILE).resolve()

    @property
    def jwks_url(self) -> str:
        """``file://`` URL of the JWKS, for `AuthSettings.jwks_url`."""
        return self.jwks_path.as_uri()

    def auth_settings(self, **overrides: Any) -> AuthSettings:
        """`AuthSettings` that accept this provider's tokens (fields overridable)."""
        values: dict[str, Any] = {
            "jwks_url": self.jwks_url,
            "issuer": self.issuer,
            "audience": self.audience,
        }
        values.update(overrides)
        return AuthSettings(**values)

    # --- tokens -------------------------------------------------------------------------------

    def sign(self, claims: Mapping[str, Any], *, headers: Mapping[str, Any] | None = None) -> str:
        """Sign arbitrary claims as-is (no validation): for tests of malformed tokens."""
        key, jwk = self._ensure()
        return jwt.encode(
            dict(claims),
            key,
            algorithm=ALGORITHM,
            headers={"kid": jwk["kid"], "typ": "JWT", **(headers or {})},
        )

    def mint(
        self,
        *,
        role: Role | str,
        nip: str | None = None,
        npsn: str | None = None,
        area: str | None = None,
        name: str | None = None,
        subject: str | None = None,
        ttl: int = DEFAULT_TTL_SECONDS,
        issuer: str | None = None,
        audience: str | None = None,
        now: datetime | None = None,
    ) -> str:
        """A signed token for a valid `Principal`; raises `ValueError` for inconsistent claims
        (e.g. ``guru`` without ``nip``/``npsn``) or a non-positive ``ttl``."""
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        role = Role(role)
        if subject is None:
            subject = f"dev:{role.value}:{nip or area or npsn or 'user'}"
        principal = Principal(subject=subject, role=role, nip=nip, npsn=npsn, area=area, name=name)
        issued = now or datetime.now(UTC)
        claims: dict[str, Any] = {
            "iss": issuer or self.issuer,
            "aud": audience or self.audience,
            "iat": int(issued.timestamp()),
            "exp": int((issued + timedelta(seconds=ttl)).timestamp()),
            **principal.to_claims(),
        }
        return self.sign(claims)


# --- CLI ---------------------------------------------------------------------------------------


PROG = "kinerja-dev-token"

MINT_EPILOG = f"""roles and the claims each needs:
  guru, kepala_sekolah   --nip and --npsn
  dinas                  --area (and no --npsn)
  operator               none

examples:
  {PROG} --role guru --nip 198609262015051001 --npsn 20100001
  {PROG} --role dinas --area 3171 --ttl 600
  {PROG} --role operator
  {PROG} jwks-path      # the file:// URL of the JWKS, for *_JWT_JWKS_URL

The token is printed on stdout. The key directory is created with a new key on first use.

{cli_errors.EXIT_STATUS}"""


def _dir_help() -> str:
    return (
        f"key directory (default: ${ENV_DIR}, else the running local stack's, from "
        "<repo>/.local/$KINERJA_STACK/env, else <repo>/.local/dev-idp)"
    )


def _mint_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Mint a development bearer token, signed by the dev identity provider's "
        "key, that the services accept when their JWT_JWKS_URL is this provider's JWKS. "
        "Also: 'kinerja-dev-token jwks-path [--dir DIR]' prints that JWKS's file:// URL.",
        epilog=MINT_EPILOG,
        formatter_class=cli_errors.HelpFormatter,
    )
    parser.add_argument("--dir", type=Path, help=_dir_help())
    parser.add_argument(
        "--role",
        required=True,
        choices=[role.value for role in Role],
        help="role of the caller (see below for the claims each needs)",
    )
    parser.add_argument("--nip", help="18-digit NIP (guru, kepala_sekolah)")
    parser.add_argument("--npsn", help="8-character NPSN of the school (guru, kepala_sekolah)")
    parser.add_argument("--area", help="kode wilayah of the Dinas, e.g. 3171 (dinas)")
    parser.add_argument("--name", help="display name carried in the token")
    parser.add_argument(
        "--sub", dest="subject", help="subject claim (default: dev:<role>:<nip, area or npsn>)"
    )
    parser.add_argument(
        "--ttl", type=int, default=DEFAULT_TTL_SECONDS, help="lifetime of the token, seconds"
    )
    parser.add_argument(
        "--issuer", default=DEFAULT_ISSUER, help="iss claim; the services' JWT_ISSUER"
    )
    parser.add_argument(
        "--audience", default=DEFAULT_AUDIENCE, help="aud claim; the services' JWT_AUDIENCE"
    )
    return parser


def _jwks_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} jwks-path",
        description="Print the file:// URL of the dev JWKS (creating the key if needed), the "
        "value for the services' *_JWT_JWKS_URL.",
        epilog=f"example:\n  export PLANNING_JWT_JWKS_URL=$({PROG} jwks-path)\n\n"
        + cli_errors.EXIT_STATUS,
        formatter_class=cli_errors.HelpFormatter,
    )
    parser.add_argument("--dir", type=Path, help=_dir_help())
    return parser


def _key_dir_error(provider: DevIdentityProvider, exc: OSError) -> cli_errors.CliError:
    where = f"--dir or ${ENV_DIR}"
    return cli_errors.CliError(
        f"cannot use the key directory {provider.directory} ({where}): {exc.strerror or exc}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["jwks-path"]:
        args = _jwks_parser().parse_args(args_list[1:])
        provider = DevIdentityProvider(args.dir)

        def jwks_path() -> int:
            try:
                url = provider.jwks_url
            except OSError as exc:
                raise _key_dir_error(provider, exc) from exc
            sys.stdout.write(url + "\n")
            return 0

        return cli_errors.run(PROG, jwks_path)
    parser = _mint_parser()
    args = parser.parse_args(args_list)
    if args.ttl <= 0:
        parser.error("--ttl must be positive")
    provider = DevIdentityProvider(args.dir, issuer=args.issuer, audience=args.audience)

    def mint() -> int:
        try:
            token = provider.mint(
                role=args.role,
                nip=args.nip,
                npsn=args.npsn,
                area=args.area,
                name=args.name,
                subject=args.subject,
                ttl=args.ttl,
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or args.role}: {e['msg']}" for e in exc.errors()
            )
            parser.error(problems)
        except OSError as exc:
            raise _key_dir_error(provider, exc) from exc
        warning = None if args.dir is not None else _no_stack_warning(provider)
        if warning is not None:
            sys.stderr.write(warning)
        sys.stdout.write(token + "\n")
        return 0

    return cli_errors.run(PROG, mint)


if __name__ == "__main__":
    raise SystemExit(main())
