from fastapi import FastAPI

from kinerja_shared.service import create_service_app

from . import api, handlers
from .config import Settings
from .rules import PlanningRules


def create_app(settings: Settings) -> FastAPI:
    rules = PlanningRules.load(settings)
    app = create_service_app(
        "planning",
        settings,
        routers=[api.router],
        register=handlers.register,
        description="The teacher's performance plan (SKP): write, submit, review and agree.",
    )
    app.state.rules = rules
    return app


__all__ = ["create_app"]
