from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from .conftest import Put

SetFaults = Callable[..., Awaitable[None]]


async def _ledger_count(client: httpx.AsyncClient) -> int:
    count: int = (await client.get("/ledger")).json()["count"]
    return count


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_error_fault_returns_the_scripted_status_and_records_nothing(
    status: int, put: Put, set_faults: SetFaults, client: httpx.AsyncClient
) -> None:
    await set_faults(rules=[{"fault": "error", "statuses": [status]}])

    response = await put("skp", key="k")

    assert response.status_code == status
    assert set(response.json()) == {"code", "message"}
    assert await _ledger_count(client) == 0


async def test_error_rate_is_a_deterministic_share_for_a_given_seed(
    put: Put, set_faults: SetFaults
) -> None:
    async def statuses() -> list[int]:
        await set_faults(seed=42, rules=[{"fault": "error", "rate": 0.5, "statuses": [503]}])
        return [(await put("skp", key=f"k{i}", version=i)).status_code for i in range(20)]

    first, second = await statuses(), await statuses()

    assert first == second
    assert 0 < first.count(503) < 20


async def test_rate_limit_answers_429_with_retry_after(put: Put, set_faults: SetFaults) -> None:
    await set_faults(rules=[{"fault": "rate_limit", "retry_after_seconds": 7}])

    response = await put("skp", key="k")

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["code"] == "RATE_LIMITED"


async def test_fault_filters_limit_it_to_one_kind_and_nip(put: Put, set_faults: SetFaults) -> None:
    await set_faults(rules=[{"fault": "error", "kind": "predikat", "statuses": [500]}])
    await put("skp", key="skp")

    other_kind = await put("skp", key="skp-2", version=2)
    faulted = await put("predikat", key="p")
    other_nip = await put("skp", key="x", nip="199001012015052002")

    assert other_kind.status_code == 200
    assert faulted.status_code == 500
    assert other_nip.status_code == 201


async def test_times_limits_how_often_a_fault_fires(put: Put, set_faults: SetFaults) -> None:
    await set_faults(rules=[{"fault": "error", "statuses": [502], "times": 1}])

    first = await put("skp", key="k")
    retry = await put("skp", key="k")

    assert (first.status_code, retry.status_code) == (502, 201)


async def test_timeout_fault_is_seen_as_read_timeout_and_records_nothing(
    put: Put, set_faults: SetFaults, client: httpx.AsyncClient
) -> None:
    await set_faults(rules=[{"fault": "timeout", "hold_seconds": 30}])

    with pytest.raises(httpx.ReadTimeout):
        await put("skp", key="k", client_timeout=0.3)

    assert await _ledger_count(client) == 0
    [attempt] = (await client.get("/ledger/attempts")).json()["attempts"]
    assert (attempt["fault"], attempt["status"]) == ("timeout", 504)


async def test_slow_responses_add_the_scripted_latency(
    put: Put, set_faults: SetFaults, client: httpx.AsyncClient
) -> None:
    await set_faults(latency={"ms": 200, "jitter_ms": 50})

    started = time.perf_counter()
    response = await put("skp", key="k")
    elapsed = time.perf_counter() - started

    assert response.status_code == 201
    assert elapsed >= 0.2
    [attempt] = (await client.get("/ledger/attempts")).json()["attempts"]
    assert 200 <= attempt["delay_ms"] <= 250


async def test_slow_responses_do_not_delay_the_ledger(
    set_faults: SetFaults, client: httpx.AsyncClient
) -> None:
    await set_faults(latency={"ms": 5000})

    response = await client.get("/ledger/summary", timeout=1.0)

    assert response.status_code == 200


async def test_connection_reset_is_a_transport_error_and_records_nothing(
    put: Put, set_faults: SetFaults, client: httpx.AsyncClient
) -> None:
    await set_faults(rules=[{"fault": "reset"}])

    with pytest.raises(httpx.TransportError):
        await put("skp", key="k")

    assert await _ledger_count(client) == 0
    [attempt] = (await client.get("/ledger/attempts")).json()["attempts"]
    assert (attempt["fault"], attempt["status"]) == ("reset", None)


async def test_lost_response_then_retry_with_same_key_replays_one_record(
    put: Put, set_faults: SetFaults, client: httpx.AsyncClient
) -> None:
    await set_faults(rules=[{"fault": "lost_response", "statuses": [500], "times": 1}])

    lost = await put("skp", key="k")
    retry = await put("skp", key="k")

    assert lost.status_code == 500
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replay"] == "true"
    ledger = (await client.get("/ledger")).json()
    assert ledger["count"] == 1
    assert ledger["records"][0]["key"] == "k"


