"""Settings every service shares; each service subclasses with its own env prefix.

Observability settings are deliberately absent: OpenTelemetry reads the standard ``OTEL_*``
variables itself, so operators configure it the way they do everywhere else.
"""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .auth import AuthSettings


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    database_url: str = Field(description="postgresql://role:password@host:port/db")
    db_schema: str
    db_pool_min: int = 2
    db_pool_max: int = 10
    kafka_bootstrap: str = "127.0.0.1:59092"
    consumer_group: str
    jwt_jwks_url: str = Field(description="JWKS of the identity provider (http(s):// or file://)")
    jwt_issuer: str = "https://dev-idp.kinerja.local"
    jwt_audience: str = "kinerja"
    outbox_poll_seconds: float = Field(
        default=1.0, description="Fallback poll; the relay is normally woken by NOTIFY at once."
    )
    graceful_shutdown_seconds: float = 15.0

    def auth(self) -> AuthSettings:
        return AuthSettings(
            jwks_url=self.jwt_jwks_url, issuer=self.jwt_issuer, audience=self.jwt_audience
        )
