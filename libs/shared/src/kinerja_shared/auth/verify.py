"""Verify bearer JWTs against the identity provider's JWKS, and the FastAPI glue.

Only asymmetric algorithms are accepted, each key is bound to its own algorithm (a token's
``alg`` header must equal the algorithm of the JWK selected by ``kid``), and every failure is
reported as an `AuthError` with a stable ``code``; no token input can produce a 500. A token
may live at most ``max_lifetime_seconds`` (``exp - iat``), and keys fetched over http(s) outlive
an identity-provider outage by a grace period (`_HttpKeySource`).

This module deliberately does not use ``from __future__ import annotations``: FastAPI resolves
the dependency signatures built in `require_roles` at runtime, and those refer to local names.
"""

import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Protocol
from urllib.parse import urlparse

import jwt
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kinerja_shared import telemetry
from kinerja_shared.auth.claims import Principal, Role

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "AuthError",
    "AuthErrorCode",
    "AuthSettings",
    "PrincipalDependency",
    "TokenVerifier",
    "auth_error_response",
    "bearer_principal",
    "install_auth_errors",
    "parse_bearer",
    "require_roles",
]

logger = logging.getLogger(__name__)

ASYMMETRIC_ALGORITHMS: frozenset[str] = frozenset(
    {
        "EdDSA",
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES256K",
        "ES384",
        "ES512",
    }
)
"""Algorithms `AuthSettings.algorithms` may list. HMAC (``HS*``) and ``none`` never verify."""

REQUIRED_CLAIMS: tuple[str, ...] = ("iss", "aud", "exp", "iat", "sub", "role")
MAX_TOKEN_LENGTH = 8192
"""Longer bearer tokens are rejected before any parsing (ours are ~400 characters)."""
MAX_AUTHORIZATION_LENGTH = MAX_TOKEN_LENGTH + 64
"""An Authorization header longer than this is refused before it is split or matched."""
MAX_JWKS_BYTES = 1024 * 1024
"""A JWKS document is a few kilobytes; a larger answer is refused unread."""


class AuthErrorCode(StrEnum):
    MISSING = "AUTH_MISSING"
    EXPIRED = "AUTH_EXPIRED"
    INVALID = "AUTH_INVALID"
    UNAVAILABLE = "AUTH_UNAVAILABLE"
    ROLE_FORBIDDEN = "ROLE_FORBIDDEN"


# User-facing messages are Indonesian; the English gloss is for readers of this code.
MESSAGES: dict[AuthErrorCode, str] = {
    # "Sign in with your belajar.id account." (wording fixed by the domain rules)
    AuthErrorCode.MISSING: "Masuk dengan Akun belajar.id.",
    # "Your session has ended. Sign in again with your belajar.id account."
    AuthErrorCode.EXPIRED: "Sesi Anda telah berakhir. Masuk kembali dengan Akun belajar.id.",
    # "Your sign-in is not valid. Sign in again with your belajar.id account."
    AuthErrorCode.INVALID: "Tanda masuk tidak sah. Masuk kembali dengan Akun belajar.id.",
    # "The sign-in service is unavailable right now. Please try again shortly."
    AuthErrorCode.UNAVAILABLE: "Layanan masuk sedang tidak tersedia. Coba lagi beberapa saat lagi.",
    # "Your role does not have access to this feature."
    AuthErrorCode.ROLE_FORBIDDEN: "Peran Anda tidak memiliki akses ke fitur ini.",
}

STATUS_CODES: dict[AuthErrorCode, int] = {
    AuthErrorCode.MISSING: 401,
    AuthErrorCode.EXPIRED: 401,
    AuthErrorCode.INVALID: 401,
    AuthErrorCode.UNAVAILABLE: 503,
    AuthErrorCode.ROLE_FORBIDDEN: 403,
}


class AuthError(Exception):
    """Authentication/authorization failure with a stable ``code`` and a user message.

    ``detail`` is for logs only (never sent to the client): which check failed.
    """

    def __init__(
        self, code: AuthErrorCode | str, message: str | None = None, *, detail: str = ""
    ) -> None:
        self.code = AuthErrorCode(code)
        self.message = MESSAGES[self.code] if message is None else message
        self.detail = detail
        super().__init__(f"{self.code}: {detail or self.message}")

    @property
    def status_code(self) -> int:
        return STATUS_CODES[self.code]


