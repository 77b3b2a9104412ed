from __future__ import annotations

from pathlib import Path

from kinerja_shared.cli import service_main

from .config import Settings


def main(argv: list[str] | None = None) -> int:
    return service_main(
        "observation",
        Settings,
        "observation.app:create_app",
        Path(__file__).parent / "migrations",
        argv,
    )
