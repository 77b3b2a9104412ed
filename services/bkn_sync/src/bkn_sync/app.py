from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from kinerja_shared.service import Runtime, create_service_app

from . import api, handlers
from .config import Settings
from .sender import Sender


def create_app(settings: Settings) -> FastAPI:
    app = create_service_app(
        "bkn-sync",
        settings,
        routers=[api.router],
        register=handlers.register,
        description="Delivers SKP and predikat to e-Kinerja BKN: retries, parking, redrive.",
    )
    service_lifespan = app.router.lifespan_context
    runtime: Runtime = app.state.runtime

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[None]:
        async with service_lifespan(a):
            yield
        # After the consumers stopped: no attempt can still be using the client.
        sender: Sender | None = runtime.extras.pop("sender", None)
        if sender is not None:
            await sender.aclose()

    app.router.lifespan_context = lifespan
    return app


__all__ = ["Runtime", "create_app"]
