"""A PostgreSQL server of a test's own, which the test may stop and start (the shared test
stack's server is never restarted: other tests use it).

deploy/local is copied into a fresh folder closed to other users, and its postgres.sh starts a
cluster there on a free port, the way tests/local/test_postgres_in_private_folder.py does; only
PATH, HOME, the stack and the port are passed on, so the script never picks up the shared
stack's KINERJA_PG_ADMIN_DSN.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class PrivatePostgres:
    checkout: Path
    port: int

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres:postgres@127.0.0.1:{self.port}/postgres"

    def sh(self, command: str) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/root"),
            "KINERJA_STACK": "test",
            "KINERJA_PG_PORT": str(self.port),
        }
        return subprocess.run(
            ["bash", str(self.checkout / "deploy/local/postgres.sh"), command],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    async def restart(self) -> None:
        """Stop the server (fast: every session is ended) and start it again."""
        for command in ("stop", "start"):
            done = await asyncio.to_thread(self.sh, command)
            assert done.returncode == 0, f"postgres.sh {command}: {done.stderr[-3000:]}"


@contextlib.contextmanager
def private_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivatePostgres]:
    """A started server, stopped and removed afterwards (for a test module's fixture)."""
    assert os.geteuid() == 0, "the local stack runs PostgreSQL as the postgres user: run as root"
    private = tmp_path_factory.mktemp("private-pg")
    private.chmod(0o700)
    checkout = private / "kinerja"
    shutil.copytree(REPO / "deploy" / "local", checkout / "deploy" / "local")
    server = PrivatePostgres(checkout, _free_port())
    started = server.sh("start")
    try:
        assert started.returncode == 0, started.stderr[-3000:]
        yield server
    finally:
        server.sh("stop")
        link = checkout / ".local" / "test" / "pg"
        if link.is_symlink():
            shutil.rmtree(link.resolve().parent.parent, ignore_errors=True)
