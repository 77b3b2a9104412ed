from pathlib import Path

from kinerja_shared.cli import service_main

from .app import create_app
from .config import Settings


def main(argv: list[str] | None = None) -> None:
    service_main(
        "predikat",
        Settings,
        create_app,  # type: ignore[arg-type]
        Path(__file__).parent / "migrations",
        argv,
    )
