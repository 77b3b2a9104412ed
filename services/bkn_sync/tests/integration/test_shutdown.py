"""bkn-sync stops when asked, whatever it is in the middle of.

A stop must end: a pod's termination grace, a test session's teardown and an operator's
restart all wait for it. Stopped while PUTs are in flight and while a task holds a database
connection in an open transaction (a handler past the graceful timeout, a write nobody
awaits), the process still exits, and the held connection is ended by the server's rollback
rather than kept open with its locks.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest

from kinerja_tools.testing import wait_for
from kinerja_tools.testing.http import SIMULATOR_CLIENT_LIMITS

if TYPE_CHECKING:
    from conftest import Feed

pytestmark = pytest.mark.infra

GRACE = 2.0
SLOW_PUT_MS = 20_000  # far longer than the grace: these PUTs are still open at the stop


@pytest.mark.timeout(300)
async def test_a_stop_with_puts_in_flight_and_a_connection_held_ends(
    bkn_sync: Any, own_sources: Any, feed_to: Any
) -> None:
    from ekinerja_sim.serving import running_simulator

    async with (
        own_sources() as sources,
        running_simulator() as sim,
        httpx.AsyncClient(base_url=sim.url, limits=SIMULATOR_CLIENT_LIMITS) as sim_client,
    ):
        await sim_client.put("/admin/faults", json={"latency": {"ms": SLOW_PUT_MS}})
        feed: Feed = feed_to(sources)
        teachers = feed.school(4)
        stopping = bkn_sync(
            own=sources,
            ekinerja_url=sim.url,
            ekinerja_timeout_seconds=60.0,
            graceful_shutdown_seconds=GRACE,
        )
        running = await stopping.__aenter__()
        try:
            for t in teachers:
                await feed.plan_agreed(t)

            async def in_flight() -> list[Any] | None:
                rows = await running.fetch(
                    "SELECT nip FROM deliveries WHERE state = 'IN_FLIGHT' AND nip = ANY($1)",
                    [t.nip for t in teachers],
                )
                return rows

            await wait_for(in_flight, timeout=120, what="a PUT in flight")
            held: asyncpg.Connection = await running.app.state.runtime.db.acquire()
            await held.execute("BEGIN; SELECT 1 FROM deliveries FOR UPDATE")
        except BaseException:
            await stopping.__aexit__(None, None, None)
            raise

        # The stop ends on its own: without a bound it would wait for the held connection
        # (and the 20 s PUTs) for ever, and this wait, not the assertion, would fail.
        await asyncio.wait_for(stopping.__aexit__(None, None, None), timeout=120)

        with pytest.raises((asyncpg.InterfaceError, asyncpg.PostgresConnectionError)):
            await held.fetchval("SELECT 1")
        with contextlib.suppress(Exception):
            held.terminate()
