"""The operator's commands: ``bkn_sync redrive`` and ``bkn_sync deliveries``.

They call this service's own HTTP API (``POST /redrive``, ``GET /deliveries``) rather than the
database, so an operator needs no database credentials, every change goes through the same
authorisation and the same redrive transaction as the API, and the CLI works against any
running instance. Environment: ``BKN_SYNC_API_URL`` (default ``http://127.0.0.1:<http_port>``)
and ``BKN_SYNC_OPERATOR_TOKEN`` (a bearer token of role operator).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from kinerja_shared import cli_errors
from kinerja_shared.cli import Command
from kinerja_shared.cli_errors import CliError

if TYPE_CHECKING:
    import httpx

PROG = "bkn_sync"
COLUMNS = ("delivery_id", "state", "reason_code", "attempts", "version", "updated_at")
API_URL_ENV = "BKN_SYNC_API_URL"
TOKEN_ENV = "BKN_SYNC_OPERATOR_TOKEN"
PORT_ENV = "BKN_SYNC_HTTP_PORT"

ENVIRONMENT = (
    "environment:\n"
    f"  {API_URL_ENV}         the running bkn-sync, e.g. http://bkn-sync:8000\n"
    f"                           (default http://127.0.0.1:${PORT_ENV}, else port 58005)\n"
    f"  {TOKEN_ENV}  bearer token of role operator (required); locally:\n"
    f"                           export {TOKEN_ENV}=$(kinerja-dev-token --role operator)"
)
EXIT_STATUS = cli_errors.exit_status(**{"1": "the API failed (HTTP 500)"}) + (
    "\n  (a request the API refuses, HTTP 4xx, is status 2, with the API's code and message;"
    "\n  HTTP 502/503/504 is status 3)"
)
REDRIVE_EPILOG = f"""examples:
  {PROG} redrive --reason BKN-E03 --npsn 20100001            # what would be replayed
  {PROG} redrive --reason BKN-E03 --npsn 20100001 --apply --why "User PMM ditambahkan"
  {PROG} redrive --state DEAD --kind PREDIKAT --period 2025 --json

{ENVIRONMENT}

{EXIT_STATUS}"""
DELIVERIES_EPILOG = f"""examples:
  {PROG} deliveries --nip 198609262015051001
  {PROG} deliveries --nip 198609262015051001 --json | jq '.[].state'

{ENVIRONMENT}

{EXIT_STATUS}"""


def _redrive_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--state",
        action="append",
        choices=["PARKED", "DEAD"],
        help="only deliveries in this state; repeatable (default: both)",
    )
    p.add_argument(
        "--reason",
        action="append",
        metavar="CODE",
        help="only deliveries refused with this reason code, e.g. BKN-E03; repeatable "
        "(Kemenag drops, BKN-E07, are replayed only when named here)",
    )
    p.add_argument("--nip", help="only this teacher's deliveries (18-digit NIP)")
    p.add_argument("--npsn", help="only the deliveries of this school's teachers (8-char NPSN)")
    p.add_argument(
        "--period", dest="period_id", metavar="PERIOD", help="only this period, e.g. 2025"
    )
    p.add_argument("--kind", choices=["SKP", "PREDIKAT"], help="only plans (SKP) or only predikat")
    p.add_argument(
        "--apply",
        action="store_true",
        help="replay them; without it nothing changes and the list is what would be replayed",
    )
    p.add_argument(
        "--why",
        metavar="TEXT",
        help="why you redrive (logged by bkn-sync with who you are, and returned)",
    )
    p.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")


def _deliveries_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nip", required=True, help="the teacher's 18-digit NIP")
    p.add_argument(
        "--json", action="store_true", help="print the API's JSON instead of a table and remedies"
    )


def commands(default_port: int) -> list[Command]:
    """The operator commands as subcommands of ``bkn_sync`` (beside serve and migrate)."""

    def execute(args: argparse.Namespace) -> int:
        return cli_errors.run(PROG, lambda: _execute(args, default_port))

    return [
        Command(
            name="redrive",
            help="replay PARKED/DEAD deliveries (a dry run unless --apply)",
            description="Replay deliveries that were parked (refused by e-Kinerja for a reason "
            "a person fixes) or dead (retries exhausted), selected by the filters below; "
            "filters combine with AND. Lists the deliveries; changes them only with --apply.",
            epilog=REDRIVE_EPILOG,
            add_arguments=_redrive_arguments,
            run=execute,
        ),
        Command(
            name="deliveries",
            help="show every delivery of one teacher, with state and remedy",
            description="Every delivery (SKP and predikat, each period) of one teacher: its "
            "state, reason code, attempts, and for a refusal what to do about it.",
            epilog=DELIVERIES_EPILOG,
            add_arguments=_deliveries_arguments,
            run=execute,
        ),
    ]


def parser() -> argparse.ArgumentParser:
    """The operator commands alone (what ``bkn_sync`` parses for them), for embedding."""
    p = argparse.ArgumentParser(prog=PROG, description="bkn-sync operator commands")
    sub = p.add_subparsers(dest="command", required=True)
    for command in commands(0):
        command.add_arguments(
            sub.add_parser(
                command.name, help=command.help, formatter_class=cli_errors.HelpFormatter
            )
        )
    return p


def table(rows: Sequence[dict[str, Any]], out: TextIO) -> None:
    cells = [[str(r.get(c) if r.get(c) is not None else "-") for c in COLUMNS] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(COLUMNS)]
    for row in [list(COLUMNS), *cells]:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")


def _refused(response: httpx.Response) -> CliError:
    """One line for an HTTP error of the API: its code, message and correlation id."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "message" in body:
        detail = f"{body.get('code', '')} {body['message']}".strip()
        problems = body.get("errors")
        if isinstance(problems, list) and problems:
            detail += ": " + "; ".join(
                f"{'.'.join(str(part) for part in e.get('loc', []))}: {e.get('msg', '')}"
                for e in problems
                if isinstance(e, dict)
            )
        if body.get("correlation_id"):
            detail += f" (correlation id {body['correlation_id']})"
    else:
        detail = response.text[:200] or response.reason_phrase
    if status == 401:
        detail += f"; check {TOKEN_ENV}"
    elif status == 403:
        detail += f"; {TOKEN_ENV} must be a token of role operator"
    if 400 <= status < 500:
        code = cli_errors.EXIT_USAGE
    elif status in (502, 503, 504):
        code = cli_errors.EXIT_UNREACHABLE
    else:
        code = cli_errors.EXIT_FAILED
    return CliError(f"the bkn-sync API answered HTTP {status}: {detail}", code)


