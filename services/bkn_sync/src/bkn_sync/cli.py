from __future__ import annotations

from pathlib import Path

from kinerja_shared.cli import service_main

from . import ops
from .config import Settings


def main(argv: list[str] | None = None) -> int:
    # The operator commands talk to a running instance over HTTP; serve and migrate are the
    # shared ones. One parser for all, so `bkn_sync --help` lists every command.
    return service_main(
        "bkn_sync",
        Settings,
        "bkn_sync.app:create_app",
        Path(__file__).parent / "migrations",
        argv,
        commands=ops.commands(Settings.model_fields["http_port"].default),
    )
