import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from kinerja_shared.metrics import SAMPLE_SECONDS
from kinerja_shared.service import Runtime, create_service_app

from . import api, background, counts, handlers, metrics, pause, pipeline
from .config import Settings
from .sender import Sender

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    app = create_service_app(
        "bkn-sync",
        settings,
        routers=[api.router],
        register=lambda runtime: _register(runtime, settings),
        description="Delivers SKP and predikat to e-Kinerja BKN: retries, parking, redrive.",
    )
    service_lifespan = app.router.lifespan_context
    runtime: Runtime = app.state.runtime

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[None]:
        try:
            async with service_lifespan(a):
                tasks = [
                    asyncio.create_task(_sample_parked(runtime), name="bkn-sync-parked"),
                    asyncio.create_task(background.run_checks(runtime), name="bkn-sync-checks"),
                    asyncio.create_task(background.run_recovery(runtime), name="bkn-sync-recovery"),
                    asyncio.create_task(
                        pause.watch(runtime.extras["pause"], runtime.db), name="bkn-sync-pause"
                    ),
                    asyncio.create_task(
                        counts.run_fold(runtime, settings.counts_fold_seconds),
                        name="bkn-sync-counts",
                    ),
                ]
                try:
                    yield
                finally:
                    # Before the consumers stop: nothing they wait for runs in these tasks.
                    for task in tasks:
                        task.cancel()
                    await asyncio.wait(tasks, timeout=settings.graceful_shutdown_seconds)
        finally:
            recorder: pipeline.Recorder | None = runtime.extras.get("recorder")
            if recorder is not None:
                await recorder.aclose()
            # After the consumers stopped: no attempt can still be using the client. Closed
            # even if stopping failed: an open keep-alive connection can hold up e-Kinerja's
            # (or the simulator's) own shutdown.
            sender: Sender | None = runtime.extras.pop("sender", None)
            if sender is not None:
                await sender.aclose()

    app.router.lifespan_context = lifespan
    return app


def _register(runtime: Runtime, settings: Settings) -> None:
    handlers.register(runtime)
    # Before any consumer starts: until its first read the pause holds every delivery.
    held = pause.Pause(settings.pause_poll_seconds)
    gate = runtime.extras["sender"].gate
    gate.hold_also(held)
    held.on_change(gate.wake)
    runtime.extras["pause"] = held


async def _sample_parked(runtime: Runtime) -> None:
    """The PARKED depth per reason, from the table every instance shares (alerts take the max
    over instances, so each reporting the same total is what they expect)."""
    while True:
        try:
            rows = await runtime.db.fetch(
                "SELECT reason_code, count(*) AS n FROM deliveries WHERE state = 'PARKED' "
                "GROUP BY reason_code",
                timeout=10,
            )
            metrics.set_parked({r["reason_code"] or "": r["n"] for r in rows})
        except Exception:
            log.warning("parked deliveries not sampled", exc_info=True)
        await asyncio.sleep(SAMPLE_SECONDS)


__all__ = ["Runtime", "create_app"]
