import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from fastapi import FastAPI

from kinerja_shared.metrics import SAMPLE_SECONDS
from kinerja_shared.service import create_service_app

from . import api, background, counts, handlers, metrics, pause
from .config import Settings
from .parts import BknRuntime, Parts

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    return create_service_app(
        "bkn-sync",
        settings,
        routers=[api.router],
        register=handlers.register,
        tasks=_tasks,
        stop=Parts.aclose,
        description="Delivers SKP and predikat to e-Kinerja BKN: retries, parking, redrive.",
    )


def _tasks(runtime: BknRuntime) -> list[Coroutine[Any, Any, None]]:
    """Work bkn-sync starts itself, beside what arrives on Kafka."""
    return [
        _sample_parked(runtime),
        background.run_checks(runtime),
        background.run_recovery(runtime),
        pause.watch(runtime.parts.pause, runtime.db),
        counts.run_fold(runtime, runtime.settings.counts_fold_seconds),
    ]


async def _sample_parked(runtime: BknRuntime) -> None:
    while True:
        await sample_parked(runtime)
        await asyncio.sleep(SAMPLE_SECONDS)


async def sample_parked(runtime: BknRuntime) -> None:
    """The PARKED depth per reason, from the table every instance shares (alerts take the max
    over instances, so each reporting the same total is what they expect)."""
    try:
        rows = await runtime.db.fetch(
            "SELECT reason_code, count(*) AS n FROM deliveries WHERE state = 'PARKED' "
            "GROUP BY reason_code",
            timeout=10,
        )
        metrics.set_parked({r["reason_code"] or "": r["n"] for r in rows})
    except Exception:
        log.warning("parked deliveries not sampled", exc_info=True)


__all__ = ["create_app", "sample_parked"]
