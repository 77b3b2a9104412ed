"""The delivery counts bkn-sync keeps as it writes (migration 0006, counts.py) against a live
``count(*)`` of the same table, on the real PostgreSQL: after inserts, state changes, deletes,
concurrent writers and folds (two at once too); a Dinas's area; the windows; the parked groups
of the console's Tertahan page. Each instance has a schema and source topics of its own, so the
table holds only what its test wrote."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from bkn_sync.counts import Window, window_start
from kinerja_shared.auth import DevIdentityProvider
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.service import ServiceUnderTest

from .conftest import Feed, new_nip, new_npsn

pytestmark = pytest.mark.infra

STATES = ["QUEUED", "IN_FLIGHT", "RETRYING", "DELIVERED", "PARKED", "DEAD"]
KINDS = ["SKP", "PREDIKAT"]
REASONS = {"PARKED": ["BKN-E01", "BKN-E05"], "DEAD": ["BKN-E10"], "RETRYING": ["BKN-T01"]}
# A fold never runs by itself in these tests unless one asks for it.
NO_FOLD = {"counts_fold_seconds": 3600.0}

Row = tuple[str, str, str | None, str]  # kind, state, reason_code, npsn


def operator(idp: DevIdentityProvider) -> dict[str, str]:
    return {"Authorization": f"Bearer {idp.mint(role='operator')}"}


def dinas(idp: DevIdentityProvider, area: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {idp.mint(role='dinas', area=area)}"}


@asynccontextmanager
async def instance(bkn_sync: Any, own_sources: Any, **settings: Any) -> AsyncIterator[Any]:
    async with own_sources() as made, bkn_sync(own=made, **{**NO_FOLD, **settings}) as running:
        yield running


@asynccontextmanager
async def connected(
    bkn_sync: Any, own_sources: Any, **settings: Any
) -> AsyncIterator[tuple[Any, asyncpg.Connection]]:
    """An instance, and a connection to its schema for writing its table directly."""
    async with instance(bkn_sync, own_sources, **settings) as svc:
        conn = await connect(svc)
        try:
            yield svc, conn
        finally:
            await conn.close()


async def connect(svc: ServiceUnderTest) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(
        svc.stack.pg_admin_dsn, server_settings={"search_path": svc.schema}
    )
    return conn


def random_row(npsns: Sequence[str]) -> Row:
    state = random.choice(STATES)
    reason = random.choice(REASONS[state]) if state in REASONS else None
    return random.choice(KINDS), state, reason, random.choice(npsns)


async def insert(conn: asyncpg.Connection, rows: Sequence[Row], period: str = "2025") -> None:
    """One statement, as the pipeline's batches write them."""
    await conn.execute(
        "INSERT INTO deliveries (delivery_id, kind, nip, npsn, period_id, version, "
        " idempotency_key, state, reason_code, body, source_record, source_topic, "
        " source_partition, source_offset) "
        "SELECT r.kind || ':' || r.nip || ':' || $5, r.kind, r.nip, r.npsn, $5, 1, "
        " gen_random_uuid(), r.state, r.reason_code, '{}'::jsonb, '\\x'::bytea, 'test', 0, 0 "
        "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $6::text[]) "
        " AS r(kind, state, reason_code, npsn, nip)",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        period,
        [new_nip() for _ in rows],
    )


async def move(
    conn: asyncpg.Connection, ids: Sequence[str], state: str, reason: str | None
) -> None:
    """One UPDATE of many rows, locked in key order as write_many's callers lock them."""
    await conn.execute(
        "UPDATE deliveries SET state = $2, reason_code = $3, updated_at = now() "
        "WHERE delivery_id = ANY($1::text[])",
        sorted(ids),
        state,
        reason,
    )


async def ids(conn: asyncpg.Connection, limit: int, where: str = "true") -> list[str]:
    return [
        r[0]
        for r in await conn.fetch(
            f"SELECT delivery_id FROM deliveries WHERE {where} ORDER BY random() LIMIT {limit}"
        )
    ]


async def live(conn: asyncpg.Connection, where: str = "true", *args: Any) -> Counter[Any]:
    rows = await conn.fetch(
        f"SELECT state, reason_code, count(*) AS n FROM deliveries d WHERE {where} "
        "GROUP BY state, reason_code",
        *args,
    )
    return Counter({(r["state"], r["reason_code"]): r["n"] for r in rows})


