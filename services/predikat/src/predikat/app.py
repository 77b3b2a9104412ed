from fastapi import FastAPI

from kinerja_shared.service import create_service_app

from . import api, handlers
from .config import Settings


def create_app(settings: Settings) -> FastAPI:
    return create_service_app(
        "predikat",
        settings,
        routers=[api.router],
        register=handlers.register,
        description="Org predikat, teacher predikat, and sending them to the teachers.",
    )


__all__ = ["create_app"]
