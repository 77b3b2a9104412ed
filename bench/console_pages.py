"""The delivery console's pages with many deliveries: p50/p99 render time of each page beside a
bare query of the same rows (issue 19: 1,000,000 deliveries, 10,000 parked, p99 under 300 ms).

bkn-sync and the console run as their own processes on the test stack (schemas of their own);
bkn-sync's table is filled straight in the database (``generate_series``; the parked ones spread
over every school, so Tertahan has a group per school), so the figures are
the pages' cost, not the pipeline's (the fill goes through the kept-count triggers of migration
0006 like any write, and bkn-sync's fold loop folds it; every seeded delivery "entered" its state
at the fill, so the overview's hour and day columns show them all). Each page is fetched
sequentially as a signed-in operator (the session cookie sealed with the console's key, the token
from the stack's dev issuer); each bare query is the SQL bkn-sync runs for that page (all of its
statements, in a row), on a connection of its own; ``--plans`` adds their EXPLAIN ANALYZE.

    .venv/bin/python bench/console_pages.py                       # 1,000,000 / 10,000, 50 each
    .venv/bin/python bench/console_pages.py --deliveries 20000 --parked 500 --requests 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from common import (
    BIN,
    REPO,
    Processes,
    admin_conn,
    create_schema,
    free_port,
    fresh_groups,
    log,
    machine,
    new_run_id,
    pct,
    revision,
    stack,
    wait_ready,
)

TARGET_P99_MS = 300.0
SCHOOLS = 2_000
AREA = "3171"
PARKED_REASON = "BKN-E01"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--deliveries", type=int, default=1_000_000, help="rows in bkn-sync's table")
    p.add_argument("--parked", type=int, default=10_000, help="of which PARKED (BKN-E01)")
    p.add_argument("--requests", type=int, default=50, help="fetches of each page (sequential)")
    p.add_argument("--json", type=Path, help="also write the report here")
    p.add_argument(
        "--plans", action="store_true", help="add each bare query's EXPLAIN ANALYZE to the report"
    )
    return p.parse_args(argv)


SEED = """
INSERT INTO roster_sekolah (npsn, nama, kode_wilayah, naungan, updated_at)
SELECT (10000000 + s)::text, 'SD Bench ' || s, $2, 'KEMDIKBUD', now()
  FROM generate_series(1, $1::int) s;

INSERT INTO deliveries (delivery_id, kind, nip, npsn, period_id, version, idempotency_key, state,
                        attempts, reason_code, reason, remedy, actor, delivered_at, body,
                        source_record, source_topic, source_partition, source_offset,
                        created_at, updated_at)
SELECT 'SKP:' || nip || ':2025', 'SKP', nip,
       (10000000 + CASE WHEN parked THEN i / $2::int ELSE i END % $1::int + 1)::text, '2025', 1,
       gen_random_uuid(),
       CASE WHEN parked THEN 'PARKED' ELSE 'DELIVERED' END, 1,
       CASE WHEN parked THEN $3 END,
       CASE WHEN parked THEN 'NIP tidak ditemukan di SIASN/BKN.' END,
       CASE WHEN parked THEN 'Operator Sekolah memperbarui NIP di Verval PTK.' END,
       CASE WHEN parked THEN 'Operator Sekolah' END,
       CASE WHEN parked THEN NULL ELSE now() - i * interval '1 second' END,
       '{}'::jsonb, '\\x'::bytea, 'bench', 0, i,
       now() - i * interval '1 second', now() - i * interval '1 second'
  FROM (SELECT i, '1980' || lpad(i::text, 14, '0') AS nip, i % ($2::int) = 0 AS parked
          FROM generate_series(1, $4::int) i) g;
