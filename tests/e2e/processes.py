"""The system as production runs it: each service its own process, migrated by its own step."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from kinerja_tools.testing.groups import start_groups_at_end
from kinerja_tools.testing.stack import REPO, Stack

BIN = REPO / ".venv" / "bin"
SERVICES = {  # command -> (env prefix, consumer group)
    "planning": ("PLANNING", "planning"),
    "observation": ("OBSERVATION", "observation"),
    "assessment": ("ASSESSMENT", "assessment"),
    "predikat": ("PREDIKAT", "predikat"),
    "bkn_sync": ("BKN_SYNC", "bkn-sync"),
}


@dataclass
class System:
    urls: dict[str, str]
    simulator: str
    jwks_url: str
    logs: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _service_env(
    stack: Stack, prefix: str, group: str, jwks_url: str, simulator: str
) -> dict[str, str]:
    env = {**os.environ, **stack.env}
    env.pop("KINERJA_FAILPOINT", None)
    env.update(
        {
            # Ports of our own, so two e2e sessions (or a running `make run`) never collide.
            f"{prefix}_HTTP_PORT": str(free_port()),
            f"{prefix}_CONSUMER_GROUP": group,
            "BKN_SYNC_EKINERJA_URL": simulator,
            "OTEL_SERVICE_NAME": group.split(".")[0],
            "OTEL_TRACES_EXPORTER": "zipkin",
            f"{prefix}_JWT_JWKS_URL": jwks_url,
            f"{prefix}_OUTBOX_POLL_SECONDS": "0.5",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            # Short retry tiers: a predikat that overtakes its SKP is retried within seconds.
            "BKN_SYNC_RETRY_DELAYS_SECONDS": "[1, 2, 5]",
        }
    )
    return env


def _wait_ready(
    url: str, proc: subprocess.Popen[bytes], log: Path, path: str = "/readyz", timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}{path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout}s:\n{log.read_text()[-3000:]}")


@contextmanager
def running_system(stack: Stack, jwks_url: str, logs: Path) -> Iterator[System]:
    logs.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    urls: dict[str, str] = {}
    try:
        sim_port = str(free_port())
        sim_log = logs / "ekinerja-sim.log"
        sim_env = {
            **os.environ,
            **stack.env,
            "OTEL_SERVICE_NAME": "ekinerja-sim",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
        with sim_log.open("wb") as out:
            sim = subprocess.Popen(
                [BIN / "ekinerja-sim", "serve", "--port", sim_port],
                env=sim_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        procs.append(sim)
        simulator = f"http://127.0.0.1:{sim_port}"
        run = secrets.token_hex(3)
        groups = {name: f"{base}.e2e-{run}" for name, (_, base) in SERVICES.items()}
        # Its own thread and loop: the caller may be inside pytest-asyncio's session loop.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(
                asyncio.run, start_groups_at_end(stack.kafka_bootstrap, list(groups.values()))
            ).result()
        for name, (prefix, _) in SERVICES.items():
            env = _service_env(stack, prefix, groups[name], jwks_url, simulator)
            subprocess.run([BIN / name, "migrate"], env=env, check=True, capture_output=True)
            log = logs / f"{name}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [BIN / name, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
                )
            procs.append(proc)
            urls[name] = f"http://127.0.0.1:{env[f'{prefix}_HTTP_PORT']}"
        for (name, url), proc in zip(urls.items(), procs[1:], strict=True):
            _wait_ready(url, proc, logs / f"{name}.log")
        _wait_ready(simulator, sim, sim_log, path="/healthz")
        yield System(urls=urls, simulator=simulator, jwks_url=jwks_url, logs=logs)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
