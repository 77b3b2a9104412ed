from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from kinerja_shared.settings import ServiceSettings
from kinerja_shared.topics import DLQS

SERVICES = ("planning", "observation", "assessment", "predikat", "bkn-sync")


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore")

    http_port: int = 58020
    db_schema: str = "console"
    consumer_group: str = "console"
    public_url: str = Field(
        default="http://127.0.0.1:58020",
        description="The console's address as browsers reach it (the login's redirect URI).",
    )
    bkn_sync_url: str = Field(default="http://127.0.0.1:58005", description="bkn-sync's API.")
    bkn_sync_timeout_seconds: float = 10.0
    tertahan_page_schools: int = Field(
        default=200,
        ge=1,
        le=5_000,
        description="Schools on one page of a reason's Tertahan list (a reason can park "
        "teachers in thousands of schools; a page of them renders in a few milliseconds).",
    )
    zipkin_url: str = Field(
        default="http://127.0.0.1:59411", description="The trace viewer, for links to traces."
    )
    metrics_urls: dict[str, str] = Field(
        default_factory=dict,
        description="Each service's /metrics (name → URL), for the outbox backlog and set-aside "
        'rows on the overview, e.g. {"planning": "http://planning:9100/metrics"}.',
    )
    pipeline_refresh_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="How often the overview's operator panels (lag, DLQ sizes, outboxes) are "
        "taken in the background; a view shows the last ones and when they were taken.",
    )
    lag_groups: list[str] = Field(
        default_factory=lambda: list(SERVICES),
        description="Consumer groups shown with their lag: a service's group name (its "
        "per-subscription groups <group>:<topic> are summed under it).",
    )
    dlq_topics: list[str] = Field(
        default_factory=lambda: [t.name for t in DLQS],
        description="The DLQ topics the explorer lists.",
    )
    oidc_authorize_url: str | None = Field(
        default=None,
        description="The identity provider's authorization endpoint (dev: the dev issuer the "
        "console serves at /dev-idp).",
    )
    oidc_token_url: str | None = Field(
        default=None, description="The identity provider's token endpoint (dev: /dev-idp)."
    )
    oidc_client_id: str = "kinerja-console"
    dev_issuer: bool = Field(
        default=True,
        description="Serve the dev identity provider's login at /dev-idp (dev only).",
    )
    dev_idp_dir: str | None = Field(
        default=None,
        description="The dev identity provider's key directory, whose key the services trust "
        "(unset: $KINERJA_DEV_IDP_DIR, else the running stack's). Dev only.",
    )
    session_secret: SecretStr | None = Field(
        default=None,
        validate_default=True,
        description="Key of the session cookies, the same on every replica. Required outside "
        "dev; dev makes one per process (a restart logs everyone out).",
    )
    session_seconds: int = Field(default=3600, gt=0, le=12 * 3600)

    @field_validator("session_secret")
    @classmethod
    def _secret_outside_dev(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if info.data.get("env", "dev") != "dev" and (
            value is None or len(value.get_secret_value()) < 32
        ):
            raise ValueError("must be set (at least 32 characters) outside dev")
        return value

    @field_validator("dev_issuer")
    @classmethod
    def _dev_issuer_in_dev_only(cls, value: bool, info: ValidationInfo) -> bool:
        # Outside dev the flag is ignored rather than refused: its default is on.
        return value and info.data.get("env", "dev") == "dev"

    @property
    def authorize_url(self) -> str:
        return self.oidc_authorize_url or f"{self.public_url}/dev-idp/authorize"

    @property
    def token_url(self) -> str:
        return self.oidc_token_url or f"{self.public_url}/dev-idp/token"