ANALYZE deliveries;
ANALYZE roster_sekolah;
"""


async def seed(dsn: str, schema: str, deliveries: int, parked: int) -> dict[str, Any]:
    conn = await admin_conn(dsn)
    try:
        await conn.execute(f'SET search_path TO "{schema}"')
        every = max(deliveries // max(parked, 1), 1)
        statements = [s for s in SEED.split(";\n") if s.strip()]
        # The first two take arguments; ANALYZE takes none.
        await conn.execute(statements[0], SCHOOLS, AREA)
        await conn.execute(statements[1], SCHOOLS, every, PARKED_REASON, deliveries)
        for statement in statements[2:]:
            await conn.execute(statement)
        # The bkn-sync under test also takes what other runs on this broker publish meanwhile
        # (its groups start at the end, not at silence): the sample and the counts are the
        # seeded rows only.
        sample = await conn.fetchrow(
            "SELECT nip, npsn FROM deliveries WHERE state = 'PARKED' AND source_topic = 'bench'"
            " ORDER BY delivery_id LIMIT 1"
        )
        assert sample is not None
        # The teacher page asks the roster first (access): this one teacher is on it.
        await conn.execute(
            "INSERT INTO roster_pegawai (nip, nama, npsn, jenis_ptk, status_kepegawaian, naungan,"
            " kode_wilayah, updated_at) VALUES ($1, 'Guru Bench', $2, 'Guru Mapel', 'PNS',"
            " 'KEMDIKBUD', $3, now())",
            sample["nip"],
            sample["npsn"],
            AREA,
        )
        middle = await conn.fetchrow(
            "SELECT updated_at, delivery_id FROM deliveries "
            "ORDER BY updated_at DESC, delivery_id DESC OFFSET $1 LIMIT 1",
            deliveries // 2,
        )
        assert middle is not None
        counted = await conn.fetch(
            "SELECT state, count(*) AS n FROM deliveries WHERE source_topic = 'bench'"
            " GROUP BY state"
        )
        return {
            "nip": sample["nip"],
            "npsn": sample["npsn"],
            "cursor": f"{middle['updated_at'].isoformat()}|{middle['delivery_id']}",
            "counts": {r["state"]: r["n"] for r in counted},
        }
    finally:
        await conn.close()


Statement = tuple[str, list[Any]]


def pages(seeded: dict[str, Any]) -> dict[str, tuple[str, list[Statement]]]:
    """page name -> (console path, the bare SQL bkn-sync runs for its rows, with arguments)."""
    from bkn_sync import counts
    from console.config import Settings as ConsoleSettings

    # Schools on one page of a reason: the console's default, which the run does not change.
    page_size: int = ConsoleSettings.model_fields["tertahan_page_schools"].default

    listing = (
        "SELECT d.*, (SELECT s.nama FROM roster_sekolah s WHERE s.npsn = d.npsn) AS school_name "
        "FROM deliveries d WHERE {where} ORDER BY d.updated_at DESC, d.delivery_id DESC LIMIT 50"
    )
    at, _, delivery_id = seeded["cursor"].partition("|")
    now = datetime.now(UTC)
    hour, day = (counts.window_start(w, now) for w in (counts.Window.HOUR, counts.Window.DAY))
    return {
        # One GET /deliveries/counts?window=1h&window=1d&window=all: the kept counts now, and
        # the entries of the last hour and day (counts.py).
        "overview": (
            "/",
            [
                (counts.current_sql("true"), []),
                (counts.entered_sql("true", 1), [hour]),
                (counts.entered_sql("true", 1), [day]),
            ],
        ),
        # The operators' panels the overview loads after it is shown: Kafka and /metrics, no SQL.
        "overview, operator panels (loaded after)": ("/overview/pipeline", []),
        "find, first page": ("/deliveries", [(listing.format(where="true"), [])]),
        "find, page in the middle (keyset)": (
            f"/deliveries?after={quote(seeded['cursor'])}",
            [
                (
                    listing.format(where="(d.updated_at, d.delivery_id) < ($1, $2)"),
                    [datetime.fromisoformat(at), delivery_id],
                )
            ],
        ),
        "find by school name": (
            "/deliveries?school=Bench 17",
            [
                (
                    listing.format(
                        where="EXISTS (SELECT 1 FROM roster_sekolah s WHERE s.npsn = d.npsn "
                        "AND s.nama ILIKE '%' || $1 || '%')"
                    ),
                    ["Bench 17"],
                )
            ],
        ),
        "find parked": (
            "/deliveries?state=PARKED",
            [(listing.format(where="d.state = $1"), ["PARKED"])],
        ),
        "a teacher's deliveries": (
            f"/deliveries/{seeded['nip']}",
            [(listing.format(where="d.nip = $1"), [seeded["nip"]])],
        ),
        # One GET /deliveries/parked/groups: parked deliveries counted by reason and school,
        # the 100 schools with the most of each reason; then one reason's schools a page
        # (the console's 200, its default) at a time: the first page and one further on.
        "tertahan by reason": (
            "/tertahan",
            [(counts.parked_groups_sql("true", 1, 2, 3), [0, 100, 5_000])],
        ),
        "tertahan, one reason, first page of schools": (
            f"/tertahan?reason_code={PARKED_REASON}",
            [
                (
                    counts.parked_groups_sql("d.reason_code = $1", 2, 3, 4),
                    [PARKED_REASON, 0, page_size, 5_000],
                )
            ],
        ),
        "tertahan, one reason, a later page": (
            f"/tertahan?reason_code={PARKED_REASON}&dari={page_size * 5}",
            [
                (
                    counts.parked_groups_sql("d.reason_code = $1", 2, 3, 4),
                    [PARKED_REASON, page_size * 5, page_size, 5_000],
                )
            ],
        ),
        "audit": ("/audit", [("SELECT 1", [])]),
    }


async def explain(conn: Any, statements: list[Statement]) -> list[str]:
    """The plans of a page's bare queries as they ran (EXPLAIN ANALYZE), for the report."""
    plans = []
    for sql, args in statements:
        rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
        plans.append("\n".join(r[0] for r in rows))
    return plans


def summary(times: list[float]) -> dict[str, float]:
    ms = [t * 1000 for t in times]
    return {"p50_ms": round(pct(ms, 50), 1), "p99_ms": round(pct(ms, 99), 1)}


