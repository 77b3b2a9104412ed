from fastapi import FastAPI

from kinerja_shared.service import Runtime, create_service_app

from . import api, api_followup, api_reports, handlers
from .config import Settings
from .domain.calendar import Clock, periods, system_clock


def create_app(settings: Settings, *, clock: Clock = system_clock) -> FastAPI:
    periods()  # a broken period calendar stops start-up, not the first request
    app = create_service_app(
        "observation",
        settings,
        routers=[api.router, api_followup.router, api_reports.router],
        register=handlers.register,
        description=(
            "Classroom observation: schedule, reschedule, cancel, rubric and feedback; the "
            "follow-up; competency-development and main-duty reports."
        ),
    )
    # "Today" decides what is in the past (V-13) and when an observation is due.
    app.state.runtime.extras["clock"] = clock
    return app


__all__ = ["Runtime", "create_app"]
