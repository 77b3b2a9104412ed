"""One service's app on the real stack, for its integration tests.

Each call gets a fresh schema (migrated like production), a consumer group of its own started
at the end of every topic (so the suite consumes only what it publishes), its own identity
provider, and the app running in its lifespan: the broker, the consumers and the outbox relay
are real. Requests go through an in-process HTTP client.
"""

from __future__ import annotations

import asyncio
import gc
import io
import secrets
import types
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from kinerja_shared import db
from kinerja_shared.auth.devtoken import DevIdentityProvider
from kinerja_shared.settings import ServiceSettings

from .groups import start_groups_at_end
from .stack import Stack

# Below pytest-timeout's 120 s: a stop that hangs fails here, with every task's stack, instead
# of leaving an instance consuming beside the tests that follow.
STOP_BOUND_SECONDS = 90.0


@dataclass
class ServiceUnderTest:
    app: FastAPI
    client: httpx.AsyncClient
    settings: ServiceSettings
    idp: DevIdentityProvider
    stack: Stack

    @property
    def schema(self) -> str:
        return self.settings.db_schema

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """Read the service's own tables (tests look at state the API does not show)."""
        conn = await asyncpg.connect(
            self.stack.pg_admin_dsn, server_settings={"search_path": self.schema}
        )
        try:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return rows
        finally:
            await conn.close()

    async def fetchval(self, sql: str, *args: Any) -> Any:
        rows = await self.fetch(sql, *args)
        return rows[0][0] if rows else None


@asynccontextmanager
async def running_service(
    stack: Stack,
    name: str,
    create_app: Callable[[Any], FastAPI],
    settings_type: type[ServiceSettings],
    migrations: Path,
    idp_dir: Path,
    **settings: Any,
) -> AsyncIterator[ServiceUnderTest]:
    token = secrets.token_hex(4)
    schema = f"{name.replace('-', '_')}_t{token}"
    # "<service>.<suffix>": the service's own DLQ still applies (see kinerja_shared.inbox).
    group = f"{name}.test-{token}"
    await db.migrate(stack.pg_admin_dsn, schema, migrations)
    await start_groups_at_end(stack.kafka_bootstrap, [group])
    idp = DevIdentityProvider(idp_dir)
    config = settings_type(
        **{
            "database_url": stack.pg_admin_dsn,
            "db_schema": schema,
            "kafka_bootstrap": stack.kafka_bootstrap,
            "consumer_group": group,
            "jwt_jwks_url": idp.jwks_url,
            "outbox_poll_seconds": 0.2,
            **settings,
        }
    )
    app = create_app(config)
    running = AsyncExitStack()
    try:
        await running.enter_async_context(app.router.lifespan_context(app))
        client = await running.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        )
        yield ServiceUnderTest(app, client, config, idp, stack)
    finally:
        closing = asyncio.ensure_future(running.aclose())
        done, _ = await asyncio.wait({closing}, timeout=STOP_BOUND_SECONDS)
        if not done:
            where = _tasks()  # before the cancel unwinds them
            closing.cancel()
            await asyncio.wait({closing}, timeout=5)
            raise TimeoutError(
                f"{name} did not stop in {STOP_BOUND_SECONDS:.0f} s; where its tasks wait:\n"
                + where
            )
        await closing  # its own error, if the stop failed
        conn = await asyncpg.connect(stack.pg_admin_dsn)
        try:
            # Bounded: a lock still held on the schema fails the teardown loudly, never hangs it.
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', timeout=60)
        finally:
            await conn.close()


def _tasks() -> str:
    """Every task of the loop and the chain of awaits it is suspended in: what a stop that
    hangs is waiting for (a task's own stack shows only its outermost frame)."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        out.write(f"--- task {task.get_name()}\n")
        step: Any = task.get_coro()
        for _ in range(64):  # a chain of awaits is never this deep; a cycle must not loop
            if step is None:
                break
            frame = getattr(step, "cr_frame", None) or getattr(step, "ag_frame", None)
            frame = frame or getattr(step, "gi_frame", None)
            if frame is not None:
                code = frame.f_code
                out.write(f"  {code.co_filename}:{frame.f_lineno} in {code.co_name}\n")
            step = _awaited(step)
    return out.getvalue()


def _awaited(step: Any) -> Any:
    for name in ("cr_await", "ag_await", "gi_yieldfrom"):
        if hasattr(step, name):
            return getattr(step, name)
    # An async generator's asend/athrow (``await anext(gen)``, an asynccontextmanager's exit)
    # exposes no attribute to its generator; it refers to it, though.
    for ref in gc.get_referents(step):
        if isinstance(ref, types.AsyncGeneratorType | types.CoroutineType):
            return ref
    return None
