from fastapi import FastAPI

from kinerja_shared.service import create_service_app

from . import api, handlers
from .config import Settings


def create_app(settings: Settings) -> FastAPI:
    return create_service_app(
        "assessment",
        settings,
        routers=[api.router],
        register=handlers.register,
        description="Work-result and behaviour ratings, and the recommended predikat.",
    )


__all__ = ["create_app"]
