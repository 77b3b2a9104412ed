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
