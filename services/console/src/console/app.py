"""The console's app: the shared service shape (health, metrics, errors, the broker for the
history consumer, its own schema) with pages, its login, and its clients of bkn-sync and Kafka."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from kinerja_shared.auth import DevIdentityProvider
from kinerja_shared.service import create_service_app

from . import history, login, pages, web
from .bkn import BknSync
from .config import Settings
from .dev_issuer import dev_oidc_router
from .kafka_view import KafkaView
from .pipeline_view import PipelineWatch
from .sessions import Sealer


def create_app(settings: Settings) -> FastAPI:
    kafka = KafkaView(settings.kafka_bootstrap, settings.kafka_client_options())
    pipeline = PipelineWatch(settings, kafka)
    app = create_service_app(
        "console",
        settings,
        routers=[login.router, pages.router],
        register=history.register,
        tasks=lambda _: [pipeline.run()],
        title="Kinerja delivery console",
        description="Where every stuck delivery is found, explained and fixed.",
    )
    secret = settings.session_secret.get_secret_value() if settings.session_secret else None
    app.state.console = web.Console(
        settings,
        Sealer(secret),
        BknSync(settings.bkn_sync_url, settings.bkn_sync_timeout_seconds),
        kafka,
        pipeline,
    )
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    if settings.dev_issuer:
        idp = DevIdentityProvider(settings.dev_idp_dir)
        app.include_router(dev_oidc_router(idp, prefix="/dev-idp"))
    web.install(app)
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with inner(app):
            try:
                yield
            finally:
                await app.state.console.kafka.close()
                await app.state.console.bkn.close()

    app.router.lifespan_context = lifespan
    return app
