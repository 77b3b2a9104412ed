"""Who is using the console: the OpenID Connect login (authorization code with PKCE) and the
session cookie that carries the user's token afterwards.

The cookie is encrypted and authenticated (Fernet) with the configured key, so every replica
reads it and no replica keeps state; it holds the access token the console forwards to the
services, whose own access rules then apply. Only operators and Dinas get a session.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from kinerja_shared.auth import Principal, Role

from .dev_issuer import s256

SESSION_COOKIE = "kinerja_console"
LOGIN_COOKIE = "kinerja_console_login"
LOGIN_SECONDS = 600
CONSOLE_ROLES = frozenset({Role.OPERATOR, Role.DINAS})


@dataclass(frozen=True)
class User:
    principal: Principal
    token: str
    expires: float

    @property
    def is_operator(self) -> bool:
        return self.principal.role is Role.OPERATOR

    @property
    def label(self) -> str:
        p = self.principal
        scope = f" {p.area}" if p.area else ""
        return f"{p.name or p.subject} ({p.role.value}{scope})"


@dataclass(frozen=True)
class LoginStart:
    state: str
    verifier: str
    nonce: str
    next: str

    @property
    def challenge(self) -> str:
        return s256(self.verifier)


class Sealer:
    """Encrypts what the cookies carry; a cookie that was altered or has expired reads as none."""

    def __init__(self, secret: str | None) -> None:
        raw = (secret or secrets.token_urlsafe(32)).encode()
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(raw).digest()))

    def seal(self, data: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(data).encode()).decode()

    def open(self, sealed: str | None, max_age: int) -> dict[str, Any] | None:
        if not sealed:
            return None
        try:
            data: dict[str, Any] = json.loads(self._fernet.decrypt(sealed.encode(), ttl=max_age))
        except (InvalidToken, ValueError):
            return None
        return data

    def login_start(self, next_path: str) -> tuple[LoginStart, str]:
        start = LoginStart(
            secrets.token_urlsafe(24),
            secrets.token_urlsafe(48),
            secrets.token_urlsafe(16),
            safe_next(next_path),
        )
        return start, self.seal(start.__dict__)

    def login_of(self, sealed: str | None) -> LoginStart | None:
        data = self.open(sealed, LOGIN_SECONDS)
        return LoginStart(**data) if data else None

    def session(self, principal: Principal, token: str, seconds: int) -> str:
        return self.seal(
            {"claims": principal.to_claims(), "token": token, "expires": time.time() + seconds}
        )

    def user_of(self, sealed: str | None, max_age: int) -> User | None:
        data = self.open(sealed, max_age)
        if not data or data["expires"] < time.time():
            return None
        return User(Principal.from_claims(data["claims"]), data["token"], data["expires"])


def safe_next(path: str) -> str:
    """Only a path of this console: never an open redirect to elsewhere."""
    return path if path.startswith("/") and not path.startswith("//") else "/"