async def measure(
    console_url: str,
    cookie: str,
    dsn: str,
    schema: str,
    seeded: dict[str, Any],
    n: int,
    plans: bool = False,
) -> list[dict[str, Any]]:
    results = []
    conn = await admin_conn(dsn)
    await conn.execute(f'SET search_path TO "{schema}"')
    try:
        async with httpx.AsyncClient(
            base_url=console_url, cookies={"kinerja_console": cookie}, timeout=60
        ) as client:
            for name, (path, statements) in pages(seeded).items():
                first = await client.get(path)  # and warms the caches
                if first.status_code != 200:
                    raise RuntimeError(f"{path}: {first.status_code} {first.text[:500]}")
                rendered, bare = [], []
                for _ in range(n):
                    started = time.perf_counter()
                    got = await client.get(path)
                    rendered.append(time.perf_counter() - started)
                    assert got.status_code == 200, (path, got.status_code)
                    started = time.perf_counter()
                    for sql, args in statements:
                        await conn.fetch(sql, *args)
                    bare.append(time.perf_counter() - started)
                page = summary(rendered)
                results.append(
                    {
                        "page": name,
                        "path": path.split("?")[0],
                        "render": page,
                        "bare_query": summary(bare),
                        "bare_statements": len(statements),
                        "within_target": page["p99_ms"] < TARGET_P99_MS,
                        **({"plans": await explain(conn, statements)} if plans else {}),
                    }
                )
                log(name, page, "bare", summary(bare))
    finally:
        await conn.close()
    return results


def run(args: argparse.Namespace) -> dict[str, Any]:
    from console.sessions import Sealer
    from kinerja_shared.auth import DevIdentityProvider, Principal, Role

    st = stack()
    run_id = new_run_id()
    idp = DevIdentityProvider()
    secret = secrets.token_urlsafe(32)
    with Processes(st, run_id, REPO / ".local" / "bench" / f"console-{run_id}") as procs:
        fresh_groups(st.kafka_bootstrap, run_id, ["bkn_sync"])
        bkn = procs.service("bkn_sync", idp.jwks_url)
        wait_ready(bkn)
        log("seeding", args.deliveries, "deliveries,", args.parked, "parked")
        started = time.monotonic()
        seeded = asyncio.run(seed(st.pg_admin_dsn, bkn.schema or "", args.deliveries, args.parked))
        seeding_s = round(time.monotonic() - started, 1)

        schema = f"bench_{run_id}_console"
        asyncio.run(create_schema(st.pg_admin_dsn, schema, "postgres"))
        procs.schemas.append(schema)
        port = free_port()
        env = {
            "CONSOLE_HTTP_PORT": str(port),
            "CONSOLE_DATABASE_URL": st.pg_admin_dsn.rsplit("/", 1)[0] + "/kinerja",
            "CONSOLE_DB_SCHEMA": schema,
            "CONSOLE_KAFKA_BOOTSTRAP": st.kafka_bootstrap,
            "CONSOLE_CONSUMER_GROUP": f"console.bench-{run_id}",
            "CONSOLE_JWT_JWKS_URL": idp.jwks_url,
            "CONSOLE_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "CONSOLE_BKN_SYNC_URL": bkn.url,
            "CONSOLE_METRICS_URLS": json.dumps({"bkn-sync": f"{bkn.url}/metrics"}),
            "CONSOLE_SESSION_SECRET": secret,
            "OTEL_SERVICE_NAME": "console",
        }
        from kinerja_tools.testing.groups import start_groups_at_end

        # The history consumer reads only what comes now, not the stack's whole status topic.
        asyncio.run(start_groups_at_end(st.kafka_bootstrap, [env["CONSOLE_CONSUMER_GROUP"]]))
        subprocess.run(
            [str(BIN / "console"), "migrate"],
            env={**procs.base_env(), **env},
            check=True,
            capture_output=True,
        )
        console = procs.command("console", [str(BIN / "console"), "serve"], port, env)
        wait_ready(console)

        token = idp.mint(role="operator", subject="bench-operator")
        principal = Principal(subject="bench-operator", role=Role.OPERATOR)
        cookie = Sealer(secret).session(principal, token, 3600)
        results = asyncio.run(
            measure(
                console.url,
                cookie,
                st.pg_admin_dsn,
                bkn.schema or "",
                seeded,
                args.requests,
                plans=args.plans,
            )
        )
    return {
        "benchmark": "console_pages",
        **revision(),
        "machine": machine(),
        "deliveries": args.deliveries,
        "parked": args.parked,
        "requests_per_page": args.requests,
        "seeded_counts": seeded["counts"],
        "seeding_seconds": seeding_s,
        "target_p99_ms": TARGET_P99_MS,
        "pages": results,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out = run(args)
    text = json.dumps(out, indent=2, default=str)
    if args.json:
        args.json.write_text(text + "\n")
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