@pytest.mark.parametrize(
    ("lost_as", "error"), [("reset", httpx.TransportError), ("timeout", httpx.ReadTimeout)]
)
async def test_lost_response_as_transport_failure_still_records_once(
    lost_as: str,
    error: type[Exception],
    put: Put,
    set_faults: SetFaults,
    client: httpx.AsyncClient,
) -> None:
    await set_faults(
        rules=[{"fault": "lost_response", "lost_as": lost_as, "hold_seconds": 30, "times": 1}]
    )

    with pytest.raises(error):
        await put("skp", key="k", client_timeout=0.3)
    retry = await put("skp", key="k")

    assert retry.headers["Idempotent-Replay"] == "true"
    summary = (await client.get("/ledger/summary")).json()
    assert summary["accepted_total"] == 1
    assert summary["duplicates"] == 0


async def test_malformed_body_is_200_with_invalid_json_and_records(
    put: Put, set_faults: SetFaults, client: httpx.AsyncClient
) -> None:
    await set_faults(rules=[{"fault": "malformed", "times": 1}])

    response = await put("skp", key="k")

    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    retry = await put("skp", key="k")
    assert retry.headers["Idempotent-Replay"] == "true"
    assert await _ledger_count(client) == 1


async def test_outage_answers_503_until_the_window_ends(put: Put, set_faults: SetFaults) -> None:
    await set_faults(outage_seconds=0.3)

    during = await put("skp", key="k")
    # The window is the behaviour under test, so the test has to outlive it.
    await asyncio.sleep(0.35)
    after = await put("skp", key="k")

    assert during.status_code == 503
    assert during.json()["code"] == "OUTAGE"
    assert int(during.headers["Retry-After"]) >= 1
    assert after.status_code == 201


async def test_clearing_faults_ends_an_outage_at_once(
    put: Put, set_faults: SetFaults, client: httpx.AsyncClient
) -> None:
    await set_faults(outage_seconds=600)
    assert (await put("skp", key="k")).status_code == 503

    await client.delete("/admin/faults")

    assert (await put("skp", key="k")).status_code == 201


async def test_fault_config_reports_how_often_each_rule_fired(
    put: Put, set_faults: SetFaults, client: httpx.AsyncClient
) -> None:
    rules: list[dict[str, Any]] = [
        {"fault": "rate_limit", "kind": "predikat"},
        {"fault": "error", "statuses": [500], "times": 2},
    ]
    await set_faults(rules=rules)
    for i in range(3):
        await put("skp", key=f"k{i}", version=i)

    snapshot = (await client.get("/admin/faults")).json()

    assert snapshot["applied"] == [0, 2]
    assert snapshot["config"]["rules"][1]["times"] == 2


async def test_invalid_fault_config_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.put("/admin/faults", json={"rules": [{"fault": "error", "rate": 2}]})

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_PAYLOAD"


@pytest.mark.parametrize(
    ("rule", "body"),
    [
        (
            {"code": "VERSI_SUDAH_ADA", "held_version": 9},
            {"code": "VERSI_SUDAH_ADA", "message": "Permintaan ditolak oleh e-Kinerja"},
        ),
        ({"status": 422, "code": "DATA_TERKUNCI", "message": "Data dikunci verifikator"}, {}),
        ({"message": "Konflik"}, {"message": "Konflik"}),
    ],
)
async def test_reject_answers_the_scripted_4xx_and_records_nothing(
    rule: dict[str, Any],
    body: dict[str, Any],
    put: Put,
    set_faults: SetFaults,
    client: httpx.AsyncClient,
) -> None:
    await set_faults(rules=[{"fault": "reject", "times": 1, **rule}])

    response = await put("skp", key="k")
    retry = await put("skp", key="k")

    assert response.status_code == rule.get("status", 409)
    answer = response.json()
    assert answer.get("code") == rule.get("code")
    assert answer.get("held_version") == rule.get("held_version")
    assert answer["message"] == rule.get("message", "Permintaan ditolak oleh e-Kinerja")
    assert body.items() <= answer.items()
    assert retry.status_code == 201
    assert await _ledger_count(client) == 1
    first = (await client.get("/ledger/attempts")).json()["attempts"][0]
    assert (first["fault"], first["status"], first["code"]) == (
        "reject",
        rule.get("status", 409),
        rule.get("code"),
    )


async def test_reject_is_only_a_client_error(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/admin/faults", json={"rules": [{"fault": "reject", "status": 503}]}
    )

    assert response.status_code == 400


async def test_a_latency_until_changed_holds_the_request_until_the_faults_change(
    put: Put, set_faults: SetFaults, client: httpx.AsyncClient
) -> None:
    slow = "199001012015052002"
    await set_faults(latency={"ms": 600_000, "nip": slow, "until_changed": True})
    held = asyncio.create_task(put("skp", key="slow", nip=slow))

    # The simulator stands alone (no Kinerja library): its own short wait for the condition.
    deadline = time.monotonic() + 10
    while (await client.get("/admin/faults")).json()["held_requests"] != 1:
        assert time.monotonic() < deadline, "the slow request was never held"
        await asyncio.sleep(0.02)
    # Another NIP's request goes through while that one is held.
    assert (await put("skp", key="fast")).status_code == 201
    assert not held.done()

    await client.delete("/admin/faults")

    assert (await held).status_code == 201
    assert (await client.get("/ledger")).json()["count"] == 2
