"""A simulator a benchmark can trust: a long-tailed, seeded latency, and a gateway's limits on
concurrent requests and connections, reported at /admin/settings."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator

import httpx
import pytest

from ekinerja_sim.faults import FaultConfig, FaultInjector, Latency, Phase
from ekinerja_sim.ledger import max_in_window
from ekinerja_sim.records import RecordKind
from ekinerja_sim.serving import RunningSimulator, running_simulator
from ekinerja_sim.settings import SimSettings

from .conftest import NIP, PERIOD

LONG_TAIL = {"median_ms": 50, "p99_ms": 250}


def _draws(seed: int, n: int) -> list[float]:
    faults = FaultInjector()
    faults.configure(FaultConfig(seed=seed, latency=Latency(**LONG_TAIL)))
    return [faults.latency_seconds(RecordKind.SKP, NIP) * 1000 for _ in range(n)]


def test_latency_is_drawn_with_the_scripted_median_and_p99() -> None:
    draws = sorted(_draws(seed=11, n=40_000))

    median = statistics.median(draws)
    p99 = draws[int(len(draws) * 0.99)]

    assert 47 <= median <= 53
    assert 225 <= p99 <= 275
    assert draws[-1] > 300  # a tail beyond the p99, not a cut-off at it


def test_the_same_seed_gives_the_same_latencies_and_another_seed_others() -> None:
    assert _draws(seed=5, n=100) == _draws(seed=5, n=100)
    assert _draws(seed=5, n=100) != _draws(seed=6, n=100)


def test_adding_a_latency_leaves_the_faults_the_same_requests_draw_unchanged() -> None:
    def errors(latency: Latency | None) -> list[bool]:
        faults = FaultInjector()
        rule = {"fault": "error", "rate": 0.5}
        faults.configure(FaultConfig.model_validate({"seed": 3, "rules": [rule]}))
        if latency is not None:
            faults.configure(
                FaultConfig.model_validate(
                    {"seed": 3, "rules": [rule], "latency": latency.model_dump()}
                )
            )
        out = []
        for _ in range(50):
            faults.latency_seconds(RecordKind.SKP, NIP)
            out.append(faults.draw(Phase.BEFORE, RecordKind.SKP, NIP) is not None)
        return out

    assert errors(None) == errors(Latency(**LONG_TAIL))


@pytest.mark.parametrize(
    "latency",
    [{"median_ms": 50}, {"median_ms": 50, "p99_ms": 20}, {"ms": 5, **LONG_TAIL}],
)
async def test_an_incomplete_or_contradictory_distribution_is_refused(
    latency: dict[str, float], client: httpx.AsyncClient
) -> None:
    response = await client.put("/admin/faults", json={"latency": latency})

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_PAYLOAD"


def test_the_most_in_any_one_second_window_slides_over_whole_seconds() -> None:
    # 3 in [0.6, 1.4) although no whole second holds more than 2.
    times = [0.1, 0.6, 0.9, 1.2, 1.7, 2.8]

    assert max_in_window(times, 1.0) == 3
    assert max_in_window([], 1.0) == 0
    assert max_in_window([5.0, 6.0], 1.0) == 1  # a window is half-open


@pytest.fixture
async def gated(request: pytest.FixtureRequest) -> AsyncIterator[RunningSimulator]:
    async with running_simulator(SimSettings(**request.param)) as running:
        yield running
        async with httpx.AsyncClient(base_url=running.url) as client:
            await client.delete("/admin/faults")  # releases anything still held


def _put(client: httpx.AsyncClient, key: str) -> asyncio.Task[httpx.Response]:
    return asyncio.create_task(
        client.put(
            f"/skp/{NIP}/{PERIOD}",
            json={"version": 1},
            headers={"Idempotency-Key": key},
        )
    )


async def _in_flight(client: httpx.AsyncClient, n: int) -> None:
    async def reached() -> bool:
        gateway = (await client.get("/admin/settings")).json()["gateway"]
        return bool(gateway["in_flight"] == n)

    # The simulator depends on no Kinerja package, so neither do its tests' waits.
    async with asyncio.timeout(60):
        while True:
            if await reached():
                return
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("gated", [{"max_concurrent_requests": 2}], indirect=True)
async def test_requests_beyond_the_concurrency_limit_get_429_with_retry_after(
    gated: RunningSimulator,
) -> None:
    limits = httpx.Limits(max_connections=10)
    async with httpx.AsyncClient(base_url=gated.url, timeout=30, limits=limits) as client:
        hold = {"latency": {"ms": 600_000, "until_changed": True}}
        (await client.put("/admin/faults", json=hold)).raise_for_status()
        held = [_put(client, "k1"), _put(client, "k1")]
        await _in_flight(client, 2)

        over = await _put(client, "k2")

        assert over.status_code == 429
        assert over.headers["Retry-After"] == "1"
        assert over.json()["code"] == "GATEWAY_LIMIT"
        (await client.delete("/admin/faults")).raise_for_status()
        assert sorted(r.status_code for r in await asyncio.gather(*held)) == [
            201,
            201,
        ]  # the second a replay
        after = await _put(client, "k3")
        assert after.status_code == 200
        gateway = (await client.get("/admin/settings")).json()["gateway"]
        assert (gateway["refused"], gateway["peak_in_flight"], gateway["in_flight"]) == (1, 2, 0)


@pytest.mark.parametrize("gated", [{"max_connections": 3}], indirect=True)
async def test_connections_beyond_the_connection_limit_are_answered_503(
    gated: RunningSimulator,
) -> None:
    clients = [httpx.AsyncClient(base_url=gated.url, timeout=30) for _ in range(4)]
    try:
        hold = {"latency": {"ms": 600_000, "until_changed": True}}
        (await clients[0].put("/admin/faults", json=hold)).raise_for_status()
        # Two connections held in record requests, one asking for the settings: three open.
        held = [_put(clients[1], "a"), _put(clients[2], "b")]
        await _in_flight(clients[0], 2)

        fourth = await clients[3].get("/healthz")

        assert fourth.status_code == 503
        (await clients[0].delete("/admin/faults")).raise_for_status()
        await asyncio.gather(*held)
    finally:
        for c in clients:
            await c.aclose()


@pytest.mark.parametrize(
    "gated", [{"max_concurrent_requests": 2, "max_connections": 3}], indirect=True
)
async def test_settings_report_the_latency_and_the_gateway(
    gated: RunningSimulator,
) -> None:
    async with httpx.AsyncClient(base_url=gated.url) as client:
        script = {"seed": 9, "latency": LONG_TAIL}
        (await client.put("/admin/faults", json=script)).raise_for_status()

        report = (await client.get("/admin/settings")).json()

    assert report["latency"]["median_ms"] == 50
    assert report["latency"]["p99_ms"] == 250
    assert report["fault_seed"] == 9
    assert report["gateway"]["max_concurrent_requests"] == 2
    assert report["gateway"]["max_connections"] == 3
    assert report["gateway"]["over_limit"].startswith("429")


@pytest.mark.parametrize("gated", [{"max_concurrent_requests": 2}], indirect=True)
async def test_arrivals_are_counted_per_sliding_second_refused_requests_included(
    gated: RunningSimulator,
) -> None:
    async with httpx.AsyncClient(base_url=gated.url, timeout=30) as client:
        (await client.put("/admin/faults", json={"rules": [{"fault": "error"}]})).raise_for_status()
        for i in range(5):
            await _put(client, f"r{i}")

        arrivals = (await client.get("/ledger/arrivals")).json()
        later = (
            await client.get("/ledger/arrivals", params={"since": arrivals["times"][-1]})
        ).json()

    assert arrivals["count"] == 5
    assert arrivals["max_in_any_second"] == 5
    assert later["count"] == 1