async def kept(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> tuple[Counter[Any], dict[str, Any]]:
    got = await client.get("/deliveries/counts", params=params, headers=headers)
    assert got.status_code == 200, got.text
    body = got.json()
    return Counter({(c["state"], c["reason_code"]): c["count"] for c in body["counts"]}), body


async def assert_kept_equals_live(svc: ServiceUnderTest, conn: asyncpg.Connection) -> None:
    counted, body = await kept(svc.client, operator(svc.idp))
    assert body["source"] == "kept"
    assert counted == await live(conn)
    # Per kind too, as the console's overview reads it.
    for kind in KINDS:
        counted, _ = await kept(svc.client, operator(svc.idp), kind=kind)
        assert counted == await live(conn, "kind = $1", kind)


async def totals_equal_live(conn: asyncpg.Connection) -> None:
    """The folded table alone, per school: nothing left unfolded, nothing lost or doubled."""
    folded = await conn.fetch(
        "SELECT kind, state, nullif(reason_code, '') AS reason_code, npsn, n FROM delivery_counts"
    )
    counted = await conn.fetch(
        "SELECT kind, state, reason_code, npsn, count(*) AS n FROM deliveries "
        "GROUP BY kind, state, reason_code, npsn"
    )
    assert {tuple(r.values()) for r in folded} == {tuple(r.values()) for r in counted}


async def test_kept_counts_equal_a_live_count_after_inserts_changes_deletes_and_the_fold(
    bkn_sync: Any, own_sources: Any
) -> None:
    async with connected(bkn_sync, own_sources) as (svc, conn):
        npsns = [new_npsn() for _ in range(5)]
        await insert(conn, [random_row(npsns) for _ in range(300)])
        await insert(conn, [("SKP", "QUEUED", None, npsns[0])])  # a single-row statement
        assert await conn.fetchval("SELECT count(*) FROM delivery_count_deltas") > 0
        await assert_kept_equals_live(svc, conn)

        await move(conn, await ids(conn, 80), "PARKED", "BKN-E01")
        await move(conn, await ids(conn, 40, "state = 'PARKED'"), "PARKED", "BKN-E05")
        await move(conn, await ids(conn, 50), "DELIVERED", None)
        # An update that changes nothing counted writes no delta.
        before = await conn.fetchval("SELECT count(*) FROM delivery_count_deltas")
        await conn.execute("UPDATE deliveries SET attempts = attempts + 1")
        assert await conn.fetchval("SELECT count(*) FROM delivery_count_deltas") == before
        # A delivery moving to another school (a new version names another NPSN).
        await conn.execute(
            "UPDATE deliveries SET npsn = $1 WHERE delivery_id = ANY($2::text[])",
            npsns[1],
            await ids(conn, 10, f"npsn <> '{npsns[1]}'"),
        )
        await conn.execute(
            "DELETE FROM deliveries WHERE delivery_id = ANY($1::text[])", await ids(conn, 30)
        )
        await assert_kept_equals_live(svc, conn)

        waiting = await conn.fetchval("SELECT count(*) FROM delivery_count_deltas")
        assert waiting > before
        assert await conn.fetchval("SELECT fold_delivery_counts()") == waiting
        assert await conn.fetchval("SELECT count(*) FROM delivery_count_deltas") == 0
        await totals_equal_live(conn)
        await assert_kept_equals_live(svc, conn)

        # Written after the fold: exact at once, from totals plus the new deltas.
        await insert(conn, [random_row(npsns) for _ in range(20)])
        await move(conn, await ids(conn, 20), "DEAD", "BKN-E10")
        await assert_kept_equals_live(svc, conn)
        await conn.execute("TRUNCATE deliveries")
        await assert_kept_equals_live(svc, conn)
        counted, _ = await kept(svc.client, operator(svc.idp))
        assert counted == Counter()


async def test_concurrent_writers_and_folds_lose_and_double_nothing(
    bkn_sync: Any, own_sources: Any
) -> None:
    async with instance(bkn_sync, own_sources, counts_fold_seconds=0.05) as svc:
        npsns = [new_npsn() for _ in range(4)]
        conns = [await connect(svc) for _ in range(5)]
        try:
            await insert(conns[0], [random_row(npsns) for _ in range(400)])

            async def writer(conn: asyncpg.Connection, n: int) -> None:
                for i in range(n):
                    async with conn.transaction():
                        if i % 3 == 0:
                            await insert(conn, [random_row(npsns) for _ in range(5)])
                        state = random.choice(STATES)
                        reason = random.choice(REASONS[state]) if state in REASONS else None
                        # Rows locked in key order, as the pipeline's batches lock them.
                        chosen = await conn.fetch(
                            "SELECT delivery_id FROM deliveries WHERE delivery_id = ANY("
                            " SELECT delivery_id FROM deliveries ORDER BY random() LIMIT 20)"
                            " ORDER BY delivery_id FOR UPDATE"
                        )
                        await move(conn, [r[0] for r in chosen], state, reason)

            async def folder(conn: asyncpg.Connection, n: int) -> int:
                return sum([await conn.fetchval("SELECT fold_delivery_counts()") for _ in range(n)])

            # Four writers, a test's own folder and the instance's fold loop at once.
            await asyncio.gather(*(writer(c, 40) for c in conns[:4]), folder(conns[4], 60))
            await assert_kept_equals_live(svc, conns[0])

            async def all_folded() -> bool:
                return await conns[0].fetchval("SELECT count(*) FROM delivery_count_deltas") == 0

            await wait_for(all_folded, timeout=30, what="the fold loop folding every delta")
            await totals_equal_live(conns[0])
        finally:
            for c in conns:
                await c.close()


async def test_two_folds_at_once_neither_lose_nor_double_a_delta(
    bkn_sync: Any, own_sources: Any
) -> None:
    async with instance(bkn_sync, own_sources) as svc:
        first, second, writer = [await connect(svc) for _ in range(3)]
        try:
            npsns = [new_npsn() for _ in range(3)]
            for _ in range(30):
                await insert(writer, [random_row(npsns) for _ in range(10)])
            waiting = await writer.fetchval("SELECT count(*) FROM delivery_count_deltas")

            # The first fold holds its deltas (its transaction still open) while the second
            # starts and must wait for them; a writer adds more meanwhile.
            tx = first.transaction()
            await tx.start()
            got_first = await first.fetchval("SELECT fold_delivery_counts()")
            second_pid = await second.fetchval("SELECT pg_backend_pid()")
            second_fold = asyncio.create_task(second.fetchval("SELECT fold_delivery_counts()"))

            async def second_waits() -> bool:
                state = await writer.fetchval(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", second_pid
                )
                return bool(state == "Lock")

            await wait_for(second_waits, timeout=10, what="the second fold waiting for the first")
            await insert(writer, [random_row(npsns)])  # one row: one delta
            await tx.commit()
            got_second = await second_fold

            assert got_first == waiting
            # The second fold took none of the first's deltas, but may take the late one.
            assert got_second in (0, 1)
            left = await writer.fetchval("SELECT count(*) FROM delivery_count_deltas")
            assert got_first + got_second + left == waiting + 1
            await writer.fetchval("SELECT fold_delivery_counts()")
            await totals_equal_live(writer)
        finally:
            for c in (first, second, writer):
                await c.close()


async def test_a_dinas_counts_only_its_areas_schools(bkn_sync: Any, own_sources: Any) -> None:
    async with connected(bkn_sync, own_sources) as (svc, conn):
        mine, theirs = new_npsn(), new_npsn()
        await conn.execute(
            "INSERT INTO roster_sekolah (npsn, nama, kode_wilayah, naungan, updated_at) "
            "VALUES ($1, 'SD Milik', '317101', 'KEMDIKBUD', now()), "
            "($2, 'SD Lain', '327301', 'KEMDIKBUD', now())",
            mine,
            theirs,
        )
        await insert(conn, [random_row([mine, theirs]) for _ in range(120)])
        await conn.execute("SELECT fold_delivery_counts()")
        await insert(conn, [random_row([mine, theirs]) for _ in range(30)])
        await move(conn, await ids(conn, 25), "PARKED", "BKN-E01")

        counted, _ = await kept(svc.client, dinas(svc.idp, "3171"))
        assert counted == await live(conn, "npsn = $1", mine)
        assert sum(counted.values()) < await conn.fetchval("SELECT count(*) FROM deliveries")
        counted, _ = await kept(svc.client, dinas(svc.idp, "3171"), npsn=theirs)
        assert counted == Counter()
        counted, _ = await kept(svc.client, operator(svc.idp), npsn=theirs)
        assert counted == await live(conn, "npsn = $1", theirs)

        groups = await svc.client.get("/deliveries/parked/groups", headers=dinas(svc.idp, "3171"))
        assert groups.status_code == 200
        assert {g["npsn"] for g in groups.json()} == {mine}
        assert sum(g["count"] for g in groups.json()) == await conn.fetchval(
            "SELECT count(*) FROM deliveries WHERE state = 'PARKED' AND npsn = $1", mine
        )


async def test_windows_count_entries_into_each_state_by_whole_hours(
    bkn_sync: Any, own_sources: Any
) -> None:
    async with connected(bkn_sync, own_sources) as (svc, conn):
        npsn = new_npsn()
        await insert(conn, [("SKP", "QUEUED", None, npsn)] * 6)
        await conn.execute("SELECT fold_delivery_counts()")
        await move(conn, await ids(conn, 4), "DELIVERED", None)  # unfolded: still counted
        await move(conn, await ids(conn, 2, "state = 'DELIVERED'"), "DELIVERED", None)
        # Entries folded in earlier hours: 3 hours ago (in the day, not the hour), 30 hours
        # ago (in neither), 3 days ago (dropped by the next fold).
        now = await conn.fetchval("SELECT now()")
        hour = now.replace(minute=0, second=0, microsecond=0)
        for ago, n in ((3, 5), (30, 7), (72, 11)):
            await conn.execute(
                "INSERT INTO delivery_flow (hour, kind, state, npsn, entered) "
                "VALUES ($1, 'SKP', 'DELIVERED', $2, $3)",
                hour - timedelta(hours=ago),
                npsn,
                n,
            )

        _, body = await kept(svc.client, operator(svc.idp), window=["1h", "1d", "all"])
        by = {w["window"]: w for w in body["windows"]}

        def entered(window: str, state: str) -> int:
            return sum(
                c["count"]
                for c in by[window]["counts"]
                if c["kind"] == "SKP" and c["state"] == state
            )

        assert entered("1h", "QUEUED") == 6
        assert entered("1h", "DELIVERED") == 4  # DELIVERED to DELIVERED is no entry
        assert entered("1d", "DELIVERED") == 4 + 5
        assert entered("all", "DELIVERED") == 4
        assert entered("all", "QUEUED") == 2
        assert entered("1h", "PARKED") == 0
        at = datetime.now(UTC)
        assert datetime.fromisoformat(by["1h"]["since"]) == window_start(Window.HOUR, at)
        assert datetime.fromisoformat(by["1d"]["since"]) == window_start(Window.DAY, at)
        assert by["all"]["since"] is None

        await conn.execute("SELECT fold_delivery_counts()")
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM delivery_flow WHERE hour < now() - interval '2 days'"
            )
            == 0
        )
        _, again = await kept(svc.client, operator(svc.idp), window=["1h", "1d"])
        assert again["windows"] == body["windows"][:2]


