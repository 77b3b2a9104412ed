"""The operator's commands: ``bkn_sync redrive`` and ``bkn_sync deliveries``.

They call this service's own HTTP API (``POST /redrive``, ``GET /deliveries``) rather than the
database, so an operator needs no database credentials, every change goes through the same
authorisation and the same redrive transaction as the API, and the CLI works against any
running instance. Environment: ``BKN_SYNC_API_URL`` (default ``http://127.0.0.1:<http_port>``)
and ``BKN_SYNC_OPERATOR_TOKEN`` (a bearer token of role operator).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import httpx

COMMANDS = ("redrive", "deliveries")
COLUMNS = ("delivery_id", "state", "reason_code", "attempts", "version", "updated_at")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bkn_sync", description="bkn-sync operator commands")
    sub = p.add_subparsers(dest="command", required=True)
    redrive = sub.add_parser(
        "redrive", help="replay PARKED/DEAD deliveries (dry run unless --apply)"
    )
    redrive.add_argument(
        "--state", action="append", choices=["PARKED", "DEAD"], help="repeatable; both if unset"
    )
    redrive.add_argument("--reason", action="append", help="reason code, e.g. BKN-E03; repeatable")
    redrive.add_argument("--nip")
    redrive.add_argument("--npsn")
    redrive.add_argument("--period", dest="period_id")
    redrive.add_argument("--kind", choices=["SKP", "PREDIKAT"])
    redrive.add_argument("--apply", action="store_true", help="change them (default: dry run)")
    redrive.add_argument("--json", action="store_true", help="print JSON instead of a table")
    show = sub.add_parser("deliveries", help="every delivery of one teacher")
    show.add_argument("--nip", required=True)
    show.add_argument("--json", action="store_true")
    return p


def table(rows: Sequence[dict[str, Any]], out: TextIO) -> None:
    cells = [[str(r.get(c) if r.get(c) is not None else "-") for c in COLUMNS] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(COLUMNS)]
    for row in [list(COLUMNS), *cells]:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")


def _fail(response: httpx.Response) -> int:
    sys.stderr.write(f"bkn_sync: HTTP {response.status_code}: {response.text}\n")
    return 2


async def run(args: argparse.Namespace, client: httpx.AsyncClient, out: TextIO) -> int:
    if args.command == "deliveries":
        response = await client.get("/deliveries", params={"nip": args.nip, "limit": 500})
        if response.status_code != 200:
            return _fail(response)
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
    response = await client.post("/redrive", json={"filters": filters, "dry_run": not args.apply})
    if response.status_code != 200:
        return _fail(response)
    result = response.json()
    if args.json:
        out.write(json.dumps(result, indent=2) + "\n")
        return 0
    table(result["deliveries"], out)
    verb = "redriven" if args.apply else "would be redriven (dry run; add --apply)"
    out.write(f"\n{result['count']} deliveries {verb}\n")
    return 0


def client_from_env(default_port: int) -> httpx.AsyncClient:
    token = os.environ.get("BKN_SYNC_OPERATOR_TOKEN")
    if not token:
        raise SystemExit("bkn_sync: set BKN_SYNC_OPERATOR_TOKEN to an operator's bearer token")
    url = os.environ.get("BKN_SYNC_API_URL", f"http://127.0.0.1:{default_port}")
    return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
