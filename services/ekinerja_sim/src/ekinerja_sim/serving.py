"""Running the simulator as a real uvicorn server inside an existing event loop (tests, e2e)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from ekinerja_sim.app import create_app
from ekinerja_sim.settings import SimSettings


class _SignallingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Embedded servers leave Ctrl-C to the host process (pytest).
        yield


@dataclass(frozen=True, slots=True)
class RunningSimulator:
    url: str
    app: FastAPI


@contextlib.asynccontextmanager
async def running_simulator(
    settings: SimSettings | None = None,
    *,
    app: FastAPI | None = None,
    host: str = "127.0.0.1",
) -> AsyncIterator[RunningSimulator]:
    """Serve on a free port of ``host`` until the block exits."""
    app = app if app is not None else create_app(settings)
    # Binding here, not in uvicorn, gives a free port with no window for another process to
    # take it between choosing and binding.
    # An explicit IPPROTO_TCP makes asyncio set TCP_NODELAY on accepted connections; without it
    # every response with a body waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    sim_settings: SimSettings = app.state.sim.settings
    config = uvicorn.Config(
        app,
        log_level="warning",
        timeout_graceful_shutdown=1,
        limit_concurrency=sim_settings.uvicorn_limit_concurrency,
    )
    server = _SignallingServer(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    ready = asyncio.create_task(server.ready.wait())
    try:
        await asyncio.wait({serving, ready}, return_when=asyncio.FIRST_COMPLETED)
        if not server.ready.is_set():
            serving.result()
            raise RuntimeError("e-Kinerja simulator stopped before it started")
        yield RunningSimulator(url=f"http://{host}:{port}", app=app)
    finally:
        ready.cancel()
        server.should_exit = True
        await serving
        sock.close()
