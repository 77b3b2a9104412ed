from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kinerja_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PLANNING_", extra="ignore")

    http_port: int = 58001
    db_schema: str = "planning"
    consumer_group: str = "planning"
    periods_file: Path | None = Field(
        default=None, description="periods.json to use instead of the one shipped in the package."
    )
    catalog_file: Path | None = Field(
        default=None, description="catalog.json to use instead of the one shipped in the package."
    )
