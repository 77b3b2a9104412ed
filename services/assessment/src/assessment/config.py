from pydantic_settings import SettingsConfigDict

from kinerja_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ASSESSMENT_", extra="ignore")

    http_port: int = 58003
    db_schema: str = "assessment"
    consumer_group: str = "assessment"
