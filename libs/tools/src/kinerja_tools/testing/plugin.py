"""pytest plugin (loaded from the root pyproject): session fixtures for the real stack.

A test that needs PostgreSQL or Kafka asks for ``stack``; it gets the ``test`` stack of
deploy/local, started on first use and reused afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

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
