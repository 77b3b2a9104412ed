"""One real server per service for the API conformance run (see apifuzz.py)."""

from __future__ import annotations

import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from apifuzz import RunningService, running_service

from kinerja_shared.topics import PLAN_AGREED
from kinerja_tools.testing.kafka import own_topics
from kinerja_tools.testing.stack import Stack

PLAN = {
    "period_id": "2026",
    "sub_indikator": "D1.4",
    "indikator_kompetensi": "KP.3",
    "tugas_pokok": ["Mengajar IPA kelas VIII"],
    "tugas_tambahan": [{"nama": "Wali kelas", "deskripsi": "Wali kelas VIII-B"}],
    "perilaku_fokus": ["KOLABORATIF", "AKUNTABEL"],
}


def _serve(
    service: str, stack: Stack, tmp_path_factory: pytest.TempPathFactory, **kwargs: object
) -> Iterator[RunningService]:
    with running_service(
        service,
        pg_admin_dsn=stack.pg_admin_dsn,
        kafka_bootstrap=stack.kafka_bootstrap,
        tmp=tmp_path_factory.mktemp(f"api-{service}"),
        **kwargs,  # type: ignore[arg-type]
    ) as running:
        yield running


def _with_a_plan(running: RunningService) -> None:
    """A draft plan of the seeded teacher, so plan_id paths sometimes find one."""
    r = running.session.post(
        f"{running.url}/plans", json=PLAN, headers=running.headers("guru"), timeout=15
    )
    assert r.status_code == 201, r.text
    running.known["plan_id"] = [r.json()["plan_id"]]


@pytest.fixture(scope="session")
def planning_api(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    yield from _serve("planning", stack, tmp_path_factory, prepare=_with_a_plan)


@pytest.fixture(scope="session")
def observation_api(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    yield from _serve("observation", stack, tmp_path_factory)


@pytest.fixture(scope="session")
def assessment_api(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    yield from _serve("assessment", stack, tmp_path_factory)


@pytest.fixture(scope="session")
def predikat_api(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    yield from _serve("predikat", stack, tmp_path_factory)


@pytest.fixture(scope="session")
async def bkn_sync_api(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningService]:
    # Its own source topics: the agreed plans and predikat that other tests publish meanwhile
    # are not this run's to deliver (and would spill into the shared retry tiers).
    private = f"kinerja.api-fuzz-{secrets.token_hex(4)}"
    skp, predikat = f"{private}.skp.v1", f"{private}.predikat.v1"
    async with own_topics(stack.kafka_bootstrap, [skp, predikat], PLAN_AGREED.partitions):
        for running in _serve(
            "bkn_sync", stack, tmp_path_factory, skp_topic=skp, predikat_topic=predikat
        ):
            yield running
