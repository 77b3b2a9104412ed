"""bkn-sync's access token for e-Kinerja: OAuth2 client credentials (RFC 6749 §4.4).

A token is fetched when first needed and kept until shortly before it expires; the deliveries
in flight meanwhile share one fetch. A 401 from e-Kinerja drops the kept token (it was revoked
or expired early), so the next PUT asks for a new one. A token endpoint that cannot be reached
is a transport failure like e-Kinerja being away: the PUT is not sent, and the delivery is
tried again as after a refused connection.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp
from pydantic import SecretStr

# Renewed this long before it expires, so no PUT leaves with a token about to lapse on the way.
_EARLY_SECONDS = 60.0


class TokenUnavailable(Exception):
    """The token endpoint did not give a token (unreachable, refused, or an unreadable answer)."""


@dataclass(frozen=True)
class ClientCredentials:
    token_url: str
    client_id: str
    client_secret: SecretStr
    scope: str | None = None


class TokenSource:
    def __init__(self, credentials: ClientCredentials, timeout_seconds: float) -> None:
        self._credentials = credentials
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    async def authorization(self) -> str:
        """The ``Authorization`` header value for the next PUT."""
        if self._token is None or time.monotonic() >= self._renew_at:
            async with self._lock:  # one fetch for every PUT waiting on it
                if self._token is None or time.monotonic() >= self._renew_at:
                    await self._fetch()
        assert self._token is not None
        return f"Bearer {self._token}"

    def invalidate(self, token: str) -> None:
        """e-Kinerja refused ``token``: the next PUT fetches a new one (unless one already did)."""
        if self._token is not None and f"Bearer {self._token}" == token:
            self._token = None

    async def _fetch(self) -> None:
        c = self._credentials
        form = {"grant_type": "client_credentials"}
        if c.scope:
            form["scope"] = c.scope
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(
                c.token_url,
                data=form,
                headers={
                    "Authorization": aiohttp.encode_basic_auth(
                        c.client_id, c.client_secret.get_secret_value()
                    )
                },
            ) as response:
                body = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise TokenUnavailable(f"token endpoint: {type(exc).__name__}") from exc
        if status != 200 or not isinstance(body, dict) or not body.get("access_token"):
            error = body.get("error") if isinstance(body, dict) else None
            raise TokenUnavailable(f"token endpoint answered HTTP {status} ({error or '-'})")
        lifetime = float(body.get("expires_in") or 300)
        self._token = str(body["access_token"])
        self._renew_at = time.monotonic() + max(lifetime - _EARLY_SECONDS, lifetime / 2)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
