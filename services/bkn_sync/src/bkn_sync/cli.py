import asyncio
import os
import sys
from pathlib import Path

from kinerja_shared.cli import service_main

from . import ops
from .app import create_app
from .config import Settings


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ops.COMMANDS:
        # Operator commands talk to a running instance; serve/migrate stay the shared ones.
        parsed = ops.parser().parse_args(args)
        port = int(os.environ.get("BKN_SYNC_HTTP_PORT", Settings.model_fields["http_port"].default))

        async def go() -> int:
            async with ops.client_from_env(port) as client:
                return await ops.run(parsed, client, sys.stdout)

        raise SystemExit(asyncio.run(go()))
    service_main(
        "bkn_sync",
        Settings,
        create_app,  # type: ignore[arg-type]
        Path(__file__).parent / "migrations",
        argv,
    )
