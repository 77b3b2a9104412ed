"""``ekinerja-sim serve``: run the simulator as its own process.

The simulator stands in for a system outside Kinerja, so it depends on no Kinerja package (its
image installs only itself); its command line follows the same conventions on its own: one
line on stderr and exit status 2 for bad usage or input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import ValidationError

from ekinerja_sim.app import create_app
from ekinerja_sim.seed import load_seed
from ekinerja_sim.settings import DEFAULT_HTTP_PORT, SimSettings

PROG = "ekinerja-sim"
EXIT_USAGE = 2

EPILOG = f"""The simulator stands in for BKN's e-Kinerja: idempotent SKP and predikat records, a
ledger at /ledger, refusals and faults scriptable at /admin/*. Its state lives in the process's
memory: one process, one worker, and a restart starts empty (plus the seed file).

environment:
  EKINERJA_SIM_HOST        address to listen on (default 127.0.0.1)
  EKINERJA_SIM_HTTP_PORT   port to listen on (default {DEFAULT_HTTP_PORT})
  EKINERJA_SIM_SEED_FILE   the seed file, as --seed-file
  EKINERJA_SIM_MAX_CONCURRENT_REQUESTS, EKINERJA_SIM_MAX_CONNECTIONS
                           the gateway's limits, as the options
  EKINERJA_SIM_GATEWAY_RETRY_AFTER_SECONDS
                           Retry-After of a GATEWAY_LIMIT answer (default 1)

examples:
  {PROG} serve
  {PROG} serve --host 0.0.0.0 --port 8000 --seed-file refusals.json

exit status:
  0  stopped by SIGTERM or Ctrl-C
  2  bad usage or input (unknown option, unreadable or invalid seed file, bad variable)
  3  cannot listen on the address (e.g. the port is taken; uvicorn's log says which)"""


class _Invalid(Exception):
    """Bad usage or input: printed as one line on stderr, exit status 2."""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "%(default)" in text:
            return text
        return f"{text} (default: %(default)s)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="The e-Kinerja simulator: BKN's API as Kinerja's bkn-sync sees it.",
        epilog=EPILOG,
        formatter_class=_HelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve the e-Kinerja simulator over HTTP",
        description="Serve the simulator until SIGTERM or Ctrl-C.",
        epilog=EPILOG,
        formatter_class=_HelpFormatter,
    )
    serve.add_argument(
        "--host", help="address to listen on (default: EKINERJA_SIM_HOST, else 127.0.0.1)"
    )
    serve.add_argument(
        "--port",
        type=int,
        help=f"port to listen on (default: EKINERJA_SIM_HTTP_PORT, else {DEFAULT_HTTP_PORT})",
    )
    serve.add_argument(
        "--seed-file",
        type=Path,
        metavar="FILE",
        help="JSON with the refusals and faults to start with (and return to on reset): "
        '{"refusals": {"<nip>": ["BKN-E03", ...]}, "faults": {...}}',
    )
    serve.add_argument(
        "--max-concurrent-requests",
        type=int,
        metavar="N",
        help="the gateway's limit on record requests in progress; more are answered 429 "
        "GATEWAY_LIMIT with Retry-After (default: EKINERJA_SIM_MAX_CONCURRENT_REQUESTS, "
        "else no limit)",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        metavar="N",
        help="the gateway's limit on open connections; requests on more are answered 503 "
        "(default: EKINERJA_SIM_MAX_CONNECTIONS, else no limit)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        help="uvicorn's log level",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides: dict[str, Any] = {
        name: value
        for name, value in (
            ("host", args.host),
            ("http_port", args.port),
            ("seed_file", args.seed_file),
            ("max_concurrent_requests", args.max_concurrent_requests),
            ("max_connections", args.max_connections),
        )
        if value is not None
    }

    try:
        settings = _settings(overrides)
        _check_seed(settings.seed_file)
    except _Invalid as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
        return EXIT_USAGE
    # One process, one worker: the ledger and idempotency store live in this process's memory.
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.http_port,
        log_level=args.log_level,
        timeout_graceful_shutdown=2,
        limit_concurrency=settings.uvicorn_limit_concurrency,
    )
    return 0


def _settings(overrides: dict[str, Any]) -> SimSettings:
    try:
        return SimSettings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"EKINERJA_SIM_{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        raise _Invalid(problems) from exc


def _check_seed(path: Path | None) -> None:
    """A seed file that cannot be read is one line now, not a traceback from inside the app."""
    try:
        load_seed(path)
    except OSError as exc:
        raise _Invalid(f"cannot read the seed file {path}: {exc.strerror or exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise _Invalid(
            f"the seed file {path} is not a valid seed: {where + ': ' if where else ''}"
            f"{first['msg']} ({exc.error_count()} problem(s))"
        ) from exc
