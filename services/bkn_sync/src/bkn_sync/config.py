from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kinerja_shared.settings import ServiceSettings
from kinerja_shared.topics import dlq_name


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
        default=(30.0, 300.0, 3600.0), description="Wait before the attempt of tier 1, 2, 3."
    )
    retry_hold_max_seconds: float = Field(
        default=30.0,
        description="Longest a tier consumer holds one record before re-reading it; keeps the "
        "consumer inside Kafka's poll interval while a record is not yet due.",
    )
    delivery_workers: int = Field(
        default=4,
        ge=1,
        description="Partitions handled concurrently per delivery topic; one teacher's records "
        "stay on one partition, so they stay in order.",
    )
    dlq_topic: str = Field(
        default=dlq_name("bkn-sync"), description="Where dead deliveries and poison records go."
    )
