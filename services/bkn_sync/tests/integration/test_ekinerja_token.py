"""bkn-sync against an e-Kinerja that wants OAuth2 client credentials, over real HTTP: every PUT
carries a token got once; a revoked token is renewed within the attempt; wrong credentials
deliver nothing and dead-letter nothing (the deliveries wait to be tried again)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from kinerja_tools.testing import wait_for
from kinerja_tools.testing.http import SIMULATOR_CLIENT_LIMITS

if TYPE_CHECKING:
    from conftest import Feed

pytestmark = pytest.mark.infra


@asynccontextmanager
async def guarded_stack(
    bkn_sync: Any, own_sources: Any, feed_to: Any, secret: str
) -> AsyncIterator[tuple[Any, httpx.AsyncClient, Feed]]:
    from ekinerja_sim.serving import running_simulator
    from ekinerja_sim.settings import SimSettings

    settings = SimSettings(client_id="kinerja-bkn-sync", client_secret="rahasia")
    async with (
        own_sources() as sources,
        running_simulator(settings) as sim,
        bkn_sync(
            own=sources,
            ekinerja_url=sim.url,
            ekinerja_token_url=f"{sim.url}/oauth/token",
            ekinerja_client_id="kinerja-bkn-sync",
            ekinerja_client_secret=secret,
        ) as running,
        httpx.AsyncClient(base_url=sim.url, limits=SIMULATOR_CLIENT_LIMITS) as sim_client,
    ):
        yield running, sim_client, feed_to(sources)


async def _states(running: Any, nips: list[str]) -> dict[str, str]:
    rows = await running.fetch("SELECT nip, state FROM deliveries WHERE nip = ANY($1)", nips)
    return {r["nip"]: r["state"] for r in rows}


# Each test starts its own instance and simulator: room for a loaded machine.
@pytest.mark.timeout(300)
async def test_every_put_carries_a_token_and_a_revoked_one_is_renewed(
    bkn_sync: Any, own_sources: Any, feed_to: Any
) -> None:
    async with guarded_stack(bkn_sync, own_sources, feed_to, "rahasia") as (running, sim, feed):
        first, second = feed.school(2)
        await feed.plan_agreed(first)

        async def delivered(nip: str) -> bool:
            return (await _states(running, [nip])).get(nip) == "DELIVERED"

        await wait_for(lambda: delivered(first.nip), timeout=60, what="first DELIVERED")
        # e-Kinerja rotates its keys: the token bkn-sync holds is refused from now on.
        assert (await sim.post("/admin/oauth/revoke")).status_code == 204
        await feed.plan_agreed(second)
        await wait_for(lambda: delivered(second.nip), timeout=60, what="second DELIVERED")

        door = (await sim.get("/admin/oauth")).json()
        assert door["issued"] == 2  # one token, then one more after the revocation
        assert door["refused"] == 1  # the one PUT with the revoked token, renewed at once
        attempts = await running.fetch(
            "SELECT attempts FROM deliveries WHERE nip = ANY($1)", [first.nip, second.nip]
        )
        assert [r["attempts"] for r in attempts] == [1, 1]


@pytest.mark.timeout(300)
async def test_wrong_credentials_deliver_nothing_and_lose_nothing(
    bkn_sync: Any, own_sources: Any, feed_to: Any
) -> None:
    async with guarded_stack(bkn_sync, own_sources, feed_to, "salah") as (running, sim, feed):
        [t] = feed.school(1)
        await feed.plan_agreed(t)

        async def tried_and_waiting() -> str | None:
            state = (await _states(running, [t.nip])).get(t.nip)
            return state if state == "RETRYING" else None

        await wait_for(tried_and_waiting, timeout=90, what="the delivery waiting on a tier")
        summary = (await sim.get("/ledger/summary")).json()
        assert summary["attempts"] == 0  # no PUT left without a token
        assert (await sim.get("/admin/oauth")).json()["issued"] == 0
