from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kinerja_shared.settings import ServiceSettings
from kinerja_shared.topics import BKN_DELIVERY_STATUS


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PREDIKAT_", extra="ignore")

    http_port: int = 58004
    db_schema: str = "predikat"
    consumer_group: str = "predikat"
    strict_distribution_areas: list[str] = Field(
        default_factory=list,
        description="Dinas areas (kode wilayah prefixes) where a curve violation blocks "
        "penetapan instead of needing a reason (docs/domain.md §4.2).",
    )
    delivery_status_topic: str = Field(
        default=BKN_DELIVERY_STATUS.name,
        description="Where bkn-sync's delivery news is read. Only tests point it elsewhere: on a "
        "broker shared with other runs, another run's bkn-sync tells news of their teachers too.",
    )
    status_batch_max_records: int = Field(
        default=500,
        ge=1,
        description="Most of bkn-sync's delivery-status events applied in one transaction: a "
        "school's Kirim ke Guru turns into two status events per teacher within seconds.",
    )