async def run(args: argparse.Namespace, client: httpx.AsyncClient, out: TextIO) -> int:
    """Run one operator command against ``client``; an HTTP error raises `CliError`."""
    if args.command == "deliveries":
        response = await client.get("/deliveries", params={"nip": args.nip, "limit": 500})
        if response.status_code != 200:
            raise _refused(response)
        rows: list[dict[str, Any]] = response.json()
        if args.json:
            out.write(json.dumps(rows, indent=2) + "\n")
        else:
            table(rows, out)
            for r in rows:
                if r["reason"]:
                    out.write(f"\n{r['delivery_id']}: {r['reason']}\n  → {r['remedy']}\n")
        return 0
    filters = {
        k: v
        for k, v in {
            "nip": args.nip,
            "npsn": args.npsn,
            "period_id": args.period_id,
            "kind": args.kind,
            "states": args.state,
            "reason_codes": args.reason,
        }.items()
        if v is not None
    }
    body = {"filters": filters, "dry_run": not args.apply, "reason": args.why}
    response = await client.post("/redrive", json=body)
    if response.status_code != 200:
        raise _refused(response)
    result = response.json()
    if args.json:
        out.write(json.dumps(result, indent=2) + "\n")
        return 0
    table(result["deliveries"], out)
    verb = "redriven" if args.apply else "would be redriven (dry run; add --apply)"
    out.write(f"\n{result['count']} deliveries {verb}\n")
    return 0


def api_url(default_port: int) -> str:
    """``BKN_SYNC_API_URL``, else this host at ``BKN_SYNC_HTTP_PORT`` (else ``default_port``)."""
    url = os.environ.get(API_URL_ENV)
    if url:
        return url.rstrip("/")
    port = os.environ.get(PORT_ENV) or str(default_port)
    if not port.isdigit():
        raise CliError(f"{PORT_ENV} must be a port number, not {port!r} (or set {API_URL_ENV})")
    return f"http://127.0.0.1:{port}"


def _execute(args: argparse.Namespace, default_port: int) -> int:
    token = os.environ.get(TOKEN_ENV)
    if not token:
        raise CliError(
            f"{TOKEN_ENV} is not set: export a bearer token of role operator, "
            f"e.g. {TOKEN_ENV}=$(kinerja-dev-token --role operator)"
        )
    url = api_url(default_port)
    import httpx  # here, not at the top: `bkn_sync --help` need not load it

    async def go() -> int:
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client:
            return await run(args, client, sys.stdout)

    with cli_errors.http_api(url, API_URL_ENV, what="the bkn-sync API"):
        return asyncio.run(go())
