"""The real PostgreSQL and Kafka for tests: the ``test`` stack of deploy/local, started once.

Tests never start their own broker or database: they reuse the stack if it answers and run
``deploy/local/up.sh infra`` otherwise, then isolate themselves with fresh schemas, topics and
consumer groups.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kinerja_shared.topics_cli import create_topics

REPO = Path(__file__).resolve().parents[5]
STACK = os.environ.get("KINERJA_TEST_STACK", "test")


@dataclass(frozen=True)
class Stack:
    env: dict[str, str]

    @property
    def pg_admin_dsn(self) -> str:
        return self.env["KINERJA_PG_ADMIN_DSN"]

    @property
    def kafka_bootstrap(self) -> str:
        return self.env["KINERJA_KAFKA_BOOTSTRAP"]

    @property
    def zipkin_url(self) -> str:
        return self.env["KINERJA_ZIPKIN_URL"]

    def dsn_for(self, role: str) -> str:
        return self.env[f"{role.upper()}_DATABASE_URL"]


def _read_env(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip().removeprefix("export ")
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            env[key] = value.strip().strip('"').strip("'")
    return env


def _answers(hostport: str) -> bool:
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def ensure_stack() -> Stack:
    env_file = REPO / ".local" / STACK / "env"
    if env_file.exists():
        env = _read_env(env_file)
        pg_port = env["KINERJA_PG_ADMIN_DSN"].rsplit(":", 1)[1].split("/")[0]
        if _answers(env["KINERJA_KAFKA_BOOTSTRAP"]) and _answers(f"127.0.0.1:{pg_port}"):
            # The registry may have grown since the stack started; creating is idempotent.
            asyncio.run(create_topics(env["KINERJA_KAFKA_BOOTSTRAP"]))
            return Stack(env)
    subprocess.run(
        [str(REPO / "deploy" / "local" / "up.sh"), "infra"],
        check=True,
        env={**os.environ, "KINERJA_STACK": STACK},
    )
    return Stack(_read_env(env_file))
