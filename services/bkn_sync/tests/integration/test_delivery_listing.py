"""The listing the delivery console pages through: keyset cursors, the school's name, the
trace of each delivery, and counts narrowed by kind and by time."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from kinerja_shared.auth import DevIdentityProvider
from kinerja_shared.topics import PLAN_AGREED
from kinerja_tools.testing import wait_for

from .conftest import agreed

if TYPE_CHECKING:
    from conftest import Feed

pytestmark = pytest.mark.infra


def operator(idp: DevIdentityProvider) -> dict[str, str]:
    return {"Authorization": f"Bearer {idp.mint(role='operator')}"}


async def test_pages_follow_each_other_without_gaps_or_repeats(
    service: httpx.AsyncClient, feed: Feed, idp: DevIdentityProvider
) -> None:
    teachers = [await feed.teacher() for _ in range(5)]
    npsn = teachers[0].npsn
    for t in teachers:
        t.npsn = npsn
        await feed.roster(t, nama="Guru Uji")
        await feed.plan_agreed(t)

    async def all_five_settled() -> list[dict[str, Any]] | None:
        got = await service.get("/deliveries", params={"npsn": npsn}, headers=operator(idp))
        rows: list[dict[str, Any]] = got.json()
        # Settled: a delivery still moving changes its place in the order while it is paged.
        done = len(rows) == 5 and all(r["state"] == "DELIVERED" for r in rows)
        return rows if done else None

    whole = await wait_for(all_five_settled, timeout=60, what="five deliveries of one school")

    seen: list[str] = []
    after: str | None = None
    while True:
        params = {"npsn": npsn, "limit": "2", **({"after": after} if after else {})}
        page = (await service.get("/deliveries", params=params, headers=operator(idp))).json()
        if not page:
            break
        seen += [r["delivery_id"] for r in page]
        after = page[-1]["cursor"]

    assert seen == [r["delivery_id"] for r in whole]
    assert len(set(seen)) == 5


async def test_a_delivery_names_its_school_and_its_trace_and_is_found_by_school_name(
    service: httpx.AsyncClient, feed: Feed, idp: DevIdentityProvider, producer: AIOKafkaProducer
) -> None:
    t = await feed.teacher()
    trace_id = secrets.token_hex(16)
    plan = agreed(t)
    await producer.send_and_wait(
        feed.sources.name_of(PLAN_AGREED),
        PLAN_AGREED.envelope(t.nip, plan).model_dump_json().encode(),
        key=t.nip.encode(),
        headers=[("traceparent", f"00-{trace_id}-{secrets.token_hex(8)}-01".encode())],
    )

    async def listed() -> dict[str, Any] | None:
        got = await service.get("/deliveries", params={"nip": t.nip}, headers=operator(idp))
        rows: list[dict[str, Any]] = got.json()
        return rows[0] if rows and rows[0]["school_name"] else None

    row = await wait_for(listed, timeout=30, what="the delivery with its school")
    assert row["school_name"] == "SD Uji"
    assert row["trace_id"] == trace_id
    by_name = await service.get(
        "/deliveries",
        params={"school": "sd uj", "npsn": t.npsn},
        headers=operator(idp),
    )
    assert [r["nip"] for r in by_name.json()] == [t.nip]
    no_match = await service.get(
        "/deliveries", params={"school": "SMA%", "npsn": t.npsn}, headers=operator(idp)
    )
    assert no_match.json() == []


async def test_counts_narrow_by_kind_and_time(
    service: httpx.AsyncClient, feed: Feed, idp: DevIdentityProvider
) -> None:
    t = await feed.teacher()
    await feed.plan_agreed(t)

    async def counted(**params: str) -> int:
        got = await service.get(
            "/deliveries/counts", params={"npsn": t.npsn, **params}, headers=operator(idp)
        )
        return sum(c["count"] for c in got.json()["counts"])

    async def one_skp() -> bool:
        return await counted(kind="SKP") == 1

    await wait_for(one_skp, timeout=30, what="the SKP counted")
    assert await counted(kind="PREDIKAT") == 0
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await counted(since=future) == 0


async def test_a_malformed_cursor_is_refused_with_its_code(
    service: httpx.AsyncClient, idp: DevIdentityProvider
) -> None:
    got = await service.get("/deliveries", params={"after": "yesterday"}, headers=operator(idp))
    assert got.status_code == 422
    assert got.json()["code"] == "VALIDATION_ERROR"
