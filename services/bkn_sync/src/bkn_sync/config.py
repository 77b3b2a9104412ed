from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kinerja_shared.settings import ServiceSettings
from kinerja_shared.topics import BKN_RETRY_TIERS, PLAN_AGREED, PREDIKAT_DITETAPKAN, dlq_name

from .domain.breaker import BreakerConfig


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BKN_SYNC_", extra="ignore")

    http_port: int = 58005
    db_schema: str = "bkn_sync"
    consumer_group: str = "bkn-sync"
    ekinerja_url: str = Field(
        default="http://127.0.0.1:58010", description="Base URL of e-Kinerja (or its simulator)."
    )
    ekinerja_timeout_seconds: float = 10.0
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
        description="Most PUTs this process sends to e-Kinerja per second, retries included "
        "(0: no cap). docs/domain.md §8 caps all of Kinerja at 200/s: set it to 200 ÷ the most "
        "replicas that can run (the prod overlay: 50 for KEDA's 4).",
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

    def breaker_config(self) -> BreakerConfig:
        return BreakerConfig(
            window_seconds=self.breaker_window_seconds,
            min_failures=self.breaker_min_failures,
            failure_ratio=self.breaker_failure_ratio,
            cool_down_seconds=self.breaker_cool_down_seconds,
        )
