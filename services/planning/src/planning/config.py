from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kinerja_shared.periods import ENV_VAR as PERIODS_ENV_VAR
from kinerja_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PLANNING_", extra="ignore", populate_by_name=True)

    http_port: int = 58001
    db_schema: str = "planning"
    consumer_group: str = "planning"
    # Read from KINERJA_PERIODS_FILE, the variable every service reads, so planning can never
    # open periods the other services do not know. PLANNING_PERIODS_FILE is still accepted
    # (deprecated: it changes planning alone).
    periods_file: Path | None = Field(
        default=None,
        validation_alias=PERIODS_ENV_VAR,
        description="The shared periods.json to use instead of the one shipped in kinerja_shared.",
    )
    catalog_file: Path | None = Field(
        default=None, description="catalog.json to use instead of the one shipped in the package."
    )
