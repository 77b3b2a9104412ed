from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kinerja_shared.cli import service_main

from .config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI


def _create_app(settings: Settings) -> FastAPI:
    # Imported on `serve` only: `--help` and `migrate` need none of the web stack.
    from .app import create_app

    return create_app(settings)


def main(argv: list[str] | None = None) -> int:
    return service_main(
        "console",
        Settings,
        _create_app,  # type: ignore[arg-type]
        Path(__file__).parent / "migrations",
        argv,
    )
