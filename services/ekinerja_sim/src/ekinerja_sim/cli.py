"""``ekinerja-sim serve``: run the simulator as its own process."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn

from ekinerja_sim.app import create_app
from ekinerja_sim.settings import SimSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ekinerja-sim", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the e-Kinerja simulator over HTTP")
    serve.add_argument("--host", help="default: EKINERJA_SIM_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, help="default: EKINERJA_SIM_HTTP_PORT or 58010")
    serve.add_argument("--seed-file", type=Path, help="JSON with initial refusals and faults")
    serve.add_argument("--log-level", default="info")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides: dict[str, Any] = {
        name: value
        for name, value in (
            ("host", args.host),
            ("http_port", args.port),
            ("seed_file", args.seed_file),
        )
        if value is not None
    }
    settings = SimSettings(**overrides)
    # One process, one worker: the ledger and idempotency store live in this process's memory.
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.http_port,
        log_level=args.log_level,
        timeout_graceful_shutdown=2,
    )
    return 0
