"""The services' Kafka security settings: PLAINTEXT by default (as today), SCRAM-SHA-512 over
TLS when asked, for the FastStream broker, the outbox relay's catalog and aiokafka clients."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from faststream.security import SASLScram512
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from kinerja_shared.kafka_login import KafkaLogin, KafkaLoginError
from kinerja_shared.outbox import KafkaTopicCatalog
from kinerja_shared.service import make_broker, topic_catalog
from kinerja_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KSEC_", extra="ignore")
    db_schema: str = "planning"
    consumer_group: str = "planning"


BASE = {"database_url": "postgresql://u:p@db.invalid/x", "jwt_jwks_url": "file:///jwks.json"}
SASL = {
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_username": "planning",
    "kafka_sasl_password": "s3cret-value",
}


def test_the_default_is_plaintext_as_today() -> None:
    settings = Settings(**BASE)
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert settings.kafka_security() is None
    assert settings.kafka_client_options() == {}
    broker = make_broker("planning", settings)
    kwargs = broker._connection_kwargs
    assert "sasl_mechanism" not in kwargs
    assert kwargs.get("security_protocol", "PLAINTEXT") == "PLAINTEXT"
    assert type(topic_catalog(settings)) is KafkaTopicCatalog


def test_sasl_ssl_without_credentials_is_refused() -> None:
    with pytest.raises(ValidationError, match="SASL_SSL needs a username and a password"):
        Settings(**BASE, kafka_security_protocol="SASL_SSL", kafka_sasl_username="planning")
    with pytest.raises(ValidationError, match="kafka_security_protocol"):
        Settings(**BASE, kafka_security_protocol="SASL_PLAINTEXT")


def test_sasl_ssl_gives_the_broker_scram_512_over_verified_tls() -> None:
    settings = Settings(**BASE, **SASL)
    security = settings.kafka_security()
    assert isinstance(security, SASLScram512)
    assert security.use_ssl
    assert security.ssl_context is not None
    assert security.ssl_context.verify_mode is ssl.CERT_REQUIRED
    assert security.ssl_context.check_hostname
    broker = make_broker("planning", settings)
    kwargs = broker._connection_kwargs
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "planning"
    assert kwargs["sasl_plain_password"] == "s3cret-value"
    # the consumers FastStream builds log in the same way
    consumer = broker.config.configs[0].builder.keywords
    assert consumer["sasl_mechanism"] == "SCRAM-SHA-512"
    assert type(topic_catalog(settings)) is not KafkaTopicCatalog
    assert isinstance(topic_catalog(settings), KafkaTopicCatalog)


def test_the_aiokafka_options_match() -> None:
    options = Settings(**BASE, **SASL).kafka_client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "planning"
    assert isinstance(options["ssl_context"], ssl.SSLContext)


def test_the_password_comes_from_the_environment_and_is_never_printed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KSEC_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KSEC_KAFKA_SASL_USERNAME", "planning")
    monkeypatch.setenv("KSEC_KAFKA_SASL_PASSWORD", "from-the-env")
    settings = Settings(**BASE)
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == "from-the-env"
    assert "from-the-env" not in repr(settings)
    assert "from-the-env" not in str(settings.model_dump())


def test_an_unreadable_ca_file_fails_at_once() -> None:
    settings = Settings(**BASE, **SASL, kafka_ca_file="/nonexistent/ca.crt")
    with pytest.raises(FileNotFoundError):
        settings.kafka_security()


def test_the_password_may_come_from_a_file_read_when_the_clients_are_made(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "planning"
    secret.write_text("from-a-file\n")
    login = {k: v for k, v in SASL.items() if k != "kafka_sasl_password"}
    settings = Settings(**BASE, **login, kafka_sasl_password_file=str(secret))
    assert settings.kafka_client_options()["sasl_plain_password"] == "from-a-file"
    assert "from-a-file" not in repr(settings)
    secret.unlink()
    with pytest.raises(KafkaLoginError, match="cannot read the Kafka password file"):
        settings.kafka_client_options()


def test_a_tool_reads_its_login_under_its_own_prefix(tmp_path: Path) -> None:
    secret = tmp_path / "roster-importer"
    secret.write_text("importer-secret")
    env = {
        "KINERJA_ROSTER_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KINERJA_ROSTER_KAFKA_SASL_USERNAME": "roster-importer",
        "KINERJA_ROSTER_KAFKA_SASL_PASSWORD_FILE": str(secret),
        "KINERJA_KAFKA_SASL_USERNAME": "kinerja-admin",
    }
    options = KafkaLogin.from_env("KINERJA_ROSTER_KAFKA_", env).client_options()
    assert options["sasl_plain_username"] == "roster-importer"
    assert options["sasl_plain_password"] == "importer-secret"
    assert KafkaLogin.from_env("KINERJA_ROSTER_KAFKA_", {}).client_options() == {}
    # empty values, as an env file with SASL off writes them, are unset
    assert KafkaLogin.from_env("X_", {"X_SECURITY_PROTOCOL": "", "X_CA_FILE": ""}).plaintext
    with pytest.raises(KafkaLoginError, match="KINERJA_KAFKA_"):
        KafkaLogin.from_env("KINERJA_KAFKA_", {"KINERJA_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"})
