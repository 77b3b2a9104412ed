"""A service under test whose stop hangs fails its teardown within a bound, saying where every
task waits, instead of running on beside the tests that follow it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from kinerja_shared.settings import ServiceSettings
from kinerja_tools import testing
from kinerja_tools.testing import service as under_test
from kinerja_tools.testing.stack import Stack

pytestmark = pytest.mark.infra

NO_MIGRATIONS = Path(testing.__file__).parent / "no_migrations"


def stuck_app(_settings: ServiceSettings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.Event().wait()  # a stop that never ends

    return FastAPI(lifespan=lifespan)


async def test_a_stop_that_hangs_fails_within_the_bound_with_the_tasks_stacks(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(under_test, "STOP_BOUND_SECONDS", 0.5)
    with pytest.raises(TimeoutError) as stopped:
        async with under_test.running_service(
            stack, "stuck", stuck_app, ServiceSettings, NO_MIGRATIONS, tmp_path
        ):
            pass

    message = str(stopped.value)
    assert message.startswith("stuck did not stop in"), message
    # Where it waits: the app's own stop, at the line that never returns.
    assert "test_running_service_bound.py:" in message, message
    assert " in lifespan" in message, message
