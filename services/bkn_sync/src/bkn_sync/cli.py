from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kinerja_shared.cli import service_main

from . import ops
from .config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI


def _create_app(settings: Settings) -> FastAPI:
    # Imported on `serve` only: FastAPI and FastStream take a second to load, and `--help`,
    # `migrate` and the operator commands need neither.
    from .app import create_app

    return create_app(settings)


def main(argv: list[str] | None = None) -> int:
    # The operator commands talk to a running instance over HTTP; serve and migrate are the
    # shared ones. One parser for all, so `bkn_sync --help` lists every command.
    return service_main(
        "bkn_sync",
        Settings,
        _create_app,  # type: ignore[arg-type]
        Path(__file__).parent / "migrations",
        argv,
        commands=ops.commands(Settings.model_fields["http_port"].default),
    )
