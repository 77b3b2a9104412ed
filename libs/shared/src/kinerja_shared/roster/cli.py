"""``kinerja-roster generate|import``: make a sample district, or import a Dapodik-style file."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import date
from pathlib import Path

from . import dapodik
from .generator import DistrictShape, generate
from .publish import publish_roster


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="kinerja-roster", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="write a realistic sample district as CSV")
    gen.add_argument("--schools", type=int, default=20)
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--kode-wilayah", default="3171")
    gen.add_argument("--out", type=Path, required=True)
    imp = commands.add_parser("import", help="validate a Dapodik-style CSV and publish it")
    imp.add_argument("file", type=Path)
    imp.add_argument(
        "--bootstrap", default=os.environ.get("KINERJA_KAFKA_BOOTSTRAP", "127.0.0.1:59092")
    )
    imp.add_argument("--dry-run", action="store_true", help="validate only")
    args = parser.parse_args(argv)

    if args.command == "generate":
        shape = DistrictShape(schools=args.schools, kode_wilayah=args.kode_wilayah)
        rows = dapodik.write(args.out, generate(shape, seed=args.seed))
        print(f"{rows} PTK in {args.schools} schools written to {args.out}")
        return

    roster = dapodik.read(args.file, today=date.today())  # noqa: DTZ011  (a calendar date)
    for err in roster.errors:
        print(f"{args.file}:{err.line}: {err.nip or '-'}: {err.reason}", file=sys.stderr)
    if args.dry_run:
        print(
            f"valid: {len(roster.pegawai)} PTK, {len(roster.sekolah)} schools; "
            f"refused: {len(roster.errors)}"
        )
    else:
        schools, people = asyncio.run(
            publish_roster(args.bootstrap, roster.sekolah.values(), roster.pegawai)
        )
        print(f"published {people} PTK and {schools} schools; refused {len(roster.errors)} rows")
    if roster.errors:
        sys.exit(1 if not roster.pegawai else 0)
