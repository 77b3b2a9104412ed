"""The e-Kinerja simulator as a FastAPI app (record contract: docs/domain.md §6.5)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Path, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from opentelemetry.sdk.trace import TracerProvider

from ekinerja_sim.admin import admin_router, ledger_router
from ekinerja_sim.connection import ConnectionAwareApp
from ekinerja_sim.errors import error_response
from ekinerja_sim.oauth import ClientDoor, oauth_router, unauthorized
from ekinerja_sim.recording import handle_record
from ekinerja_sim.records import RecordKind, Target
from ekinerja_sim.settings import SimSettings
from ekinerja_sim.simulator import Simulator
from ekinerja_sim.telemetry import instrument, tracer_provider_from_env


def create_app(
    settings: SimSettings | None = None, *, tracer_provider: TracerProvider | None = None
) -> FastAPI:
    """Build a simulator with its own state; ``tracer_provider`` defaults to the OTEL_* env."""
    sim = Simulator.from_settings(settings or SimSettings())
    provider = tracer_provider or tracer_provider_from_env()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        sim.faults.release_holds()
        if provider is not None:
            provider.force_flush()

    app = ConnectionAwareApp(title="e-Kinerja simulator", lifespan=lifespan)
    app.state.sim = sim
    config = sim.settings
    door = ClientDoor(config.client_id, config.client_secret, config.token_ttl_seconds)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(
            400, "INVALID_PAYLOAD", "Permintaan tidak valid", errors=_jsonable(exc.errors())
        )

    @app.put("/skp/{nip}/{period}")
    async def put_skp(nip: str, period: str, request: Request) -> Response:
        if not door.admits(request.headers.get("authorization")):
            return unauthorized()
        return await handle_record(sim, request, Target(RecordKind.SKP, nip, period))

    @app.put("/predikat/{nip}/{period}")
    async def put_predikat(nip: str, period: str, request: Request) -> Response:
        if not door.admits(request.headers.get("authorization")):
            return unauthorized()
        return await handle_record(sim, request, Target(RecordKind.PREDIKAT, nip, period))

    @app.put("/penilaian-periodik/{nip}/{period}/{n}")
    async def put_penilaian_periodik(
        nip: str, period: str, request: Request, n: int = Path(ge=1)
    ) -> Response:
        if not door.admits(request.headers.get("authorization")):
            return unauthorized()
        target = Target(RecordKind.PENILAIAN_PERIODIK, nip, period, n)
        return await handle_record(sim, request, target)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(oauth_router(door))
    app.include_router(admin_router(sim))
    app.include_router(ledger_router(sim))
    if provider is not None:
        instrument(app, provider)
    return app


def _jsonable(errors: object) -> object:
    # Validation errors may carry the offending exception object in "ctx".
    return jsonable_encoder(errors, custom_encoder={Exception: str})
