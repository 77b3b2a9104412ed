"""Settings every service shares; each service subclasses with its own env prefix.

Observability settings are deliberately absent: OpenTelemetry reads the standard ``OTEL_*``
variables itself, so operators configure it the way they do everywhere else.

``env`` says where the process runs. Only ``dev`` (the default, for laptops, the test stack and
docker-compose) accepts the dev identity provider's issuer, a ``file://`` or ``http://`` JWKS,
and serves the API documentation by default; any other environment refuses to start with them
(docs/security.md). deploy/k8s/overlays/prod sets ``<PREFIX>_ENV=prod``.
"""

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .auth import AuthSettings
from .auth.devtoken import DEFAULT_ISSUER as DEV_ISSUER
from .kafka_login import KafkaLogin
from .pii import KEY_ENV as NIP_HASH_KEY_ENV

if TYPE_CHECKING:
    from faststream.security import BaseSecurity


class Environment(StrEnum):
    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


DEFAULT_MAX_REQUEST_BYTES = 256 * 1024


def _env_of(info: ValidationInfo) -> Environment:
    # A bad env value is reported on its own field; judge the others as if outside dev.
    env = info.data.get("env")
    return env if isinstance(env, Environment) else Environment.PROD


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    env: Environment = Field(
        default=Environment.DEV,
        description="dev, staging or prod; only dev accepts the dev issuer and a non-https JWKS.",
    )
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    database_url: str = Field(description="postgresql://role:password@host:port/db")
    db_schema: str
    db_pool_min: int = 2
    db_pool_max: int = 10
    kafka_bootstrap: str = "127.0.0.1:59092"
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="PLAINTEXT or SASL_SSL: SCRAM-SHA-512 over TLS as "
        'kafka_sasl_username (docs/security.md, "Kafka").',
    )
    kafka_sasl_username: str | None = Field(
        default=None, description="The service's Kafka principal (SASL_SSL only)."
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None, description="Its SCRAM-SHA-512 password (SASL_SSL only)."
    )
    kafka_sasl_password_file: Path | None = Field(
        default=None,
        description="A file holding that password instead (the local stacks' way: no env file "
        "they write holds a secret).",
    )
    kafka_ca_file: str | None = Field(
        default=None,
        description="PEM file of the CA that signed the broker's certificate (SASL_SSL); unset: "
        "the system's trust store.",
    )
    consumer_group: str
    jwt_jwks_url: str = Field(
        description="JWKS of the identity provider: https:// (file:// or http:// in dev only)"
    )
    jwt_issuer: str | None = Field(
        default=None,
        validate_default=True,
        description="The identity provider's iss. Required outside dev; dev defaults to the "
        "dev issuer.",
    )
    jwt_audience: str = "kinerja"
    jwt_max_token_lifetime_seconds: int = Field(
        default=3600,
        gt=0,
        le=24 * 3600,
        description="Longest exp - iat accepted; a longer-lived token is AUTH_INVALID.",
    )
    jwt_jwks_cache_seconds: float = Field(
        default=300, gt=0, description="How long fetched keys are used before asking again."
    )
    jwt_jwks_grace_seconds: float = Field(
        default=3600,
        ge=0,
        description="How long past the cache time the last good keys still verify tokens "
        "while the JWKS cannot be fetched.",
    )
    max_request_bytes: int = Field(
        default=DEFAULT_MAX_REQUEST_BYTES,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Largest request body accepted; larger ones get 413 REQUEST_TOO_LARGE "
        "before authentication and before parsing.",
    )
    api_docs: bool | None = Field(
        default=None,
        description="Serve /docs, /redoc and /openapi.json (default: in dev only).",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Serve /metrics on this port only (not on the API port); unset: on the "
        "API port.",
    )
    nip_hash_key: SecretStr | None = Field(
        default=None,
        validation_alias=NIP_HASH_KEY_ENV,
        description="Key of the NIP tokens in logs and traces, the same for every service "
        "(kinerja_shared.pii). Outside dev, NIPs are fully hidden while it is unset.",
    )
    outbox_poll_seconds: float = Field(
        default=1.0, description="Fallback poll; the relay is normally woken by NOTIFY at once."
    )
    graceful_shutdown_seconds: float = 15.0

    @field_validator("jwt_jwks_url")
    @classmethod
    def _https_outside_dev(cls, value: str, info: ValidationInfo) -> str:
        if _env_of(info) is not Environment.DEV and urlparse(value).scheme != "https":
            raise ValueError(
                "must be an https:// URL outside dev (a file:// or http:// JWKS lets whoever "
                "can write the file or sit on the network sign tokens)"
            )
        return value

    @field_validator("jwt_issuer")
    @classmethod
    def _real_issuer_outside_dev(cls, value: Any, info: ValidationInfo) -> Any:
        if _env_of(info) is not Environment.DEV and (not value or value == DEV_ISSUER):
            raise ValueError(
                "must be set to the identity provider's issuer outside dev "
                f"(the dev issuer {DEV_ISSUER} is accepted in dev only)"
            )
        return value

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> "ServiceSettings":
        self.kafka_login()  # raises, as a settings error, for a login that cannot work
        return self

    def kafka_login(self) -> KafkaLogin:
        return KafkaLogin(
            security_protocol=self.kafka_security_protocol,
            sasl_username=self.kafka_sasl_username,
            sasl_password=self.kafka_sasl_password,
            sasl_password_file=self.kafka_sasl_password_file,
            ca_file=self.kafka_ca_file,
        )

    def kafka_security(self) -> "BaseSecurity | None":
        """FastStream's security object for ``KafkaBroker(security=...)``; None: PLAINTEXT."""
        return self.kafka_login().faststream_security()

    def kafka_client_options(self) -> dict[str, Any]:
        """The same, as keyword arguments of aiokafka's own clients (admin, producer,
        consumer); empty for PLAINTEXT, so a client built with them behaves as before."""
        return self.kafka_login().client_options()

    @property
    def dev(self) -> bool:
        return self.env is Environment.DEV

    @property
    def serves_api_docs(self) -> bool:
        return self.dev if self.api_docs is None else self.api_docs

    def auth(self) -> AuthSettings:
        return AuthSettings(
            jwks_url=self.jwt_jwks_url,
            issuer=self.jwt_issuer or DEV_ISSUER,
            audience=self.jwt_audience,
            max_lifetime_seconds=self.jwt_max_token_lifetime_seconds,
            jwks_cache_seconds=self.jwt_jwks_cache_seconds,
            jwks_grace_seconds=self.jwt_jwks_grace_seconds,
            require_https_jwks=not self.dev,
        )
