"""asyncpg pool and the migration runner.

Migrations are plain ``NNNN_name.sql`` files applied once each, in order, inside a schema owned
by the service. The shared ones (outbox, inbox) come first under the namespace ``shared``.
Concurrent runners serialise on an advisory lock, so two replicas starting a migration Job at
once apply each file exactly once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# What a handler holds inside a transaction: a bare connection or one borrowed from the pool.
Conn = asyncpg.Connection | PoolConnectionProxy
# Anything that can run one statement on its own.
Executor = Conn | asyncpg.Pool

log = logging.getLogger(__name__)

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"
_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(
    dsn: str, schema: str, *, min_size: int = 2, max_size: int = 10
) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": schema, "application_name": schema},
        init=_init_connection,
        # No expiry timer per cached statement (the cache stays LRU-bounded at 100 per
        # connection). Each timer holds the contextvars of the task that first ran the statement:
        # inside a consumer, FastStream's context with the message being handled, so every cache
        # entry kept some batch of decoded records alive for 5 minutes (bench/README.md).
        max_cached_statement_lifetime=0,
    )
    assert pool is not None
    return pool


@dataclass(frozen=True)
class Migration:
    namespace: str
    path: Path

    @property
    def version(self) -> str:
        return f"{self.namespace}/{self.path.name}"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(sources: Sequence[tuple[str, Path]]) -> list[Migration]:
    found: list[Migration] = []
    for namespace, directory in sources:
        names = sorted(p.name for p in directory.glob("*.sql"))
        for name in names:
            if not _FILE.match(name):
                raise ValueError(f"migration file name must be NNNN_snake_case.sql: {name}")
            found.append(Migration(namespace, directory / name))
    return found


async def migrate(dsn: str, schema: str, service_migrations: Path) -> list[str]:
    """Apply what is missing; return the versions applied now. Refuses an edited migration."""
    migrations = discover([("shared", SHARED_MIGRATIONS), (schema, service_migrations)])
    conn: asyncpg.Connection = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    applied_now: list[str] = []
    try:
        async with conn.transaction():
            # One lock per schema: replicas of one service wait, other services don't.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"migrate:{schema}")
            # A service's role owns its schema but may not create schemas in the database;
            # PostgreSQL checks that right even for IF NOT EXISTS, so look first.
            if not await conn.fetchval("SELECT true FROM pg_namespace WHERE nspname = $1", schema):
                await conn.execute(f'CREATE SCHEMA "{schema}"')
            await conn.execute(
                f"""CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations (
                    version text PRIMARY KEY,
                    checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            rows = await conn.fetch(f'SELECT version, checksum FROM "{schema}".schema_migrations')
            done = {r["version"]: r["checksum"] for r in rows}
            for m in migrations:
                if m.version in done:
                    if done[m.version] != m.checksum:
                        raise RuntimeError(
                            f"migration {m.version} was edited after it was applied; "
                            "add a new migration instead"
                        )
                    continue
                await conn.execute(m.path.read_text())
                await conn.execute(
                    f'INSERT INTO "{schema}".schema_migrations (version, checksum) VALUES ($1, $2)',
                    m.version,
                    m.checksum,
                )
                applied_now.append(m.version)
                log.info("migration applied", extra={"version": m.version, "schema": schema})
    finally:
        await conn.close()
    return applied_now
