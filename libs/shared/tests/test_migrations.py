"""The migration runner on the real PostgreSQL: once each, in order, safe to run concurrently."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import asyncpg
import pytest

from kinerja_shared import db
from kinerja_tools.testing.stack import Stack

pytestmark = pytest.mark.infra


def write_migrations(folder: Path) -> None:
    folder.mkdir()
    (folder / "0001_people.sql").write_text("CREATE TABLE people (id int PRIMARY KEY);")
    (folder / "0002_seed.sql").write_text("INSERT INTO people VALUES (1), (2);")


async def drop(dsn: str, schema: str) -> None:
    conn = await asyncpg.connect(dsn)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await conn.close()


async def test_each_migration_is_applied_once_even_by_concurrent_runners(
    stack: Stack, tmp_path: Path
) -> None:
    folder = tmp_path / "m"
    write_migrations(folder)
    schema = f"m_{secrets.token_hex(4)}"
    try:
        results = await asyncio.gather(
            *(db.migrate(stack.pg_admin_dsn, schema, folder) for _ in range(4))
        )
        applied = [versions for versions in results if versions]
        assert len(applied) == 1, "exactly one runner applied the files"
        assert applied[0][-2:] == [f"{schema}/0001_people.sql", f"{schema}/0002_seed.sql"]
        assert await db.migrate(stack.pg_admin_dsn, schema, folder) == []
        conn = await asyncpg.connect(stack.pg_admin_dsn)
        assert await conn.fetchval(f'SELECT count(*) FROM "{schema}".people') == 2
        await conn.close()
    finally:
        await drop(stack.pg_admin_dsn, schema)


async def test_an_edited_migration_is_refused(stack: Stack, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    write_migrations(folder)
    schema = f"m_{secrets.token_hex(4)}"
    try:
        await db.migrate(stack.pg_admin_dsn, schema, folder)
        (folder / "0002_seed.sql").write_text("INSERT INTO people VALUES (3);")
        with pytest.raises(RuntimeError, match="edited after it was applied"):
            await db.migrate(stack.pg_admin_dsn, schema, folder)
    finally:
        await drop(stack.pg_admin_dsn, schema)


def test_a_badly_named_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "create people.sql").write_text("")
    with pytest.raises(ValueError, match="NNNN_snake_case"):
        db.discover([("x", tmp_path)])
