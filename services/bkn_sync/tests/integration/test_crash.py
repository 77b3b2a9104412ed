"""bkn-sync killed with SIGKILL again and again in the middle of a batch, as a real process,
while e-Kinerja fails one call in five: every delivery still lands exactly once.

The agreed plans go to a topic of this test's own (``BKN_SYNC_SKP_TOPIC``), so its 2,000
records neither slow down nor get mixed with the other sessions reading the shared topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from kinerja_shared.auth import DevIdentityProvider
from kinerja_shared.topics import PLAN_AGREED
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.http import SIMULATOR_CLIENT_LIMITS
from kinerja_tools.testing.stack import Stack

from .conftest import Teacher, agreed

pytestmark = pytest.mark.infra

DELIVERIES = 2_000
KILL_AT = (250, 800, 1_400)  # delivered rows after which the process is killed
BIN = Path(sys.executable).parent / "bkn_sync"
FAULTS = {
    "seed": 5,
    "rules": [
        {"fault": "error", "rate": 0.08, "statuses": [500, 502, 503]},
        {"fault": "reset", "rate": 0.04},
        {"fault": "lost_response", "rate": 0.04, "lost_as": "error", "statuses": [502]},
        {"fault": "timeout", "rate": 0.02, "hold_seconds": 2},
        {"fault": "rate_limit", "rate": 0.02, "retry_after_seconds": 1},
    ],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def nips(n: int) -> list[str]:
    """Distinct valid NIPs: birthdate, TMT, gender, sequence."""
    base = random.randint(0, 10_000)
    out = []
    for i in range(base, base + n):
        born = f"19{70 + i % 16}{1 + i % 12:02d}{1 + i % 28:02d}"
        out.append(f"{born}20{10 + i % 10}0{1 + i % 9}{1 + i % 2}{i % 1000:03d}")
    return list(dict.fromkeys(out))[:n]


@contextlib.asynccontextmanager
async def private_topic(bootstrap: str) -> AsyncIterator[str]:
    tag = secrets.token_hex(4)
    names = [f"{PLAN_AGREED.name}.crash-{tag}", f"kinerja.predikat.crash-{tag}"]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(n, num_partitions=12, replication_factor=1) for n in names]
        )
        yield names[0]
    finally:
        with contextlib.suppress(Exception):
            await admin.delete_topics(names)
        await admin.close()


class Process:
    """``bkn_sync serve`` as a child process, restartable after a SIGKILL."""

    def __init__(self, env: dict[str, str], log: Path, port: int) -> None:
        self.env, self.log, self.port = env, log, port
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                str(BIN), "serve", env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

        async def ready() -> bool:
            assert self.proc is not None
            assert self.proc.returncode is None, self.log.read_text()[-3000:]
            try:
                async with httpx.AsyncClient() as c:
                    r = await c.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1)
                    return r.status_code == 200
            except httpx.HTTPError:
                return False

        # Generous: on a loaded shared host the consumer groups can take a while to form.
        await wait_for(ready, timeout=90, what="bkn_sync serve ready")

    async def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), timeout=20)
            except TimeoutError:
                await self.kill()


@pytest.mark.timeout(300)
async def test_sigkill_mid_batch_loses_and_duplicates_nothing(stack: Stack, tmp_path: Path) -> None:
    from ekinerja_sim.serving import running_simulator

    schema = f"bkn_sync_crash_{secrets.token_hex(4)}"
    teachers = nips(DELIVERIES)
    idp = DevIdentityProvider(tmp_path)
    port = free_port()
    async with (
        running_simulator() as sim,
        httpx.AsyncClient(base_url=sim.url, limits=SIMULATOR_CLIENT_LIMITS) as ekinerja,
        private_topic(stack.kafka_bootstrap) as topic,
    ):
        env = {
            **os.environ,
            "BKN_SYNC_DATABASE_URL": stack.pg_admin_dsn,
            "BKN_SYNC_DB_SCHEMA": schema,
            "BKN_SYNC_CONSUMER_GROUP": f"bkn-sync-crash-{secrets.token_hex(4)}",
            "BKN_SYNC_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
            "BKN_SYNC_EKINERJA_URL": sim.url,
            "BKN_SYNC_HTTP_PORT": str(port),
            "BKN_SYNC_JWT_JWKS_URL": idp.jwks_url,
            "BKN_SYNC_SKP_TOPIC": topic,
            # Not the shared predikat topic: its records from other sessions have no SKP here
            # and would walk the retry tiers beside this test's deliveries.
            "BKN_SYNC_PREDIKAT_TOPIC": topic.replace(PLAN_AGREED.name, "kinerja.predikat"),
            "BKN_SYNC_EKINERJA_TIMEOUT_SECONDS": "1",
            "BKN_SYNC_QUICK_ATTEMPTS": "3",
            "BKN_SYNC_QUICK_WAIT_MAX_SECONDS": "0.2",
            "BKN_SYNC_RETRY_DELAYS_SECONDS": "[0.5, 1, 2]",
            "BKN_SYNC_RETRY_HOLD_MAX_SECONDS": "3",
            "BKN_SYNC_DELIVERY_WORKERS": "12",
            "BKN_SYNC_DB_POOL_MAX": "30",
            "BKN_SYNC_OUTBOX_POLL_SECONDS": "0.2",
            # 20 % of calls fail on purpose: the breaker must not read that as e-Kinerja down.
            "BKN_SYNC_BREAKER_FAILURE_RATIO": "0.6",
            "OTEL_TRACES_EXPORTER": "none",
        }
        migrate = await asyncio.create_subprocess_exec(
            str(BIN), "migrate", env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        output, _ = await migrate.communicate()
        assert migrate.returncode == 0, output.decode()
        assert (await ekinerja.put("/admin/faults", json=FAULTS)).status_code == 200

        producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, linger_ms=20)
        await producer.start()
        try:
            for nip in teachers:
                payload = agreed(Teacher(nip, "20100001", "3171", teachers[0]))
                value = PLAN_AGREED.envelope(nip, payload).model_dump_json().encode()
                await producer.send(topic, value, key=nip.encode())
            await producer.flush()
        finally:
            await producer.stop()

        conn = await asyncpg.connect(stack.pg_admin_dsn)
        service = Process(env, tmp_path / "bkn_sync.log", port)
        try:

            async def delivered(at_least: int) -> int | None:
                n: int = await conn.fetchval(
                    f'SELECT count(*) FROM "{schema}".deliveries '
                    "WHERE state = 'DELIVERED' AND kind = 'SKP' AND nip = ANY($1::text[])",
                    teachers,
                )
                return n if n >= at_least else None

            for threshold in KILL_AT:
                await service.start()
                await wait_for(lambda t=threshold: delivered(t), timeout=60, what=f"{threshold}")
                await service.kill()
            await service.start()
            await wait_for(lambda: delivered(DELIVERIES), timeout=90, what="all DELIVERED")

            # The predikat topic is the shared one: its old records for other tests' NIPs are
            # delivered (or refused) too, so only this test's SKP deliveries are judged.
            states = await conn.fetch(
                f'SELECT state, count(*) AS n FROM "{schema}".deliveries '
                "WHERE kind = 'SKP' AND nip = ANY($1::text[]) GROUP BY state",
                teachers,
            )
            assert {r["state"]: r["n"] for r in states} == {"DELIVERED": DELIVERIES}
        finally:
            await service.stop()
            with contextlib.suppress(Exception):
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await conn.close()

        summary = (await ekinerja.get("/ledger/summary")).json()
        assert summary["duplicates"] == 0
        mine = set(teachers)
        per_slot = {
            (t["kind"], t["nip"], t["period"]): t["accepted"]
            for t in summary["targets"]
            if t["kind"] == "skp" and t["nip"] in mine
        }
        assert set(per_slot) == {("skp", nip, "2025") for nip in teachers}
        assert set(per_slot.values()) == {1}
        # The kills really landed mid-flight: some deliveries were attempted more than once.
        assert summary["attempts"] > DELIVERIES
