"""pytest plugin (loaded from the root pyproject): session fixtures for the real stack.

A test that needs PostgreSQL or Kafka asks for ``stack``; it gets the ``test`` stack of
deploy/local, started on first use and reused afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import settings

from kinerja_shared import db

from .stack import Stack, ensure_stack

_EMPTY_DIR = Path(__file__).parent / "no_migrations"

# In-process apps in tests export no spans (thousands of hypothesis runs would flood the trace
# viewer); the e2e processes set their own exporter.
os.environ["OTEL_TRACES_EXPORTER"] = os.environ.get("KINERJA_TEST_TRACES_EXPORTER", "none")


# The suite shares two cores with a real broker and database: a per-example deadline would be a
# speed limit that fails a correct property under load. Performance lives in bench/.
settings.register_profile("kinerja", deadline=None)
settings.load_profile("kinerja")


@pytest.fixture(scope="session")
def stack() -> Stack:
    return ensure_stack()


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


@pytest.fixture
async def fresh_schema(stack: Stack) -> AsyncIterator[str]:
    """A schema of its own, with the shared outbox/inbox tables, dropped afterwards."""
    schema = unique("t")
    await db.migrate(stack.pg_admin_dsn, schema, _EMPTY_DIR)
    yield schema
    conn = await asyncpg.connect(stack.pg_admin_dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


# A session fixture of a directory's conftest (a running service, a simulator, a broker
# cluster) ends when the run leaves that directory, not when the whole run ends: kept, it would
# poll its database and broker on the run's two cores for the rest of the run. Coming back to
# the directory starts it again. The fixtures of this plugin (the stack) last the session.
_directory_fixtures: dict[pytest.FixtureDef[Any], pytest.FixtureRequest] = {}


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, object, object]:
    if fixturedef.scope == "session" and fixturedef.baseid:
        _directory_fixtures[fixturedef] = request
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    result = yield
    for fixturedef, request in list(_directory_fixtures.items()):
        if nextitem is None or not nextitem.nodeid.startswith(f"{fixturedef.baseid}/"):
            del _directory_fixtures[fixturedef]
            # Finishing it finishes first the fixtures set up on it (pytest registered them).
            fixturedef.finish(request)  # type: ignore[arg-type]
    return result
