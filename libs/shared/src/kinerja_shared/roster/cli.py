"""``kinerja-roster generate|import``: make a sample district, or import a Dapodik-style file."""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any, TextIO, TypeVar

from opentelemetry.trace import SpanKind

from .. import cli_errors, telemetry
from ..cli_errors import CliError
from ..kafka_login import KafkaLogin
from . import dapodik
from .generator import DistrictShape, generate

PROG = "kinerja-roster"
BOOTSTRAP_ENV = "KINERJA_KAFKA_BOOTSTRAP"
# The importer's own login (kafka_login): only roster-importer may write the roster topics.
LOGIN_PREFIX = "KINERJA_ROSTER_KAFKA_"
DEFAULT_BOOTSTRAP = "127.0.0.1:59092"
# The header FastStream publishes and reads a record's correlation id under.
CORRELATION_HEADER = "correlation_id"
# Without a terminal, a line this often keeps a long import in a CI log visibly alive.
PLAIN_PROGRESS_EVERY_SECONDS = 10.0

T = TypeVar("T")

EPILOG = f"""examples:
  {PROG} generate --schools 20 --out district.csv
  {PROG} import district.csv --dry-run       # check the file, publish nothing
  {PROG} import district.csv                 # publish to ${BOOTSTRAP_ENV}
  {PROG} COMMAND --help                       # the options of one command

{cli_errors.EXIT_STATUS}"""

IMPORT_EPILOG = f"""The file is CSV, UTF-8, with a header line naming at least these columns
(any order, extra columns ignored):
  {",".join(dapodik.COLUMNS)}
Rows that break a rule are listed on stderr (file:line: nip: reason) and not published; the
others are. Progress goes to stderr: a bar with rate and ETA on a terminal, otherwise a line
every {PLAIN_PROGRESS_EVERY_SECONDS:.0f} s. The summary (count, elapsed, rate) goes to stdout.

examples:
  {PROG} import district.csv --dry-run
  {BOOTSTRAP_ENV}=kafka-0:9092,kafka-1:9092 {PROG} import district.csv

A broker that asks for SCRAM-SHA-512 over TLS: {LOGIN_PREFIX}SECURITY_PROTOCOL=SASL_SSL,
{LOGIN_PREFIX}SASL_USERNAME=roster-importer, {LOGIN_PREFIX}SASL_PASSWORD (or
..._PASSWORD_FILE), {LOGIN_PREFIX}CA_FILE; the local stacks set them.

{cli_errors.exit_status(**{"1": "no row of the file is valid: nothing was published"})}"""