async def test_filters_the_kept_counts_cannot_answer_are_counted_live(
    bkn_sync: Any, own_sources: Any
) -> None:
    async with connected(bkn_sync, own_sources) as (svc, conn):
        npsn = new_npsn()
        await insert(conn, [random_row([npsn]) for _ in range(40)], period="2025")
        await insert(conn, [random_row([npsn]) for _ in range(25)], period="2026")
        counted, body = await kept(svc.client, operator(svc.idp), period_id="2026")
        assert body["source"] == "live"
        assert counted == await live(conn, "period_id = '2026'")
        assert sum(counted.values()) == 25

        future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        counted, body = await kept(svc.client, operator(svc.idp), since=future)
        assert (body["source"], counted) == ("live", Counter())

        _, body = await kept(svc.client, operator(svc.idp), period_id="2026", window="all")
        assert body["source"] == "live"
        [all_] = body["windows"]
        assert sum(c["count"] for c in all_["counts"]) == 25

        both = await svc.client.get(
            "/deliveries/counts",
            params={"since": future, "window": "1h"},
            headers=operator(svc.idp),
        )
        assert both.status_code == 422
        assert both.json()["code"] == "VALIDATION_ERROR"


async def test_parked_groups_count_each_reason_and_school_with_its_remedy(
    bkn_sync: Any, own_sources: Any
) -> None:
    async with connected(bkn_sync, own_sources) as (svc, conn):
        named, unnamed = new_npsn(), new_npsn()
        await conn.execute(
            "INSERT INTO roster_sekolah (npsn, nama, kode_wilayah, naungan, updated_at) "
            "VALUES ($1, 'SD Bernama', '317101', 'KEMDIKBUD', now())",
            named,
        )
        await insert(conn, [random_row([named, unnamed]) for _ in range(150)])
        await conn.execute(
            "UPDATE deliveries SET reason = 'NIP tidak ditemukan', remedy = 'Perbaiki NIP', "
            "actor = 'Operator Sekolah' WHERE reason_code = 'BKN-E01'"
        )
        got = await svc.client.get("/deliveries/parked/groups", headers=operator(svc.idp))
        assert got.status_code == 200
        groups = got.json()
        expected = await conn.fetch(
            "SELECT reason_code, npsn, count(*) AS n FROM deliveries WHERE state = 'PARKED' "
            "GROUP BY reason_code, npsn"
        )
        assert expected  # the random rows parked some
        assert {(g["reason_code"], g["npsn"], g["count"]) for g in groups} == {
            tuple(r.values()) for r in expected
        }
        for g in groups:
            assert g["school_name"] == ("SD Bernama" if g["npsn"] == named else None)
            if g["reason_code"] == "BKN-E01":
                assert (g["reason"], g["remedy"], g["actor"]) == (
                    "NIP tidak ditemukan",
                    "Perbaiki NIP",
                    "Operator Sekolah",
                )
        per_reason = await conn.fetch(
            "SELECT reason_code, count(*) AS n, count(DISTINCT npsn) AS schools "
            "FROM deliveries WHERE state = 'PARKED' GROUP BY reason_code"
        )
        for g in groups:
            [mine] = [r for r in per_reason if r["reason_code"] == g["reason_code"]]
            assert (g["reason_count"], g["reason_schools"]) == (mine["n"], mine["schools"])
        # The school with the most of each reason only, its reason's totals still whole.
        first = await svc.client.get(
            "/deliveries/parked/groups", params={"per_reason": 1}, headers=operator(svc.idp)
        )
        assert sorted(g["reason_code"] for g in first.json()) == sorted(
            r["reason_code"] for r in per_reason
        )
        for g in first.json():
            most = max(x["count"] for x in groups if x["reason_code"] == g["reason_code"])
            assert g["count"] == most
            [mine] = [r for r in per_reason if r["reason_code"] == g["reason_code"]]
            assert g["reason_count"] == mine["n"]
        # One further down each reason's list: its second school, where it has one.
        second = await svc.client.get(
            "/deliveries/parked/groups",
            params={"per_reason": 1, "skip": 1},
            headers=operator(svc.idp),
        )
        expected_second = {}
        for r in per_reason:
            mine = sorted(
                (x for x in groups if x["reason_code"] == r["reason_code"]),
                key=lambda x: (-x["count"], x["npsn"]),
            )
            if len(mine) > 1:
                expected_second[r["reason_code"]] = (mine[1]["npsn"], mine[1]["count"])
        assert expected_second  # two schools share some reason among 150 random rows
        assert {g["reason_code"]: (g["npsn"], g["count"]) for g in second.json()} == (
            expected_second
        )
        only = await svc.client.get(
            "/deliveries/parked/groups",
            params={"reason_code": "BKN-E05"},
            headers=operator(svc.idp),
        )
        assert {g["reason_code"] for g in only.json()} <= {"BKN-E05"}
        assert sum(g["count"] for g in only.json()) == await conn.fetchval(
            "SELECT count(*) FROM deliveries WHERE state = 'PARKED' AND reason_code = 'BKN-E05'"
        )


async def test_the_pipelines_own_writes_are_counted_as_they_happen(
    running: ServiceUnderTest, feed: Feed, idp: DevIdentityProvider
) -> None:
    """Deliveries written by bkn-sync itself (Kafka in, e-Kinerja simulator out)."""
    t = await feed.teacher()
    await feed.plan_agreed(t)

    async def delivered() -> bool:
        counted, _ = await kept(running.client, operator(idp), npsn=t.npsn)
        return counted == Counter({("DELIVERED", None): 1})

    await wait_for(delivered, timeout=30, what="the SKP counted DELIVERED")
    _, body = await kept(running.client, operator(idp), npsn=t.npsn, window=["1h"])
    [hour] = body["windows"]
    entered = {c["state"]: c["count"] for c in hour["counts"] if c["kind"] == "SKP"}
    assert entered["DELIVERED"] == 1
    assert (
        await running.fetchval(
            "SELECT count(*) FROM deliveries WHERE npsn = $1 AND state = 'DELIVERED'", t.npsn
        )
        == 1
    )
