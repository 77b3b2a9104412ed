"""The client-credentials door, over real HTTP: no token, a wrong client, a revoked token are
refused; the one client's token is taken until it is revoked."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from ekinerja_sim.serving import running_simulator
from ekinerja_sim.settings import SimSettings

from .conftest import NIP, PERIOD

BODY = {"version": 1, "nip": NIP, "period": PERIOD}


@pytest.fixture
async def guarded() -> AsyncIterator[httpx.AsyncClient]:
    settings = SimSettings(client_id="kinerja", client_secret="rahasia", token_ttl_seconds=600)
    async with (
        running_simulator(settings) as sim,
        httpx.AsyncClient(base_url=sim.url, timeout=5.0) as client,
    ):
        yield client


async def _token(client: httpx.AsyncClient, secret: str = "rahasia") -> httpx.Response:
    return await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("kinerja", secret)
    )


async def test_a_record_put_needs_a_live_token_of_the_one_client(
    guarded: httpx.AsyncClient,
) -> None:
    refused = await guarded.put(f"/skp/{NIP}/{PERIOD}", json=BODY, headers={"Idempotency-Key": "k"})
    assert (refused.status_code, refused.json()["code"]) == (401, "UNAUTHORIZED")

    wrong = await _token(guarded, secret="salah")
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")

    issued = await _token(guarded)
    assert issued.status_code == 200, issued.text
    assert issued.json()["token_type"] == "Bearer"
    assert issued.json()["expires_in"] == 600
    bearer = {"Authorization": f"Bearer {issued.json()['access_token']}", "Idempotency-Key": "k1"}
    taken = await guarded.put(f"/skp/{NIP}/{PERIOD}", json=BODY, headers=bearer)
    assert taken.status_code in (200, 201), taken.text

    assert (await guarded.post("/admin/oauth/revoke")).status_code == 204
    revoked = await guarded.put(f"/skp/{NIP}/{PERIOD}", json=BODY, headers=bearer)
    assert revoked.status_code == 401
    # Refused at the door: nothing reached the ledger but the one accepted record.
    summary = (await guarded.get("/ledger/summary")).json()
    assert (summary["accepted_total"], summary["attempts"]) == (1, 1)


async def test_form_credentials_are_taken_and_other_grants_refused(
    guarded: httpx.AsyncClient,
) -> None:
    form = {"grant_type": "client_credentials", "client_id": "kinerja", "client_secret": "rahasia"}
    assert (await guarded.post("/oauth/token", data=form)).status_code == 200
    password = await guarded.post("/oauth/token", data={**form, "grant_type": "password"})
    assert (password.status_code, password.json()["error"]) == (400, "unsupported_grant_type")


async def test_without_a_client_configured_the_door_is_open(client: httpx.AsyncClient) -> None:
    taken = await client.put(f"/skp/{NIP}/{PERIOD}", json=BODY, headers={"Idempotency-Key": "o"})
    assert taken.status_code in (200, 201)
    state = (await client.get("/admin/oauth")).json()
    assert state["enabled"] is False
