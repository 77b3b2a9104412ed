"""The one-line messages and exit codes every command line shares (kinerja_shared.cli_errors)."""

from __future__ import annotations

import argparse
import io
import socket

import asyncpg
import httpx
import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from kinerja_shared import cli_errors
from kinerja_shared.cli_errors import EXIT_UNREACHABLE, EXIT_USAGE, CliError, Unreachable
from kinerja_shared.kafka_login import KafkaLoginError
from kinerja_shared.roster import cli as roster_cli
from kinerja_tools.testing.cli import closed_port


def test_a_refused_database_names_host_port_database_and_variable_but_not_the_password() -> None:
    dsn = "postgresql://planning:s3cret@127.0.0.1:5999/kinerja"

    with pytest.raises(Unreachable) as caught, cli_errors.database(dsn, "PLANNING_DATABASE_URL"):
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5999)")

    assert str(caught.value) == (
        "cannot connect to the database at 127.0.0.1:5999/kinerja (PLANNING_DATABASE_URL): "
        "connection refused"
    )
    assert caught.value.exit_code == EXIT_UNREACHABLE
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (socket.gaierror(-2, "Name or service not known"), "host name not found"),
        (TimeoutError(), "timed out"),
        (
            asyncpg.InvalidPasswordError('password authentication failed for user "planning"'),
            'password authentication failed for user "planning"',
        ),
        (asyncpg.InvalidCatalogNameError('database "nodb" does not exist'), "does not exist"),
        (OSError("Multiple exceptions: [Errno 111] ..., [Errno 111] ..."), "Multiple exceptions"),
    ],
)
def test_every_way_of_not_reaching_postgresql_is_exit_3(error: Exception, reason: str) -> None:
    with pytest.raises(Unreachable) as caught, cli_errors.database("postgresql://h/db", "X_URL"):
        raise error

    assert caught.value.exit_code == EXIT_UNREACHABLE
    assert "(X_URL)" in str(caught.value)
    assert reason in str(caught.value)


def test_a_malformed_database_url_is_bad_input_not_an_unreachable_server() -> None:
    with pytest.raises(CliError) as caught, cli_errors.database("foo", "PLANNING_DATABASE_URL"):
        raise asyncpg.ClientConfigurationError("invalid DSN: scheme is expected")

    assert not isinstance(caught.value, Unreachable)
    assert caught.value.exit_code == EXIT_USAGE
    assert "PLANNING_DATABASE_URL" in str(caught.value)


def test_a_missing_file_inside_a_database_block_is_not_blamed_on_the_database() -> None:
    with (
        pytest.raises(FileNotFoundError),
        cli_errors.database("postgresql://h/db", "PLANNING_DATABASE_URL"),
    ):
        raise FileNotFoundError("0001_init.sql")


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (KafkaConnectionError("Unable to bootstrap from [...]"), "no broker answered"),
        (KafkaTimeoutError(), "timed out"),
    ],
)
def test_an_unreachable_broker_names_the_bootstrap_and_its_variable(
    error: Exception, reason: str
) -> None:
    with pytest.raises(Unreachable) as caught, cli_errors.kafka("10.0.0.9:9092", "X_BOOTSTRAP"):
        raise error

    assert str(caught.value) == (
        f"cannot connect to the Kafka broker at 10.0.0.9:9092 (X_BOOTSTRAP): {reason}"
    )


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (SaslAuthenticationFailed(), "refused the login (X_KAFKA_SASL_USERNAME and its password)"),
        (TopicAuthorizationFailedError(), "does not allow this to the principal of X_KAFKA_"),
        (KafkaLoginError("X_KAFKA_*: SASL_SSL needs a username"), "X_KAFKA_*: SASL_SSL needs"),
    ],
)
def test_a_refused_login_or_permission_is_bad_usage_naming_the_login_variables(
    error: Exception, says: str
) -> None:
    with (
        pytest.raises(CliError) as caught,
        cli_errors.kafka("10.0.0.9:9092", "X_BOOTSTRAP", login="X_KAFKA_"),
    ):
        raise error

    assert not isinstance(caught.value, Unreachable)
    assert caught.value.exit_code == EXIT_USAGE
    assert says in str(caught.value)


