"""One real uvicorn server for the session; every test starts from a reset simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from ekinerja_sim.serving import RunningSimulator, running_simulator
from ekinerja_sim.settings import SimSettings

NIP = "198609262015051001"
PERIOD = "2025"

Put = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture(scope="session")
async def simulator() -> AsyncIterator[RunningSimulator]:
    async with running_simulator(SimSettings()) as running:
        yield running


@pytest.fixture
async def client(simulator: RunningSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=simulator.url, timeout=5.0) as client:
        (await client.post("/admin/reset")).raise_for_status()
        yield client
        # Also wakes requests a timeout fault is still holding, so shutdown is not delayed.
        await client.post("/admin/reset")


@pytest.fixture
def put(client: httpx.AsyncClient) -> Put:
    """PUT one record: ``await put("skp", key="k1", version=2)``."""

    async def _put(
        kind: str = "skp",
        *,
        key: str | None,
        version: int = 1,
        nip: str = NIP,
        period: str = PERIOD,
        n: int = 1,
        client_timeout: float | None = None,
        **fields: Any,
    ) -> httpx.Response:
        path = f"/{kind}/{nip}/{period}" + (f"/{n}" if kind == "penilaian-periodik" else "")
        headers = {} if key is None else {"Idempotency-Key": key}
        body = {"version": version, "nip": nip, "period": period, **fields}
        extra: dict[str, Any] = {} if client_timeout is None else {"timeout": client_timeout}
        return await client.put(path, json=body, headers=headers, **extra)

    return _put


@pytest.fixture
def set_faults(client: httpx.AsyncClient) -> Callable[..., Awaitable[None]]:
    async def _set(**config: Any) -> None:
        (await client.put("/admin/faults", json=config)).raise_for_status()

    return _set
