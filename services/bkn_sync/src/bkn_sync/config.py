from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from kinerja_shared.settings import ServiceSettings
from kinerja_shared.topics import BKN_RETRY_TIERS, PLAN_AGREED, PREDIKAT_DITETAPKAN, dlq_name

from .domain.breaker import BreakerConfig
from .domain.deliveries import RecheckSchedule, RetrySchedule
from .ekinerja_token import ClientCredentials


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BKN_SYNC_", extra="ignore")

    http_port: int = 58005
    db_schema: str = "bkn_sync"
    consumer_group: str = "bkn-sync"
    ekinerja_url: str = Field(
        default="http://127.0.0.1:58010", description="Base URL of e-Kinerja (or its simulator)."
    )
    ekinerja_timeout_seconds: float = 10.0
    ekinerja_token_url: str | None = Field(
        default=None,
        description="e-Kinerja's OAuth2 token endpoint: every PUT then carries a bearer token "
        "got with the client credentials below (unset: PUTs carry none).",
    )
    ekinerja_client_id: str | None = None
    ekinerja_client_secret: SecretStr | None = Field(
        default=None, description="From the secret store, never a ConfigMap."
    )
    ekinerja_scope: str | None = None
    ekinerja_keepalive_seconds: float = Field(
        default=4.0,
        gt=0,
        description="How long an idle connection to e-Kinerja is kept for the next PUT. Keep it "
        "below e-Kinerja's own idle timeout (the simulator's uvicorn: 5 s): a PUT on a "
        "connection the server has just closed fails (BKN-T01), and after a quiet spell (a "
        "scheduled check, the end of an outage) every pooled connection would be such a one.",
    )
    quick_attempts: int = Field(default=3, ge=1, description="In-process tries per hop.")
    quick_wait_max_seconds: float = Field(
        default=2.0, description="Cap of the jittered backoff between in-process tries."
    )
    retry_after_cap_seconds: float = Field(
        default=10.0,
        description="Longest Retry-After honoured in process; longer waits go to a retry tier.",
    )
    retry_delays_seconds: tuple[float, ...] = Field(
        default=(30.0, 300.0, 3600.0),
        min_length=1,
        max_length=len(BKN_RETRY_TIERS),  # one delay per retry-tier topic
        description="Wait before the attempt of tier 1, 2, 3.",
    )
    retry_hold_max_seconds: float = Field(
        default=30.0,
        description="Longest a tier consumer holds one record before re-reading it; keeps the "
        "consumer inside Kafka's poll interval while a record is not yet due.",
    )
    delivery_workers: int = Field(
        default=4,
        ge=1,
        description="Partitions handled concurrently per retry-tier topic; one teacher's "
        "records stay on one partition, so they stay in order.",
    )
    max_in_flight: int = Field(
        default=200,
        ge=1,
        description="Deliveries attempted at once by this process (source batches and retry "
        "tiers together); also the size of the e-Kinerja connection pool.",
    )
    ekinerja_max_calls_per_second: float = Field(
        default=0,
        ge=0,
        description="Most PUTs all of bkn-sync sends to e-Kinerja per second, retries included, "
        "shared by every replica through the database (callcap.py; 0: no cap). docs/domain.md "
        "§8: 200.",
    )
    ekinerja_max_calls_per_second_per_instansi: float = Field(
        default=0,
        ge=0,
        description="Most PUTs per second for the teachers of one instansi (the roster's "
        "kode_wilayah), shared by every replica (0: no cap). docs/domain.md §8: 50.",
    )
    batch_max_records: int = Field(
        default=500,
        ge=1,
        description="Records a source consumer takes per batch; their offsets are committed "
        "once every one of them has its outcome recorded.",
    )
    dlq_topic: str = Field(
        default=dlq_name("bkn-sync"), description="Where dead deliveries and poison records go."
    )
    skp_topic: str = Field(
        default=PLAN_AGREED.name,
        description="Where agreed plans are read. Only load tests point it elsewhere, to keep "
        "their volume off the shared topic.",
    )
    predikat_topic: str = Field(default=PREDIKAT_DITETAPKAN.name)
    breaker_window_seconds: float = Field(
        default=10.0, gt=0, description="Sliding window in which e-Kinerja's failures count."
    )
    breaker_min_failures: int = Field(
        default=5, ge=1, description="Transient failures in the window needed to open."
    )
    breaker_failure_ratio: float = Field(
        default=0.5, gt=0, le=1, description="Share of failed calls in the window needed to open."
    )
    breaker_cool_down_seconds: float = Field(
        default=5.0, gt=0, description="Open this long before one probe is let through."
    )

    parked_recheck_every_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="A delivery parked for a cause outside Kinerja (BKN-E01 to E06, E09) is "
        "checked with e-Kinerja again this often at first...",
    )
    parked_recheck_first_seconds: float = Field(
        default=86400.0, ge=0, description="...for this long after it was parked..."
    )
    parked_recheck_then_every_seconds: float = Field(
        default=86400.0, gt=0, description="...then this often..."
    )
    parked_recheck_days: float = Field(
        default=14.0,
        ge=0,
        description="...until this many days after it was parked; then no more (0: never).",
    )
    parked_recheck_poll_seconds: float = Field(
        default=30.0, gt=0, description="How often this instance looks for due checks."
    )
    pause_poll_seconds: float = Field(
        default=2.0, gt=0, description="How often this instance reads the pause (pause.py)."
    )
    counts_fold_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often this instance folds the deltas of the kept delivery counts "
        "(counts.py); reads count unfolded deltas too, so this bounds their number, not "
        "how fresh a count is.",
    )
    parked_recheck_batch: int = Field(
        default=20,
        ge=1,
        description="Due checks this instance takes at once (replicas take different ones).",
    )

    recovery_batch: int = Field(
        default=50,
        ge=1,
        description="After an outage, deliveries waiting on a retry tier are attempted again "
        "before their tier is due, this many at a time (within the call cap and "
        "MAX_IN_FLIGHT).",
    )

    def retry_schedule(self) -> RetrySchedule:
        return RetrySchedule(
            self.retry_delays_seconds,
            RecheckSchedule(
                every_seconds=self.parked_recheck_every_seconds,
                first_seconds=self.parked_recheck_first_seconds,
                then_every_seconds=self.parked_recheck_then_every_seconds,
                days=self.parked_recheck_days,
            ),
        )

    def check_lease_seconds(self) -> float:
        """How long a scheduled check may take before another may take the delivery again:
        every quick try timing out with its backoff, and a breaker hold before the first."""
        per_try = self.ekinerja_timeout_seconds + self.quick_wait_max_seconds
        return self.quick_attempts * per_try + self.retry_hold_max_seconds + 30.0

    @model_validator(mode="after")
    def _client_complete(self) -> Settings:
        if self.ekinerja_token_url and not (
            self.ekinerja_client_id and self.ekinerja_client_secret
        ):
            raise ValueError(
                "BKN_SYNC_EKINERJA_TOKEN_URL needs BKN_SYNC_EKINERJA_CLIENT_ID and "
                "BKN_SYNC_EKINERJA_CLIENT_SECRET"
            )
        return self

    def ekinerja_credentials(self) -> ClientCredentials | None:
        if not (
            self.ekinerja_token_url and self.ekinerja_client_id and self.ekinerja_client_secret
        ):
            return None
        return ClientCredentials(
            self.ekinerja_token_url,
            self.ekinerja_client_id,
            self.ekinerja_client_secret,
            self.ekinerja_scope,
        )

    def breaker_config(self) -> BreakerConfig:
        return BreakerConfig(
            window_seconds=self.breaker_window_seconds,
            min_failures=self.breaker_min_failures,
            failure_ratio=self.breaker_failure_ratio,
            cool_down_seconds=self.breaker_cool_down_seconds,
        )