class AuthSettings(BaseModel):
    """Where the keys are and what a token must say. Embed in a service's settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    jwks_url: str = Field(description="JWKS location: https://..., http://... or file:///...")
    issuer: str = Field(min_length=1)
    audience: str = Field(min_length=1)
    leeway_seconds: float = Field(default=30, ge=0, le=300, description="clock skew allowance")
    algorithms: list[str] = Field(default_factory=lambda: ["EdDSA", "RS256", "ES256"])
    max_lifetime_seconds: float = Field(
        default=3600, gt=0, description="longest exp - iat accepted (AUTH_INVALID beyond)"
    )
    jwks_cache_seconds: float = Field(default=300, gt=0, description="http(s) JWKS cache TTL")
    jwks_grace_seconds: float = Field(
        default=3600,
        ge=0,
        description="how long past the cache TTL the last good keys are used while the JWKS "
        "cannot be fetched",
    )
    jwks_retry_seconds: float = Field(
        default=10, gt=0, description="wait after a failed JWKS fetch before the next one"
    )
    jwks_refetch_seconds: float = Field(
        default=30, ge=0, description="least time between fetches caused by an unknown kid"
    )
    jwks_timeout_seconds: float = Field(default=5, gt=0, description="http(s) JWKS fetch timeout")
    require_https_jwks: bool = Field(
        default=False,
        description="refuse a file:// or http:// jwks_url (ServiceSettings sets it outside dev)",
    )

    @field_validator("jwks_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in {"file", "http", "https"}:
            raise ValueError("jwks_url must be a file://, http:// or https:// URL")
        if parsed.scheme == "file" and not parsed.path:
            raise ValueError("file:// jwks_url needs a path")
        if parsed.scheme != "file" and not parsed.netloc:
            raise ValueError("http(s) jwks_url needs a host")
        return value

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one algorithm is required")
        unsafe = sorted(set(value) - ASYMMETRIC_ALGORITHMS)
        if unsafe:
            raise ValueError(f"only asymmetric algorithms are allowed, not {unsafe}")
        return value

    @model_validator(mode="after")
    def _https_when_required(self) -> "AuthSettings":
        if self.require_https_jwks and urlparse(self.jwks_url).scheme != "https":
            raise ValueError("jwks_url must be https:// here")
        return self


class _KeySource(Protocol):
    def signing_key(self, kid: str) -> jwt.PyJWK: ...


def _unavailable(detail: str) -> AuthError:
    return AuthError(AuthErrorCode.UNAVAILABLE, detail=detail)


def _index_signing_keys(jwk_set: jwt.PyJWKSet) -> dict[str, jwt.PyJWK]:
    return {
        key.key_id: key
        for key in jwk_set.keys
        if key.key_id and key.public_key_use in ("sig", None)
    }


class _FileKeySource:
    """JWKS from a local file (dev IdP). PyJWKClient (PyJWT 2.15) refuses file:// URLs.

    The parsed set is cached and re-read only when the file's mtime/size/inode change, so a
    regenerated dev key is picked up without restarting the service.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._keys: dict[str, jwt.PyJWK] = {}

    def signing_key(self, kid: str) -> jwt.PyJWK:
        key = self._load().get(kid)
        if key is None:
            raise AuthError(AuthErrorCode.INVALID, detail=f"unknown kid {kid!r}")
        return key

    def _load(self) -> dict[str, jwt.PyJWK]:
        try:
            stat = self._path.stat()
        except OSError as exc:
            raise _unavailable(f"JWKS file {self._path} unreadable: {exc}") from exc
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        with self._lock:
            if stamp != self._stamp:
                try:
                    data = json.loads(self._path.read_bytes())
                    if not isinstance(data, dict):
                        raise ValueError("JWKS is not a JSON object")
                    keys = _index_signing_keys(jwt.PyJWKSet.from_dict(data))
                except (OSError, ValueError, jwt.PyJWTError) as exc:
                    raise _unavailable(f"JWKS file {self._path} unusable: {exc}") from exc
                self._keys, self._stamp = keys, stamp
            return self._keys


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to another https:// URL: a JWKS must not be downgraded."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urlparse(newurl).scheme != "https":
            raise urllib.error.HTTPError(newurl, code, "redirect away from https", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _HttpKeySource:
    """JWKS over http(s), kept usable through an identity-provider outage.

    - Fetched keys are used for ``jwks_cache_seconds``; then the next request refreshes them.
    - Single flight: one thread fetches at a time. While keys are only stale, the others go on
      verifying with them instead of waiting; with no usable keys they wait for that one fetch
      and share its outcome instead of each fetching again.
    - A failed fetch keeps the last good keys for ``jwks_grace_seconds`` past their cache time
      and is not retried for ``jwks_retry_seconds``: an outage costs the identity provider one
      request per retry interval, not one per API request, and every request in between is
      answered at once (with the old keys, or 503 AUTH_UNAVAILABLE once they are too old).
    - An unknown ``kid`` (the provider rotated its key) refetches at most once per
      ``jwks_refetch_seconds``, so random kids cannot make us hammer the provider.
    """

    def __init__(
        self,
        settings: AuthSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._url = settings.jwks_url
        self._clock = clock
        self._flight = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # the last good fetch
        self._attempted_at: float | None = None  # the last fetch, good or not
        self._error: str | None = None  # why the last fetch failed, None if it did not

    # --- what verify asks ------------------------------------------------------------------

    def signing_key(self, kid: str) -> jwt.PyJWK:
        key = self._usable_keys().get(kid)
        if key is None:
            key = self._refetched_for(kid).get(kid)
        if key is None:
            raise AuthError(AuthErrorCode.INVALID, detail=f"unknown kid {kid!r}")
        return key

    def _age(self, now: float) -> float | None:
        return None if self._fetched_at is None else now - self._fetched_at

    def _usable_keys(self) -> dict[str, jwt.PyJWK]:
        ttl, grace = self._settings.jwks_cache_seconds, self._settings.jwks_grace_seconds
        age = self._age(self._clock())
        if age is not None and age < ttl:
            return self._keys
        if age is not None and age < ttl + grace:
            # Stale but usable: refresh if no one else is, and go on with what we have.
            if self._flight.acquire(blocking=False):
                try:
                    self._refresh_if_due()
                finally:
                    self._flight.release()
            return self._keys
        with self._flight:
            self._refresh_if_due()
            age = self._age(self._clock())
            if age is not None and age < ttl + grace:
                return self._keys
            raise _unavailable(f"JWKS {self._url} unusable: {self._error or 'no keys'}")

    def _refetched_for(self, kid: str) -> dict[str, jwt.PyJWK]:
        with self._flight:
            if kid in self._keys:  # another thread's fetch brought it meanwhile
                return self._keys
            now = self._clock()
            last = self._attempted_at
            if last is None or now - last >= self._settings.jwks_refetch_seconds:
                self._attempt(now)
            return self._keys

    # --- fetching (always under self._flight) ----------------------------------------------

    def _refresh_if_due(self) -> None:
        now = self._clock()
        age = self._age(now)
        if age is not None and age < self._settings.jwks_cache_seconds:
            return  # the fetch we waited for succeeded
        if (
            self._error is not None
            and self._attempted_at is not None
            and now - self._attempted_at < self._settings.jwks_retry_seconds
        ):
            return  # it failed a moment ago: do not ask again yet
        self._attempt(now)

    def _attempt(self, now: float) -> None:
        self._attempted_at = now
        try:
            data = self._fetch_http()
            if not isinstance(data, dict):
                raise ValueError("JWKS is not a JSON object")
            keys = _index_signing_keys(jwt.PyJWKSet.from_dict(data))
            if not keys:
                raise ValueError("JWKS holds no signing key with a kid")
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            self._error = f"{type(exc).__name__}: {exc}"
            kept = self._age(self._clock())
            logger.warning(
                "JWKS fetch from %s failed (%s); %s",
                self._url,
                self._error,
                "no keys to fall back on"
                if kept is None
                else f"keeping the keys fetched {kept:.0f} s ago",
            )
            return
        self._keys, self._fetched_at, self._error = keys, self._clock(), None

    def _fetch_http(self) -> Any:
        request = urllib.request.Request(
            self._url, headers={"Accept": "application/json", "User-Agent": "kinerja-auth"}
        )
        handlers: list[urllib.request.BaseHandler] = []
        if self._settings.require_https_jwks:
            handlers.append(_HttpsOnlyRedirects())
        opener = urllib.request.build_opener(*handlers)
        with opener.open(request, timeout=self._settings.jwks_timeout_seconds) as response:
            body = response.read(MAX_JWKS_BYTES + 1)
        if len(body) > MAX_JWKS_BYTES:
            raise ValueError(f"JWKS larger than {MAX_JWKS_BYTES} bytes")
        return json.loads(body)


def _key_source(settings: AuthSettings, clock: Callable[[], float]) -> _KeySource:
    parsed = urlparse(settings.jwks_url)
    if parsed.scheme == "file":
        return _FileKeySource(Path(urllib.request.url2pathname(parsed.path)))
    return _HttpKeySource(settings, clock=clock)


class TokenVerifier:
    """Verifies bearer tokens and returns the `Principal`. Thread-safe; create one per app.

    `verify` may block on a JWKS fetch (cache miss); call it from a thread in async code
    (the FastAPI dependency from `bearer_principal` is sync, so FastAPI does that).
    """

    def __init__(
        self, settings: AuthSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """``clock`` times the JWKS cache and grace (tests pass a fake one)."""
        self.settings = settings
        self._keys = _key_source(settings, clock)

    def verify(self, token: str) -> Principal:
        """Return the principal of a valid token, else raise `AuthError`."""
        try:
            return self._verify(token)
        except AuthError:
            raise
        except Exception as exc:  # defensive: token input must never become a 500
            logger.exception("unexpected error while verifying a bearer token")
            raise AuthError(AuthErrorCode.INVALID, detail=f"unexpected {exc!r}") from exc

    def _verify(self, token: str) -> Principal:
        if not token:
            raise AuthError(AuthErrorCode.MISSING, detail="empty token")
        if len(token) > MAX_TOKEN_LENGTH:
            raise AuthError(AuthErrorCode.INVALID, detail=f"token longer than {MAX_TOKEN_LENGTH}")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError(AuthErrorCode.INVALID, detail=f"undecodable header: {exc}") from exc
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.settings.algorithms:
            raise AuthError(AuthErrorCode.INVALID, detail=f"alg {alg!r} not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError(AuthErrorCode.INVALID, detail="missing kid")
        key = self._keys.signing_key(kid)
        if key.algorithm_name != alg:
            raise AuthError(
                AuthErrorCode.INVALID,
                detail=f"alg {alg!r} does not match key {kid!r} ({key.algorithm_name})",
            )
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_seconds,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError(AuthErrorCode.EXPIRED, detail=str(exc)) from exc
        except jwt.PyJWTError as exc:
            raise AuthError(AuthErrorCode.INVALID, detail=f"{type(exc).__name__}: {exc}") from exc
        # A stolen long-lived token would work for its whole life: cap it, whatever the issuer
        # signed. PyJWT has checked both are numbers.
        lifetime = float(claims["exp"]) - float(claims["iat"])
        if lifetime > self.settings.max_lifetime_seconds:
            raise AuthError(
                AuthErrorCode.INVALID,
                detail=f"lifetime {lifetime:.0f} s over {self.settings.max_lifetime_seconds:.0f} s",
            )
        try:
            return Principal.from_claims(claims)
        except ValidationError as exc:
            errors = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'claims'}: {e['msg']}" for e in exc.errors()
            )
            raise AuthError(AuthErrorCode.INVALID, detail=f"malformed claims: {errors}") from exc


# --- FastAPI ---------------------------------------------------------------------------------

PrincipalDependency = Callable[..., Principal]
"""A FastAPI dependency (use with ``Depends``) that yields the verified `Principal`."""

_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# Declares the scheme in OpenAPI (Swagger "Authorize"); parsing is done by `parse_bearer`.
_openapi_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="belajarId",
    bearerFormat="JWT",
    description="Token Akun belajar.id (JWT) di header `Authorization: Bearer <token>`.",
)


def parse_bearer(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (RFC 6750 b64token).

    Raises `AuthError` ``AUTH_MISSING`` when the header is absent, uses another scheme, or
    does not hold exactly one well-formed token.
    """
    if authorization is None:
        raise AuthError(AuthErrorCode.MISSING, detail="no Authorization header")
    if len(authorization) > MAX_AUTHORIZATION_LENGTH:
        raise AuthError(
            AuthErrorCode.INVALID, detail=f"Authorization longer than {MAX_AUTHORIZATION_LENGTH}"
        )
    scheme, _, token = authorization.strip(" \t").partition(" ")
    token = token.strip(" \t")
    if scheme.lower() != "bearer":
        raise AuthError(AuthErrorCode.MISSING, detail="Authorization scheme is not Bearer")
    if not _B64TOKEN.fullmatch(token):
        raise AuthError(AuthErrorCode.MISSING, detail="garbled Bearer credentials")
    return token


def bearer_principal(verifier: TokenVerifier) -> PrincipalDependency:
    """A dependency yielding the `Principal` of the request's bearer token.

    Raises `AuthError` (rendered as 401/503 by `install_auth_errors`). The principal is also
    left in ``request.state.principal`` for logging/middleware.
    """

    def current_principal(
        request: Request,
        _openapi: Annotated[HTTPAuthorizationCredentials | None, Depends(_openapi_bearer)],
    ) -> Principal:
        principal = verifier.verify(parse_bearer(request.headers.get("authorization")))
        request.state.principal = principal
        return principal

    return current_principal


def require_roles(*roles: Role | str, principal: PrincipalDependency) -> PrincipalDependency:
    """A dependency yielding the principal if its role is one of ``roles``, else 403.

    ``principal`` is the dependency from `bearer_principal`; FastAPI caches it per request,
    so a route using both verifies the token once.
    """
    allowed = frozenset(Role(role) for role in roles)
    if not allowed:
        raise ValueError("require_roles needs at least one role")
    wanted = ", ".join(sorted(allowed))

    def principal_with_role(
        current: Annotated[Principal, Depends(principal)],
    ) -> Principal:
        if current.role not in allowed:
            raise AuthError(
                AuthErrorCode.ROLE_FORBIDDEN,
                detail=f"role {current.role} not in [{wanted}] (sub={current.subject!r})",
            )
        return current

    return principal_with_role


def auth_error_response(error: AuthError) -> JSONResponse:
    """The HTTP response for an `AuthError`: ``{"code", "message", "correlation_id"}`` with
    status and headers; the correlation id (the trace id) is what a helpdesk ticket quotes, for
    a refused sign-in as for any other error."""
    headers = {"Cache-Control": "no-store"}
    if error.status_code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    elif error.status_code == 503:
        headers["Retry-After"] = "30"
    return JSONResponse(
        status_code=error.status_code,
        content={
            "code": error.code.value,
            "message": error.message,
            "correlation_id": telemetry.trace_id_hex(),
        },
        headers=headers,
    )


def install_auth_errors(app: FastAPI) -> None:
    """Render every `AuthError` raised while handling a request (see `auth_error_response`)."""

    async def handle_auth_error(request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, AuthError):  # pragma: no cover - registered for AuthError only
            raise exc
        level = logging.WARNING if exc.status_code >= 500 else logging.INFO
        # The route template, not the path: a path names the teacher (their NIP).
        route = getattr(request.scope.get("route"), "path", None) or "<unmatched>"
        logger.log(
            level,
            "auth rejected %s %s: %s",
            request.method,
            route,
            exc,
            extra={"auth_code": exc.code.value},
        )
        return auth_error_response(exc)

    app.add_exception_handler(AuthError, handle_auth_error)