GENERATE_EPILOG = f"""examples:
  {PROG} generate --out district.csv                      # 20 schools, ~300 PTK
  {PROG} generate --schools 2000 --seed 7 --out big.csv   # ~26,000 PTK

{cli_errors.EXIT_STATUS}"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _kode_wilayah(text: str) -> str:
    if not (text.isdigit() and len(text) == 4):
        raise argparse.ArgumentTypeError(f"a kabupaten/kota kode wilayah is 4 digits, not {text!r}")
    return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Write a sample district as a Dapodik-style roster file, or validate such "
        "a file and publish its schools and PTK to the compacted roster topics every service "
        "reads.",
        epilog=EPILOG,
        formatter_class=cli_errors.HelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    gen = commands.add_parser(
        "generate",
        help="write a realistic sample district as a roster CSV",
        description="Write a sample district: schools of 4 to 60 teachers (most small), a "
        "Kepala Sekolah each, some led by a Plt., a few with no head, some madrasah under "
        "Kemenag, PNS and PPPK. The same seed and options give the same file.",
        epilog=GENERATE_EPILOG,
        formatter_class=cli_errors.HelpFormatter,
    )
    gen.add_argument(
        "--schools", type=_positive_int, default=20, metavar="N", help="number of schools"
    )
    gen.add_argument(
        "--seed", type=int, default=1, help="random seed; the same seed gives the same people"
    )
    gen.add_argument(
        "--kode-wilayah",
        type=_kode_wilayah,
        default="3171",
        metavar="KODE",
        help="4-digit kode wilayah of the kabupaten/kota; the NPSNs start with it",
    )
    gen.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="FILE",
        help="the CSV file to write (replaced if it exists)",
    )
    imp = commands.add_parser(
        "import",
        help="validate a Dapodik-style roster CSV and publish it to Kafka",
        description="Validate every row of a roster file (NIP structure, status, school), "
        "then publish the schools and the valid PTK, schools first, with an idempotent "
        "producer. Publishing the same file again changes nothing for the services.",
        epilog=IMPORT_EPILOG,
        formatter_class=cli_errors.HelpFormatter,
    )
    imp.add_argument("file", type=Path, metavar="FILE", help="the roster CSV to import")
    imp.add_argument(
        "--bootstrap",
        metavar="HOST:PORT[,HOST:PORT]",
        help=f"Kafka bootstrap servers (default: ${BOOTSTRAP_ENV}, else {DEFAULT_BOOTSTRAP})",
    )
    imp.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and report only: publish nothing, connect to nothing",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cli_errors.quiet_library_logs()
    if args.command == "generate":
        return cli_errors.run(PROG, lambda: _generate(args))
    return cli_errors.run(PROG, lambda: _import(args))


def _generate(args: argparse.Namespace) -> int:
    shape = DistrictShape(schools=args.schools, kode_wilayah=args.kode_wilayah)
    try:
        rows = dapodik.write(args.out, generate(shape, seed=args.seed))
    except OSError as exc:
        raise CliError(f"cannot write {args.out}: {exc.strerror or exc}") from exc
    print(f"{rows} PTK in {args.schools} schools written to {args.out}")
    return 0


# --- import -------------------------------------------------------------------------------------


class Progress:
    """A tqdm bar (count, rate, ETA) on a terminal; elsewhere a plain line now and then, so a
    log file gets neither carriage returns nor thousands of lines."""

    def __init__(self, what: str, total: int, unit: str, stream: TextIO) -> None:
        self.what, self.total, self.unit, self.stream = what, total, unit, stream
        self.count = 0
        self.started = time.monotonic()
        self._next_line = self.started + PLAIN_PROGRESS_EVERY_SECONDS
        self._bar = None
        if stream.isatty():
            from tqdm import tqdm  # type: ignore[import-untyped]

            self._bar = tqdm(
                total=total, desc=what, unit=f" {unit}", file=stream, dynamic_ncols=True
            )

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed > 0 else 0.0

    def update(self, n: int = 1) -> None:
        self.count += n
        if self._bar is not None:
            self._bar.update(n)
        elif time.monotonic() >= self._next_line:
            self._next_line += PLAIN_PROGRESS_EVERY_SECONDS
            self.stream.write(
                f"{PROG}: {self.what}: {self.count}/{self.total} {self.unit}, "
                f"{self.rate():.0f} {self.unit}/s, {self.elapsed:.0f} s elapsed\n"
            )
            self.stream.flush()

    def counted(self, items: Iterable[T]) -> Iterator[T]:
        """``items``, counting each one once the consumer has taken it and asks for the next."""
        for item in items:
            yield item
            self.update()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


def _normalise(header: Sequence[str]) -> list[str]:
    # Spreadsheets re-save headers with stray spaces or capitals; the columns are still right.
    return [name.strip().lower() for name in header]


def _read(path: Path) -> dapodik.Roster:
    try:
        lines = _count_lines(path)
        f = path.open(newline="", encoding="utf-8-sig")  # -sig: a BOM from Excel is no column
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CliError(f"{path}: is a directory, not a roster CSV file") from None
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    expected = ",".join(dapodik.COLUMNS)
    with f:
        reader = csv.DictReader(f)
        try:
            header = reader.fieldnames
            if not header:
                raise CliError(
                    f"{path}: empty file: expected a header line with columns {expected}"
                )
            reader.fieldnames = found = _normalise(header)
            missing = [c for c in dapodik.COLUMNS if c not in found]
            if missing:
                gaps = (
                    f" (missing: {','.join(missing)})"
                    if len(missing) < len(dapodik.COLUMNS)
                    else ""
                )
                raise CliError(
                    f"{path}: wrong header: expected columns {expected}; "
                    f"found {','.join(header)}{gaps}"
                )
            progress = Progress("validating", max(lines - 1, 0), "rows", sys.stderr)
            try:
                return dapodik.parse(
                    progress.counted(reader),
                    today=date.today(),  # noqa: DTZ011  (a calendar date)
                )
            finally:
                progress.close()
        except UnicodeDecodeError as exc:
            raise CliError(
                f"{path}: not UTF-8 text near line {reader.line_num + 1}: save it as CSV UTF-8"
            ) from exc
        except csv.Error as exc:
            raise CliError(f"{path}:{reader.line_num}: not valid CSV: {exc}") from exc


async def _check_topics(bootstrap: str, variable: str, options: dict[str, Any]) -> None:
    """Fail before publishing, not after the producer's 40 s metadata wait, when the cluster
    is up but lacks the roster topics (a new cluster, or the wrong one)."""
    from aiokafka.admin import AIOKafkaAdminClient

    from ..topics import ROSTER_PEGAWAI, ROSTER_SEKOLAH

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="kinerja-roster", **options)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    missing = [t.name for t in (ROSTER_SEKOLAH, ROSTER_PEGAWAI) if t.name not in existing]
    if missing:
        raise CliError(
            f"the Kafka cluster at {bootstrap} ({variable}) has no topic "
            f"{', '.join(missing)}: point {BOOTSTRAP_ENV} at Kinerja's cluster, or run "
            "kinerja-topics create"
        )


def _import(args: argparse.Namespace) -> int:
    from .publish import publish_roster

    started = time.monotonic()
    roster = _read(args.file)
    for err in roster.errors:
        print(f"{args.file}:{err.line}: {err.nip or '-'}: {err.reason}", file=sys.stderr)
    refused = len(roster.errors)
    if args.dry_run:
        print(
            f"valid: {len(roster.pegawai)} PTK, {len(roster.sekolah)} schools; "
            f"refused: {refused} rows; checked in {time.monotonic() - started:.1f} s"
        )
        return cli_errors.EXIT_FAILED if refused and not roster.pegawai else 0
    if not roster.pegawai:
        print(f"nothing published: no valid row; refused {refused} rows")
        return cli_errors.EXIT_FAILED if refused else 0

    from_env = os.environ.get(BOOTSTRAP_ENV)
    bootstrap = args.bootstrap or from_env or DEFAULT_BOOTSTRAP
    variable = "--bootstrap" if args.bootstrap else BOOTSTRAP_ENV
    total = len(roster.sekolah) + len(roster.pegawai)
    tracer = telemetry.setup_tracing("kinerja-roster").get_tracer(__name__)
    with (
        cli_errors.kafka(bootstrap, variable, login=LOGIN_PREFIX),
        tracer.start_as_current_span("kinerja-roster import", kind=SpanKind.PRODUCER) as span,
    ):
        span.set_attribute("kinerja.roster.records", total)
        options = KafkaLogin.from_env(LOGIN_PREFIX).client_options()
        asyncio.run(_check_topics(bootstrap, variable, options))
        headers = _trace_headers()
        progress = Progress("publishing", total, "records", sys.stderr)
        try:
            schools, people = asyncio.run(
                publish_roster(
                    bootstrap,
                    progress.counted(roster.sekolah.values()),
                    progress.counted(roster.pegawai),
                    headers,
                    options,
                )
            )
        finally:
            progress.close()
    telemetry.shutdown_tracing()
    print(
        f"published {people} PTK and {schools} schools ({schools + people} records) "
        f"in {progress.elapsed:.1f} s, {progress.rate():.0f} records/s; refused {refused} rows; "
        f"correlation_id {headers[CORRELATION_HEADER]}"
    )
    return 0


def _trace_headers() -> dict[str, str]:
    """The import's W3C context and its correlation id (the trace id, as in every error answer
    of the services), the same on every record it publishes."""
    headers = telemetry.current_trace_headers()
    headers[CORRELATION_HEADER] = telemetry.trace_id_hex() or uuid.uuid4().hex
    return headers
