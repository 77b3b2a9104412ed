from pydantic_settings import SettingsConfigDict

from kinerja_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="OBSERVATION_", extra="ignore")

    http_port: int = 58002
    db_schema: str = "observation"
    consumer_group: str = "observation"
