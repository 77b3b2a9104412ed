"""``kinerja-outbox``: the outbox rows a service's relay set aside, and what an operator does
about them (docs/adr/0003-set-aside-outbox-rows.md, docs/runbooks/KinerjaOutboxRowsSetAside.md).

The relay sets a row aside when Kafka refuses it for good (too large, invalid or long-unknown
topic, headers that are not text); the later rows of its topic and key wait behind it. ``list``
shows them, ``retry`` gives them back to the relay (refused again, they are set aside again),
``discard`` removes them for good so that the rows held behind them are published. Every retry
and discard is logged in the service's ``outbox_set_aside_log`` with the ``--actor``, the
``--reason`` and the database role; ``history`` shows it.

It talks to the service's database directly (the service's own ``<PREFIX>_DATABASE_URL``), so it
works when the service's API does not, e.g. from a shell in the service's pod.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import time
from collections.abc import Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any

from . import cli_errors

if TYPE_CHECKING:
    import asyncpg

    from .outbox import SetAsideRow

PROG = "kinerja-outbox"
_SERVICE = re.compile(r"[a-z][a-z0-9-]*")

EXIT_STATUS = cli_errors.exit_status(
    **{
        "1": "retry: a row Kafka refused again, or one the relay did not try within --wait",
        "2": "bad usage or input: an unknown option, a row that is not set aside, a schema\n"
        "     without an outbox, an unset <PREFIX>_DATABASE_URL",
    }
)

EPILOG = f"""SERVICE is planning, observation, assessment, predikat or bkn-sync: the database URL is
read from <PREFIX>_DATABASE_URL (PLANNING_DATABASE_URL, BKN_SYNC_DATABASE_URL, ...) and the
schema from <PREFIX>_DB_SCHEMA, else the service's name (bkn-sync: bkn_sync), unless
--database-url and --schema say otherwise.

examples:
  {PROG} list planning
  {PROG} retry planning 1234 --actor "Rina (SRE)" --reason "topic limit raised to 2 MB"
  {PROG} retry predikat --all --actor rina --reason "topic kinerja.x.v1 created"
  {PROG} discard planning 1234 --actor rina --reason "test plan with a 1 MB reflection; \\
      the teacher re-entered it"
  {PROG} history planning 1234

