from __future__ import annotations

import httpx

from .conftest import NIP, PERIOD, Put


async def test_first_record_is_created_with_201_and_a_receipt(put: Put) -> None:
    response = await put("skp", key="skp-1", version=1)

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "accepted"
    assert body["idempotency_key"] == "skp-1"
    assert body["receipt_id"].startswith("EK-")
    assert "Idempotent-Replay" not in response.headers


async def test_same_key_twice_records_once(put: Put, client: httpx.AsyncClient) -> None:
    first = await put("skp", key="skp-1", version=1)
    again = await put("skp", key="skp-1", version=1)

    assert again.status_code == first.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replay"] == "true"
    ledger = (await client.get("/ledger")).json()
    assert ledger["count"] == 1


async def test_replay_ignores_a_refusal_set_after_the_first_acceptance(
    put: Put, client: httpx.AsyncClient
) -> None:
    await put("skp", key="skp-1")
    await client.put(f"/admin/refusals/{NIP}", json={"codes": ["USER_PMM_MISSING"]})

    again = await put("skp", key="skp-1")

    assert again.status_code == 201
    assert again.headers["Idempotent-Replay"] == "true"


async def test_missing_idempotency_key_is_rejected_with_400(put: Put) -> None:
    response = await put("skp", key=None)

    assert response.status_code == 400
    assert response.json()["code"] == "IDEMPOTENCY_KEY_MISSING"


async def test_body_without_integer_version_is_rejected_with_400(
    client: httpx.AsyncClient,
) -> None:
    response = await client.put(
        f"/skp/{NIP}/{PERIOD}", json={"version": "2"}, headers={"Idempotency-Key": "k"}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_PAYLOAD"


async def test_lower_version_with_new_key_is_stale_409(put: Put, client: httpx.AsyncClient) -> None:
    await put("skp", key="skp-v3", version=3)

    response = await put("skp", key="skp-v2", version=2)

    assert response.status_code == 409
    assert response.json()["code"] == "STALE_VERSION"
    assert response.json()["current_version"] == 3
    assert response.json()["held_version"] == 3
    assert (await client.get("/ledger")).json()["count"] == 1


async def test_equal_version_with_new_key_is_accepted_with_200(put: Put) -> None:
    await put("skp", key="skp-a", version=2)

    response = await put("skp", key="skp-b", version=2)

    assert response.status_code == 200
    assert "Idempotent-Replay" not in response.headers


async def test_higher_version_replaces_the_current_record(
    put: Put, client: httpx.AsyncClient
) -> None:
    await put("skp", key="skp-v1", version=1)

    response = await put("skp", key="skp-v2", version=2)

    assert response.status_code == 200
    summary = (await client.get("/ledger/summary")).json()
    [target] = summary["targets"]
    assert target["current_version"] == 2
    assert target["accepted"] == 2


async def test_same_key_for_another_version_is_refused_as_key_reuse(put: Put) -> None:
    await put("skp", key="k", version=1)

    response = await put("skp", key="k", version=2)

    assert response.status_code == 422
    assert response.json()["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_periodik_numbers_are_separate_records(put: Put, client: httpx.AsyncClient) -> None:
    await put("skp", key="skp")
    first = await put("penilaian-periodik", key="p1", n=1)
    second = await put("penilaian-periodik", key="p2", n=2)

    assert first.status_code == second.status_code == 201
    ledger = (await client.get("/ledger", params={"kind": "penilaian-periodik"})).json()
    assert [r["n"] for r in ledger["records"]] == [1, 2]
