from fastapi import FastAPI

from kinerja_shared.service import create_service_app

from . import api, handlers
from .config import Settings
from .domain.calendar import Clock, system_clock
from .parts import ObservationRuntime, Parts
from .rules import ObservationRules


def create_app(settings: Settings, *, clock: Clock = system_clock) -> FastAPI:
    parts = Parts(rules=ObservationRules.load(), clock=clock)

    def register(runtime: ObservationRuntime) -> Parts:
        handlers.register(runtime)
        return parts

    return create_service_app(
        "observation",
        settings,
        routers=[api.router],
        register=register,
        description=(
            "Classroom observation: schedule, reschedule, cancel, rubric and feedback; the "
            "follow-up; competency-development and main-duty reports."
        ),
    )


__all__ = ["create_app"]