async def test_an_unreachable_api_names_the_url_and_its_variable() -> None:
    with closed_port() as port:
        url = f"http://127.0.0.1:{port}"
        with pytest.raises(Unreachable) as caught, cli_errors.http_api(url, "X_API_URL"):
            async with httpx.AsyncClient(base_url=url) as client:
                await client.get("/deliveries")

    assert str(caught.value) == (
        f"cannot connect to the API at http://127.0.0.1:{port} (X_API_URL): connection refused"
    )


def test_an_api_url_that_is_not_http_is_bad_input() -> None:
    with pytest.raises(CliError) as caught, cli_errors.http_api("ftp://x", "X_API_URL"):
        httpx.get("ftp://x")

    assert caught.value.exit_code == EXIT_USAGE
    assert "X_API_URL is not an http(s) URL" in str(caught.value)


class _Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_")

    database_url: str
    http_port: int = 1
    periods_file: str | None = Field(default=None, validation_alias="KINERJA_PERIODS_FILE")


def test_settings_errors_name_each_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEMO_DATABASE_URL", raising=False)
    monkeypatch.setenv("DEMO_HTTP_PORT", "eighty")

    with pytest.raises(ValidationError) as caught:
        _Settings()
    error = cli_errors.settings_error(caught.value, _Settings)

    assert error.exit_code == EXIT_USAGE
    assert "DEMO_DATABASE_URL is not set" in str(error)
    assert "DEMO_HTTP_PORT: Input should be a valid integer" in str(error)
    assert "eighty" not in str(error), "values (maybe secrets) stay out of the message"


def test_run_turns_a_cli_error_into_one_line_and_its_exit_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def body() -> int:
        raise CliError("first\n   second", 2)

    assert cli_errors.run("prog", body) == 2
    assert capsys.readouterr().err == "prog: first second\n"


def test_subcommand_help_stays_on_the_line_of_its_name() -> None:
    parser = argparse.ArgumentParser(prog="p", formatter_class=cli_errors.HelpFormatter)
    sub = parser.add_subparsers(metavar="COMMAND")
    sub.add_parser("serve", help="run it")
    sub.add_parser("deliveries", help="show every delivery")

    text = parser.format_help()

    assert any(
        line.split() == ["deliveries", "show", "every", "delivery"] for line in text.splitlines()
    )


def test_plain_progress_reports_count_rate_and_elapsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roster_cli, "PLAIN_PROGRESS_EVERY_SECONDS", 0.0)
    stream = io.StringIO()  # not a terminal
    progress = roster_cli.Progress("publishing", 3, "records", stream)

    assert list(progress.counted("abc")) == ["a", "b", "c"]
    progress.close()

    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[-1].startswith("kinerja-roster: publishing: 3/3 records, ")
    assert "records/s" in lines[-1]
    assert lines[-1].endswith("s elapsed")
    assert "\r" not in stream.getvalue()


def test_an_unreachable_broker_says_where_a_login_comes_from_while_none_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in ("X_KAFKA_SECURITY_PROTOCOL", "X_KAFKA_SASL_USERNAME", "X_KAFKA_SASL_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    with (
        pytest.raises(Unreachable) as plain,
        cli_errors.kafka("10.0.0.9:9092", "X_BOOTSTRAP", login="X_KAFKA_"),
    ):
        raise KafkaConnectionError()
    assert "set X_KAFKA_SECURITY_PROTOCOL and the rest" in str(plain.value)

    monkeypatch.setenv("X_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("X_KAFKA_SASL_USERNAME", "roster-importer")
    monkeypatch.setenv("X_KAFKA_SASL_PASSWORD", "secret")
    with (
        pytest.raises(Unreachable) as logged_in,
        cli_errors.kafka("10.0.0.9:9092", "X_BOOTSTRAP", login="X_KAFKA_"),
    ):
        raise KafkaConnectionError()
    assert "X_KAFKA_SECURITY_PROTOCOL" not in str(logged_in.value)
