"""The status events of a delivery tell, per attempt, what e-Kinerja answered (``http_status``)
and the attempt's error, on the real Kafka, PostgreSQL and simulator over HTTP. The session's
bkn-sync makes 2 quick PUTs per hop and waits 1 s per retry tier (conftest)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest

from kinerja_tools.testing import wait_for

if TYPE_CHECKING:  # fixtures provide the objects; conftest is not importable as a module
    from conftest import Feed, StatusWatch

pytestmark = pytest.mark.infra

# What is told for an event not about an attempt.
NO_ANSWER = (None, None)


async def told_until_delivered(watch: StatusWatch, nip: str) -> list[dict[str, Any]]:
    async def delivered() -> list[dict[str, Any]] | None:
        events = watch.of(nip)
        return events if any(e["state"] == "DELIVERED" for e in events) else None

    found: list[dict[str, Any]] = await wait_for(delivered, timeout=60, what=f"{nip} DELIVERED")
    return found


def answers(events: list[dict[str, Any]], state: str) -> list[tuple[Any, Any]]:
    return [(e["http_status"], e["error"]) for e in events if e["state"] == state]


async def sent_statuses(ekinerja: httpx.AsyncClient, nip: str) -> list[Any]:
    body = (await ekinerja.get("/ledger/attempts", params={"nip": nip})).json()
    return [a["status"] for a in body["attempts"]]


async def test_a_503_then_success_tells_503_with_its_error_then_delivered_with_201(
    service: httpx.AsyncClient, ekinerja: httpx.AsyncClient, watch: StatusWatch, feed: Feed
) -> None:
    [t] = feed.school(1)
    # Both quick tries of the first hop fail: the delivery goes to a retry tier, told RETRYING.
    faults = {"rules": [{"fault": "error", "nip": t.nip, "statuses": [503], "times": 2}]}
    assert (await ekinerja.put("/admin/faults", json=faults)).status_code == 200
    try:
        await feed.plan_agreed(t)
        events = await told_until_delivered(watch, t.nip)
    finally:
        await ekinerja.delete("/admin/faults")

    assert await sent_statuses(ekinerja, t.nip) == [503, 503, 201]
    assert answers(events, "RETRYING") == [
        (503, "BKN-T02: e-Kinerja sedang bermasalah (HTTP 503).")
    ]
    assert answers(events, "DELIVERED") == [(201, None)]
    # Queued and in flight are not about an answer: they tell none.
    assert {
        (e["http_status"], e["error"])
        for e in events
        if e["state"] not in ("RETRYING", "DELIVERED")
    } == {NO_ANSWER}


async def test_an_attempt_that_timed_out_tells_no_http_status(
    service: httpx.AsyncClient, ekinerja: httpx.AsyncClient, watch: StatusWatch, feed: Feed
) -> None:
    [t] = feed.school(1)
    # Held past the session's 3 s client timeout, twice: no answer came on that hop.
    rule = {"fault": "timeout", "nip": t.nip, "times": 2, "hold_seconds": 5}
    assert (await ekinerja.put("/admin/faults", json={"rules": [rule]})).status_code == 200
    try:
        await feed.plan_agreed(t)
        events = await told_until_delivered(watch, t.nip)
    finally:
        await ekinerja.delete("/admin/faults")

    assert answers(events, "RETRYING") == [(None, "BKN-T01: Waktu tunggu e-Kinerja habis.")]
    [(status, error)] = answers(events, "DELIVERED")
    assert status in (200, 201)
    assert error is None