{EXIT_STATUS}"""


def _prefix(service: str) -> str:
    return service.upper().replace("-", "_") + "_"


def _service(text: str) -> str:
    if not _SERVICE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"not a service name: {text!r}")
    return text


def _row_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a row id: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a row id: {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _who(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text.strip()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Show the outbox rows a service's relay set aside because Kafka refuses "
        "them for good, and retry or discard them (with who and why recorded).",
        epilog=EPILOG,
        formatter_class=cli_errors.HelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, description: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(
            name,
            help=help,
            description=description,
            epilog=EPILOG,
            formatter_class=cli_errors.HelpFormatter,
        )
        cmd.add_argument(
            "service",
            type=_service,
            metavar="SERVICE",
            help="planning, observation, assessment, predikat or bkn-sync",
        )
        cmd.add_argument(
            "--database-url",
            metavar="URL",
            help="the service's database (default: $<PREFIX>_DATABASE_URL)",
        )
        cmd.add_argument(
            "--schema",
            help="the service's schema (default: $<PREFIX>_DB_SCHEMA, else the service's name)",
        )
        return cmd

    listing = command(
        "list",
        "show the set-aside rows",
        "Show every set-aside row, oldest first: its id, when and why it was set aside (the "
        "refusal code and Kafka's error), how often, how many rows of its topic and key wait "
        "behind it, its size, topic and key.",
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per row")

    retry = command(
        "retry",
        "give set-aside rows back to the relay",
        "Give set-aside rows back to the relay, which tries each before the rows held behind "
        "it. One Kafka still refuses is set aside again. Waits for the outcome (--wait).",
    )
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "ids", nargs="*", type=_row_id, default=[], metavar="ID", help="a row id, as list shows"
    )
    which.add_argument("--all", action="store_true", help="every set-aside row of the service")
    discard = command(
        "discard",
        "remove set-aside rows for good",
        "Remove set-aside rows: they are never published (their record stays in the service's "
        "outbox_set_aside_log), and the rows held behind them are published next.",
    )
    discard.add_argument(
        "ids", nargs="+", type=_row_id, metavar="ID", help="a row id, as list shows"
    )
    for cmd in (retry, discard):
        cmd.add_argument(
            "--actor", required=True, type=_who, help="who does it (recorded with the action)"
        )
        cmd.add_argument(
            "--reason", required=True, type=_who, help="why (recorded with the action)"
        )
    retry.add_argument(
        "--wait",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for the relay's outcome; 0: do not wait",
    )
    history = command(
        "history",
        "show what happened to set-aside rows",
        "Every set-aside, retry and discard (of one row, given its id), oldest first: when, "
        "which action, who (the relay or the --actor, and the database role) and why.",
    )
    history.add_argument("id", nargs="?", type=_row_id, metavar="ID", help="one row's only")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cli_errors.quiet_library_logs()
    prefix = _prefix(args.service)
    variable = "--database-url" if args.database_url else f"{prefix}DATABASE_URL"
    dsn = args.database_url or os.environ.get(f"{prefix}DATABASE_URL")
    schema = args.schema or os.environ.get(f"{prefix}DB_SCHEMA") or args.service.replace("-", "_")

    def body() -> int:
        if not dsn:
            raise cli_errors.CliError(f"{variable} is not set (or pass --database-url)")
        with cli_errors.database(dsn, variable):
            return asyncio.run(_run(args, dsn, schema))

    return cli_errors.run(PROG, body)


async def _run(args: argparse.Namespace, dsn: str, schema: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(
        dsn, server_settings={"search_path": schema, "application_name": PROG}
    )
    try:
        if not await conn.fetchval("SELECT to_regclass('outbox_set_aside_log') IS NOT NULL"):
            raise cli_errors.CliError(
                f"schema {schema} has no set-aside outbox (a wrong --schema, or the service's "
                "migrations are not applied)"
            )
        handler = {"list": _list, "retry": _retry, "discard": _discard, "history": _history}
        return await handler[args.command](conn, args)
    finally:
        await conn.close()


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _size(n: int) -> str:
    for unit, scale in (("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _print_rows(rows: Sequence[SetAsideRow]) -> None:
    print(f"{'ID':>8}  {'SET ASIDE (UTC)':19}  {'CODE':17}  TIMES  HELD  {'SIZE':>8}  TOPIC / KEY")
    for r in rows:
        at = r.set_aside_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(
            f"{r.id:>8}  {at:19}  {r.code:17}  {r.times:>5}  {r.held:>4}  {_size(r.size):>8}  "
            f"{r.topic} / {r.key}"
        )
        print(f"{'':>10}{_short(r.error, 150)}")


async def _list(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    from .outbox import set_aside_rows

    rows = await set_aside_rows(conn)
    if args.json:
        for r in rows:
            print(json.dumps(_as_json(r), ensure_ascii=False))
        return 0
    if not rows:
        print(f"{args.service}: no set-aside outbox rows")
        return 0
    _print_rows(rows)
    print(f"{len(rows)} set aside; {sum(r.held for r in rows)} rows held behind them")
    return 0


def _as_json(r: SetAsideRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "event_id": str(r.event_id),
        "topic": r.topic,
        "key": r.key,
        "size": r.size,
        "created_at": r.created_at.isoformat(),
        "set_aside_at": r.set_aside_at.isoformat(),
        "code": r.code,
        "error": r.error,
        "times": r.times,
        "held": r.held,
    }


async def _chosen(conn: asyncpg.Connection, args: argparse.Namespace) -> list[SetAsideRow]:
    """The rows the command names, all set aside; anything else is refused before any change."""
    from .outbox import set_aside_rows

    if getattr(args, "all", False):
        rows = await set_aside_rows(conn)
        if not rows:
            raise cli_errors.CliError(f"{args.service} has no set-aside outbox rows")
        return rows
    wanted = list(dict.fromkeys(args.ids))
    rows = await set_aside_rows(conn, wanted)
    missing = sorted(set(wanted) - {r.id for r in rows})
    if missing:
        raise cli_errors.CliError(
            f"not set aside (published, waiting, discarded or unknown): "
            f"{', '.join(map(str, missing))}; nothing changed"
        )
    return rows


async def _retry(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    from .outbox import fates, retry_set_aside

    chosen = await _chosen(conn, args)
    before = {r.id: r.times for r in chosen}
    given = await retry_set_aside(conn, list(before), actor=args.actor, reason=args.reason)
    ids = [r.id for r in given]
    print(f"given back to the relay: {', '.join(map(str, ids)) or 'none'}")
    if not ids or args.wait == 0:
        return 0
    deadline = time.monotonic() + args.wait
    while True:
        found = await fates(conn, ids, before)
        if all(f.state != "pending" for f in found) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.25)
    failed = 0
    refused = {r.id: r for r in await _refused_again(conn, found)}
    for fate in found:
        if fate.state == "set aside":
            failed += 1
            again = refused[fate.outbox_id]
            print(f"{fate.outbox_id}: set aside again: {again.code}: {_short(again.error, 150)}")
        elif fate.state == "pending":
            failed += 1
            print(
                f"{fate.outbox_id}: not tried within {args.wait:g} s: is {args.service}'s relay "
                "running? (GET /healthz/relay)"
            )
        else:
            print(f"{fate.outbox_id}: {fate.state}")
    return cli_errors.EXIT_FAILED if failed else 0


async def _refused_again(conn: asyncpg.Connection, found: Sequence[Any]) -> list[SetAsideRow]:
    from .outbox import set_aside_rows

    again = [f.outbox_id for f in found if f.state == "set aside"]
    return await set_aside_rows(conn, again) if again else []


async def _discard(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    from .outbox import discard_set_aside

    chosen = await _chosen(conn, args)
    gone = await discard_set_aside(
        conn, [r.id for r in chosen], actor=args.actor, reason=args.reason
    )
    for r in gone:
        print(f"{r.id}: discarded ({r.code}, {r.topic} / {r.key}); {r.held} held rows released")
    missed = sorted({r.id for r in chosen} - {r.id for r in gone})
    if missed:
        # Retried or discarded by someone else between the check and the change.
        print(f"no longer set aside, left as they are: {', '.join(map(str, missed))}")
    return 0


async def _history(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    from .outbox import set_aside_log

    entries = await set_aside_log(conn, args.id)
    if not entries:
        print(
            "no set-aside, retry or discard recorded" + (f" for row {args.id}" if args.id else "")
        )
        return 0
    for e in entries:
        at = e.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        print(
            f"{at}  {e.outbox_id:>8}  {e.action:9}  {e.actor} ({e.db_user})  "
            f"{e.code or '-'}  {e.topic} / {e.key}"
        )
        print(f"{'':>21}{_short(e.reason, 150)}")
    return 0
