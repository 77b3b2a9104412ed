"""A private Kafka broker with SASL_SSL, SCRAM-SHA-512 users and the registry's ACLs.

It is started by deploy/local/kafka.sh itself (``KINERJA_KAFKA_SASL=1``), from a copy of
deploy/local in a folder of its own: env.sh then writes its env file there, never the running
stacks', and the broker's data, TLS material and passwords live and die with that folder. Its
ports are free ones; its heap is small (``KINERJA_KAFKA_HEAP``, default 384m).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..kafka_acls import sasl_client_options

REPO = Path(__file__).resolve().parents[5]
ADMIN = "kinerja-admin"


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass(frozen=True)
class SaslBroker:
    root: Path
    port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def node_dir(self) -> Path:
        return self.root / "node"

    @property
    def ca_file(self) -> Path:
        return self.node_dir / "tls" / "ca.crt"

    def password(self, user: str) -> str:
        return (self.node_dir / "users" / user).read_text().strip()

    def client_options(self, user: str, password: str | None = None) -> dict[str, Any]:
        """aiokafka keyword arguments to log in as ``user`` (with its password unless given)."""
        secret = self.password(user) if password is None else password
        return sasl_client_options(user, secret, self.ca_file)

    def log_tail(self, lines: int = 40) -> str:
        log = self.node_dir / "logs" / "kafka.log"
        return "\n".join(log.read_text().splitlines()[-lines:]) if log.exists() else ""


def _checkout(root: Path) -> Path:
    """deploy/local copied, and the shared jar cache and virtualenv linked, under ``root``."""
    checkout = root / "checkout"
    shutil.copytree(REPO / "deploy" / "local", checkout / "deploy" / "local")
    (checkout / ".local").mkdir()
    (checkout / ".local" / "cache").symlink_to(REPO / ".local" / "cache")
    (checkout / ".venv").symlink_to(REPO / ".venv")
    return checkout


def _kafka_sh(broker: SaslBroker, checkout: Path, action: str, controller_port: int) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(broker.root),
        "KINERJA_STACK": "test",
        "KINERJA_KAFKA_SASL": "1",
        "KINERJA_KAFKA_NODE_NAME": "kafka",
        "KINERJA_KAFKA_NODE_DIR": str(broker.node_dir),
        "KINERJA_KAFKA_NODE_PORT": str(broker.port),
        "KINERJA_KAFKA_NODE_CONTROLLER_PORT": str(controller_port),
        "KINERJA_KAFKA_HEAP": os.environ.get("KINERJA_KAFKA_HEAP", "384m"),
        "KINERJA_KAFKA_READY_SECONDS": os.environ.get("KINERJA_KAFKA_READY_SECONDS", "150"),
    }
    done = subprocess.run(
        ["bash", str(checkout / "deploy" / "local" / "kafka.sh"), action],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"kafka.sh {action} failed ({done.returncode}):\n{done.stderr[-4000:]}\n"
            f"broker log:\n{broker.log_tail()}"
        )


@contextmanager
def sasl_broker(root: Path) -> Iterator[SaslBroker]:
    """Start the broker under ``root`` (an empty folder), yield it, stop it, remove ``root``."""
    port, controller_port = _free_ports(2)
    broker = SaslBroker(root, port)
    checkout = _checkout(root)
    try:
        _kafka_sh(broker, checkout, "start", controller_port)
        yield broker
    finally:
        try:
            _kafka_sh(broker, checkout, "stop", controller_port)
        finally:
            shutil.rmtree(root, ignore_errors=True)
