"""The command line every service shares: ``<service> serve`` and ``<service> migrate``."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from . import db
from .logging import setup_logging
from .settings import ServiceSettings


def service_main(
    name: str,
    load_settings: Callable[[], ServiceSettings],
    create_app: Callable[[ServiceSettings], FastAPI],
    migrations: Path,
    argv: list[str] | None = None,
) -> None:
    parser = argparse.ArgumentParser(prog=name, description=f"Kinerja {name} service")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API and the Kafka consumers")
    serve.add_argument("--port", type=int, help="override the configured HTTP port")
    commands.add_parser("migrate", help="apply pending database migrations and exit")
    args = parser.parse_args(argv)

    settings = load_settings()
    setup_logging()
    if args.command == "migrate":
        applied = asyncio.run(db.migrate(settings.database_url, settings.db_schema, migrations))
        print(f"{name}: {len(applied)} migration(s) applied", *applied, sep="\n  ")
        return
    port = args.port or settings.http_port
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=port,
        log_config=None,
        timeout_graceful_shutdown=int(settings.graceful_shutdown_seconds),
    )
