"""Fixtures of the resilience tests: the three-node Kafka cluster and a PostgreSQL of their own,
started once per session and stopped at its end. The shared test stack is only read (its
identity provider); nothing here stops or restarts it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import KafkaCluster, ScratchPostgres, Simulator, System, simulator

from kinerja_shared.auth.devtoken import DevIdentityProvider
from kinerja_tools.testing.stack import REPO, Stack

LOGS = REPO / ".local" / "test" / "resilience-logs"


@pytest.fixture(scope="session")
async def cluster(stack: Stack) -> AsyncIterator[KafkaCluster]:
    kafka = KafkaCluster(stack)
    try:
        kafka.start()
        await kafka.create_topics()
        yield kafka
    finally:
        kafka.stop()


@pytest.fixture(scope="session")
def scratch_pg() -> Iterator[ScratchPostgres]:
    pg = ScratchPostgres()
    try:
        pg.init()
        yield pg
    finally:
        pg.destroy()


@pytest.fixture
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[Simulator]:
    async with simulator(LOGS / request.node.name) as running:
        yield running


def _system(name: str, bootstrap: str, pg: ScratchPostgres, sim: Simulator, tmp: Path) -> System:
    # The services trust an identity provider of the test's own; they are never called with
    # a token here, only probed.
    idp = DevIdentityProvider(tmp / "idp")
    running = System(bootstrap, pg, sim, LOGS / name, idp.jwks_url)
    running.logs.mkdir(parents=True, exist_ok=True)
    return running


@pytest.fixture
def system(
    request: pytest.FixtureRequest,
    cluster: KafkaCluster,
    scratch_pg: ScratchPostgres,
    sim: Simulator,
    tmp_path: Path,
) -> Iterator[System]:
    """The services on the three-broker cluster and the test's own PostgreSQL."""
    running = _system(request.node.name, cluster.bootstrap, scratch_pg, sim, tmp_path)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def system_on_stack(
    request: pytest.FixtureRequest,
    stack: Stack,
    scratch_pg: ScratchPostgres,
    sim: Simulator,
    tmp_path: Path,
) -> Iterator[System]:
    """The services on the shared single broker (topics of the test's own) and the test's own
    PostgreSQL: for proofs that break no broker."""
    running = _system(request.node.name, stack.kafka_bootstrap, scratch_pg, sim, tmp_path)
    try:
        yield running
    finally:
        running.stop()
