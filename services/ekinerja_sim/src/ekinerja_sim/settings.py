"""Run-time settings, read from ``EKINERJA_SIM_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HTTP_PORT = 58010


class SimSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EKINERJA_SIM_", extra="ignore")

    host: str = "127.0.0.1"
    http_port: int = Field(default=DEFAULT_HTTP_PORT, ge=0, le=65535)
    # JSON {"refusals": {nip: [code, ...]}, "faults": {...}}, applied at start and on reset
    seed_file: Path | None = None
    # The attempt log is for inspection, not accounting: cap it so a long load test cannot
    # exhaust memory. Totals in /ledger/summary keep counting past the cap.
    max_attempts_kept: int = Field(default=200_000, ge=1)
    # The gateway's limits (gateway.py); unset = no limit, so functional tests see only the
    # 429s they script. Benchmarks set both and print them with every figure.
    max_concurrent_requests: int | None = Field(default=None, ge=1)
    max_connections: int | None = Field(default=None, ge=1)
    gateway_retry_after_seconds: int = Field(default=1, ge=0)
    # The one OAuth2 client e-Kinerja knows (oauth.py); unset = record PUTs need no token.
    client_id: str | None = None
    client_secret: str | None = None
    token_ttl_seconds: int = Field(default=3600, ge=1)

    @property
    def uvicorn_limit_concurrency(self) -> int | None:
        # uvicorn answers 503 once its open connections *reach* the limit, counting the new
        # one: one more lets exactly max_connections be served.
        return None if self.max_connections is None else self.max_connections + 1
