"""What a person at a terminal sees when a command cannot do its work: one line, an exit code.

Every Kinerja command line (``kinerja-roster``, ``kinerja-topics``, ``kinerja-dev-token``, each
service's ``serve``/``migrate``, bkn-sync's operator commands) runs its body through `run`, and
wraps each call to a dependency in `kafka`, `database` or `http_api`. A broker, database or API
that cannot be reached then ends the command with exit status 3 and one line on stderr::

    kinerja-roster: cannot connect to the Kafka broker at 10.0.0.9:9092
    (KINERJA_KAFKA_BOOTSTRAP): no broker answered

(one line, folded here), naming what was unreachable and the variable that points at it,
instead of a traceback that buries both. Bad usage or input (a missing file, a wrong header,
an unset variable) is exit status 2, like argparse's own errors.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

# The client libraries are imported where a command first talks to its dependency: `--help`
# and argument errors then answer without loading asyncpg, httpx (and rich) and aiokafka.
if TYPE_CHECKING:
    from pydantic import ValidationError
    from pydantic_settings import BaseSettings

__all__ = [
    "EXIT_FAILED",
    "EXIT_STATUS",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "CliError",
    "HelpFormatter",
    "Unreachable",
    "database",
    "exit_status",
    "http_api",
    "kafka",
    "probe_database",
    "quiet_library_logs",
    "run",
    "settings_error",
]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

_EXIT_MEANINGS = {
    0: "done",
    EXIT_USAGE: "bad usage or input (unknown option, missing or malformed file, unset variable)",
    EXIT_UNREACHABLE: "a dependency (Kafka broker, PostgreSQL, HTTP API) cannot be reached;\n"
    "     the one line on stderr names it and the variable that points at it",
}


def exit_status(**extra: str) -> str:
    """The "exit status:" section of a command's --help epilog; ``extra`` adds a command's own
    codes, e.g. ``exit_status(**{"1": "no row of the file is valid"})``."""
    meanings = {**{str(code): text for code, text in _EXIT_MEANINGS.items()}, **extra}
    lines = [f"  {code}  {meanings[code]}" for code in sorted(meanings, key=int)]
    return "exit status:\n" + "\n".join(lines)


EXIT_STATUS = exit_status()

# Filesystem errors are OSErrors too, but they are never "the server is unreachable".
_NOT_NETWORK = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)


def _kafka_unreachable() -> tuple[type[BaseException], ...]:
    from aiokafka import errors

    return (
        errors.KafkaConnectionError,
        errors.KafkaTimeoutError,
        errors.NoBrokersAvailable,
        errors.NodeNotReadyError,
        errors.RequestTimedOutError,
        ConnectionError,
        TimeoutError,
        socket.gaierror,
    )


def _pg_unreachable() -> tuple[type[BaseException], ...]:
    import asyncpg

    return (
        OSError,  # refused, unknown host, timed out; the filesystem ones are let through first
        asyncpg.PostgresConnectionError,  # SQLSTATE class 08
        asyncpg.InvalidAuthorizationSpecificationError,  # wrong password or unknown role
        asyncpg.InvalidCatalogNameError,  # no such database
        asyncpg.CannotConnectNowError,  # starting up or shutting down
        asyncpg.TooManyConnectionsError,
        asyncpg.ConnectionDoesNotExistError,
    )


class CliError(Exception):
    """A failure the person can act on: printed as one line, ended with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(_one_line(message))
        self.exit_code = exit_code


class Unreachable(CliError):
    """A dependency did not answer (or refused the connection): exit status 3."""

    def __init__(self, what: str, where: str, variable: str, reason: str) -> None:
        super().__init__(
            f"cannot connect to {what} at {where} ({variable}): {reason}", EXIT_UNREACHABLE
        )
        self.what, self.where, self.variable, self.reason = what, where, variable, reason


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


# Matched by name: the client that raised one is already loaded, and importing the others
# to compare classes would load them for nothing.
_TIMEOUTS = frozenset(
    {
        "KafkaTimeoutError",
        "RequestTimedOutError",
        "TimeoutException",
        "ConnectTimeout",
        "ReadTimeout",
        "WriteTimeout",
        "PoolTimeout",
    }
)


def _reason(exc: BaseException, default: str) -> str:
    """The most specific thing the exception chain says about why the connection failed."""
    for link in _chain(exc):
        if isinstance(link, ConnectionRefusedError):
            return "connection refused"
        if isinstance(link, socket.gaierror):
            return "host name not found"
        if isinstance(link, TimeoutError) or type(link).__name__ in _TIMEOUTS:
            return "timed out"
        if _is_postgres_error(link) and str(link):
            return str(link)
    return default


def _is_postgres_error(exc: BaseException) -> bool:
    asyncpg = sys.modules.get("asyncpg")
    return asyncpg is not None and isinstance(exc, asyncpg.PostgresError)


def database_location(dsn: str) -> str:
    """``host:port/database`` of a PostgreSQL URL: never its user or password."""
    try:
        parts = urlsplit(dsn)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:
        return "(an unparsable URL)"
    name = parts.path.lstrip("/")
    return f"{host}:{port}/{name}" if name else f"{host}:{port}"


