"""The command line every service shares: ``<service> serve`` and ``<service> migrate``, plus any
commands of the service's own (bkn-sync's ``redrive`` and ``deliveries``)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from . import cli_errors
from .settings import ServiceSettings

if TYPE_CHECKING:
    from fastapi import FastAPI


@dataclass(frozen=True)
class Command:
    """A service's own subcommand, listed by ``<service> --help`` beside serve and migrate.

    ``run`` gets the parsed arguments and returns the exit status; it runs before the
    service's settings are read, so it needs none of them (no database URL for an operator)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str | None = None
    epilog: str | None = None


def _epilog(name: str, prefix: str) -> str:
    return (
        "environment:\n"
        f"  {prefix}DATABASE_URL      postgresql://role:password@host:port/db (required)\n"
        f"  {prefix}KAFKA_BOOTSTRAP   Kafka bootstrap servers, host:port[,host:port]\n"
        f"  {prefix}HTTP_PORT         port of the HTTP API\n"
        f"  {prefix}JWT_JWKS_URL      JWKS of the identity provider (required)\n"
        "\n"
        "examples:\n"
        f"  {name} migrate            # once per release, before serve\n"
        f"  {name} serve --port 8080\n"
        f"  {name} COMMAND --help     # the options of one command\n"
        "\n" + cli_errors.EXIT_STATUS + "\n"
        "  (serve also ends with 3 when it cannot listen on its port; uvicorn's log says why)"
    )


def build_parser(
    name: str, prefix: str, commands: Sequence[Command] = ()
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=name,
        description=f"Kinerja {name} service: its HTTP API and Kafka consumers, its schema "
        "migrations" + (", and operator commands." if commands else "."),
        epilog=_epilog(name, prefix),
        formatter_class=cli_errors.HelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser(
        "serve",
        help="run the HTTP API, the Kafka consumers and the outbox relay",
        description="Check that the database answers, then serve until SIGTERM (in-flight "
        "messages finish and are committed first). Kafka need not be up: the API serves "
        "without it and the consumers start once it answers (see /healthz/broker).",
        epilog=_epilog(name, prefix),
        formatter_class=cli_errors.HelpFormatter,
    )
    serve.add_argument(
        "--port", type=int, help=f"HTTP port to listen on, instead of {prefix}HTTP_PORT"
    )
    sub.add_parser(
        "migrate",
        help="apply pending database migrations and exit",
        description=f"Apply the schema migrations not yet applied to {prefix}DATABASE_URL, in "
        "order, each once (replicas running it at once wait for each other); prints what it "
        "applied. Refuses a migration edited after it was applied.",
        epilog=_epilog(name, prefix),
        formatter_class=cli_errors.HelpFormatter,
    )
    for command in commands:
        extra = sub.add_parser(
            command.name,
            help=command.help,
            description=command.description or command.help,
            epilog=command.epilog,
            formatter_class=cli_errors.HelpFormatter,
        )
        command.add_arguments(extra)
    return parser


def service_main(
    name: str,
    load_settings: type[ServiceSettings],
    create_app: str,
    migrations: Path,
    argv: Sequence[str] | None = None,
    *,
    commands: Sequence[Command] = (),
) -> int:
    """Parse ``argv`` and run the command; returns its exit status (see `cli_errors`).
    ``create_app`` names the app factory as ``module:function``; it is imported on ``serve``
    only, as FastAPI and FastStream take a second to load and nothing else needs them."""
    prefix = load_settings.model_config.get("env_prefix") or ""
    args = build_parser(name, prefix, commands).parse_args(argv)
    own = {command.name: command for command in commands}
    if args.command in own:
        return own[args.command].run(args)

    def body() -> int:
        try:
            settings = load_settings()
        except ValidationError as exc:
            raise cli_errors.settings_error(exc, load_settings) from exc
        # Imported here, not at the top: `--help` and the operator commands need none of them.
        import uvicorn

        from . import db
        from .logging import setup_logging

        if args.command == "migrate":
            setup_logging()
            with cli_errors.database(settings.database_url, f"{prefix}DATABASE_URL"):
                applied = asyncio.run(
                    db.migrate(settings.database_url, settings.db_schema, migrations)
                )
            print(f"{name}: {len(applied)} migration(s) applied", *applied, sep="\n  ")
            return 0
        # Probed here so that a database down at start is one line naming its variable, not a
        # traceback from inside the app's lifespan. Kafka is not probed: the service starts
        # without it and keeps trying (kinerja_shared.health).
        asyncio.run(cli_errors.probe_database(settings.database_url, f"{prefix}DATABASE_URL"))
        setup_logging()
        module, _, factory = create_app.partition(":")
        make_app: Callable[[ServiceSettings], FastAPI] = getattr(
            importlib.import_module(module), factory
        )
        uvicorn.run(
            make_app(settings),
            host=settings.http_host,
            port=args.port or settings.http_port,
            log_config=None,
            timeout_graceful_shutdown=int(settings.graceful_shutdown_seconds),
            # libuv's event loop: the same asyncio code at less CPU for each record, query and
            # PUT (bench/README.md, bkn-sync's deliveries).
            loop="uvloop",
        )
        return 0

    return cli_errors.run(name, body)
