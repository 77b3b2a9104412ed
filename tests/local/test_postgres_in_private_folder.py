"""The local stack's PostgreSQL starts from a checkout that the postgres OS user cannot enter.

root usually clones under its home folder (mode 0700). The server runs as postgres, so every
path it is handed (data, socket, log, the initdb password file) must lie outside the checkout.
This test copies deploy/local into a fresh folder of mode 0700, starts the cluster there on a
free port, and connects to it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _postgres_sh(checkout: Path, port: int, command: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "KINERJA_STACK": "test",
        "KINERJA_PG_PORT": str(port),
    }
    return subprocess.run(
        ["bash", str(checkout / "deploy/local/postgres.sh"), command],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture
def private_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    private = tmp_path_factory.mktemp("private-home")
    private.chmod(0o700)
    checkout = private / "kinerja"
    shutil.copytree(REPO / "deploy" / "local", checkout / "deploy" / "local")
    return checkout


@pytest.mark.infra
def test_postgres_starts_from_a_checkout_postgres_cannot_enter(private_checkout: Path) -> None:
    assert os.geteuid() == 0, "the local stack runs PostgreSQL as the postgres user: run as root"
    refused = subprocess.run(
        ["runuser", "-u", "postgres", "--", "test", "-x", str(private_checkout)], check=False
    )
    assert refused.returncode != 0, "the folder must be closed to postgres, or this proves nothing"

    port = _free_port()
    started = _postgres_sh(private_checkout, port, "start")
    try:
        assert started.returncode == 0, started.stderr[-3000:]
        link = private_checkout / ".local" / "test" / "pg"
        assert link.is_symlink(), "the cluster must live outside the checkout"
        server_dir = link.resolve()
        assert not server_dir.is_relative_to(private_checkout)
        assert (server_dir / "data" / "PG_VERSION").is_file()
        assert not (server_dir / ".pwfile").exists(), "the initdb password file is removed"

        schema = subprocess.run(
            [
                "psql",
                "-XtAc",
                "SELECT current_schema()",
                f"postgresql://planning:planning@127.0.0.1:{port}/kinerja",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert schema.stdout.strip() == "planning", schema.stderr

        # A new clone at the same path starts from an empty cluster, as it would with the
        # cluster inside .local; the earlier one's data is not inherited.
        subprocess.run(
            [
                "psql",
                "-Xqc",
                "CREATE TABLE planning.left_behind (x int)",
                f"postgresql://planning:planning@127.0.0.1:{port}/kinerja",
            ],
            check=True,
            timeout=30,
        )
        assert _postgres_sh(private_checkout, port, "stop").returncode == 0
        shutil.rmtree(private_checkout / ".local")
        fresh = _postgres_sh(private_checkout, port, "start")
        assert fresh.returncode == 0, fresh.stderr[-3000:]
        left = subprocess.run(
            [
                "psql",
                "-XtAc",
                "SELECT to_regclass('planning.left_behind') IS NULL",
                f"postgresql://planning:planning@127.0.0.1:{port}/kinerja",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert left.stdout.strip() == "t", left.stderr

        again = _postgres_sh(private_checkout, port, "start")
        assert again.returncode == 0, again.stderr[-3000:]
        status = _postgres_sh(private_checkout, port, "status")
        assert status.returncode == 0
        assert "running" in status.stdout
    finally:
        stopped = _postgres_sh(private_checkout, port, "stop")
        link = private_checkout / ".local" / "test" / "pg"
        if link.is_symlink():
            shutil.rmtree(link.resolve().parent.parent, ignore_errors=True)
    assert stopped.returncode == 0, stopped.stderr[-3000:]