def _origin(url: str) -> str:
    """``scheme://host:port`` of a URL: a path or credentials in it are nobody's business."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return url
    return f"{parts.scheme}://{parts.hostname}{port}" if parts.hostname else url


@contextmanager
def kafka(
    bootstrap: str, variable: str, *, what: str = "the Kafka broker", login: str = ""
) -> Iterator[None]:
    """Turn a broker that does not answer into `Unreachable` naming ``bootstrap``, and a login
    or a permission it refuses into a `CliError` naming the variables that set the login
    (``login``: their prefix). A plain client that meets a TLS port hears nothing it can read,
    so while those variables ask for no login, the message says where one would come from."""
    from aiokafka import errors

    from .kafka_login import KafkaLoginError

    try:
        yield
    except KafkaLoginError as exc:
        raise CliError(str(exc)) from exc
    except (errors.SaslAuthenticationFailed, errors.AuthenticationFailedError) as exc:
        raise CliError(
            f"{what} at {bootstrap} refused the login ({login}SASL_USERNAME and its password): "
            f"{exc}"
        ) from exc
    except (
        errors.TopicAuthorizationFailedError,
        errors.ClusterAuthorizationFailedError,
        errors.GroupAuthorizationFailedError,
    ) as exc:
        raise CliError(
            f"{what} at {bootstrap} does not allow this to the principal of {login}"
            f"SASL_USERNAME ({type(exc).__name__}): log in as one that may"
        ) from exc
    except _kafka_unreachable() as exc:
        reason = _reason(exc, "no broker answered")
        if login and _asks_no_login(login):
            reason += (
                f"; if it takes logins only (the dev stack's does), set {login}SECURITY_PROTOCOL "
                "and the rest (source deploy/local/env.sh)"
            )
        raise Unreachable(what, bootstrap, variable, reason) from exc


def _asks_no_login(prefix: str) -> bool:
    from .kafka_login import KafkaLogin, KafkaLoginError

    try:
        return KafkaLogin.from_env(prefix).plaintext
    except KafkaLoginError:
        return False


@contextmanager
def database(dsn: str, variable: str, *, what: str = "the database") -> Iterator[None]:
    """Turn a PostgreSQL server that cannot be reached or logged in to into `Unreachable`."""
    import asyncpg

    try:
        yield
    except asyncpg.ClientConfigurationError as exc:
        raise CliError(f"{variable} is not a usable PostgreSQL URL: {exc}") from exc
    except _NOT_NETWORK:
        raise
    except _pg_unreachable() as exc:
        default = str(exc) or type(exc).__name__
        raise Unreachable(what, database_location(dsn), variable, _reason(exc, default)) from exc


@contextmanager
def http_api(url: str, variable: str, *, what: str = "the API") -> Iterator[None]:
    """Turn an HTTP API that does not answer into `Unreachable` naming ``url``."""
    import httpx

    try:
        yield
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise CliError(f"{variable} is not an http(s) URL: {url!r}") from exc
    except httpx.TransportError as exc:
        default = str(exc) or type(exc).__name__
        raise Unreachable(what, _origin(url), variable, _reason(exc, default)) from exc


async def probe_database(dsn: str, variable: str, *, timeout: float = 10.0) -> None:
    """Connect once and hang up, so a long-running process fails before it starts serving."""
    import asyncpg

    with database(dsn, variable):
        conn = await asyncpg.connect(dsn, timeout=timeout)
        await conn.close()


def settings_error(exc: ValidationError, settings: type[BaseSettings]) -> CliError:
    """One line naming each environment variable a settings class refused, and why."""
    prefix = settings.model_config.get("env_prefix") or ""
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        # A field read through a validation alias is reported under the alias, unprefixed.
        variable = (prefix + field if field in settings.model_fields else field).upper()
        if error["type"] == "missing":
            problems.append(f"{variable} is not set")
        else:
            problems.append(f"{variable}: {error['msg']}")
    return CliError("; ".join(problems) or str(exc))


def quiet_library_logs() -> None:
    """Keep client libraries' own log lines (aiokafka's "Unable connect to ...", asyncio's
    "Unclosed producer") off the terminal: the one-line message already says what failed.
    ``KINERJA_LOG_LEVEL=DEBUG`` (or any level) shows them again, for a person debugging."""
    level = os.environ.get("KINERJA_LOG_LEVEL")
    root = logging.getLogger()
    if level:
        logging.basicConfig(level=level.upper(), format="%(levelname)s %(name)s: %(message)s")
    elif not root.handlers:
        root.addHandler(logging.NullHandler())


def run(prog: str, body: Callable[[], int | None]) -> int:
    """Run a command's body; a `CliError` becomes its one line on stderr and its exit code."""
    try:
        return body() or 0
    except CliError as exc:
        sys.stderr.write(f"{prog}: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted\n")
        return 130


class HelpFormatter(argparse.HelpFormatter):
    """Wraps one-line paragraphs, keeps multi-line ones (examples, tables) as written, and shows
    each option's default when it has one worth showing (not for flags or unset options)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        blocks = []
        for block in text.split("\n\n"):
            if "\n" in block.strip("\n"):
                blocks.append("\n".join(indent + line for line in block.splitlines()))
            else:
                blocks.append(super()._fill_text(block, width, indent))
        return "\n\n".join(blocks)

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        # argparse measures subcommand names without their extra indent, which pushes the help
        # of a long one ("deliveries") onto a line of its own.
        if action.help is not argparse.SUPPRESS:
            for sub in self._iter_indented_subactions(action):
                length = len(self._format_action_invocation(sub)) + self._current_indent
                self._action_max_length = max(self._action_max_length, length)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            "%(default)" in text
            or action.default in (None, False, argparse.SUPPRESS)
            or action.required
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"
