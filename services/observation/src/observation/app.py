from fastapi import FastAPI

from kinerja_shared.service import Runtime, create_service_app

from . import api, handlers
from .config import Settings
from .domain.calendar import Clock, system_clock
from .rules import ObservationRules


def create_app(settings: Settings, *, clock: Clock = system_clock) -> FastAPI:
    rules = ObservationRules.load()
    app = create_service_app(
        "observation",
        settings,
        routers=[api.router],
        register=handlers.register,
        description=(
            "Classroom observation: schedule, reschedule, cancel, rubric and feedback; the "
            "follow-up; competency-development and main-duty reports."
        ),
    )
    # Routes and subscribers both read these from the runtime. "Today" decides what is in the
    # past (V-13) and when an observation is due.
    app.state.runtime.extras["rules"] = rules
    app.state.runtime.extras["clock"] = clock
    return app


__all__ = ["Runtime", "create_app"]
