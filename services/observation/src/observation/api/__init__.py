"""observation's HTTP API: one module per resource, each with its router, put together here."""

from fastapi import APIRouter

from . import followups, observations, reports

router = APIRouter()
router.include_router(observations.router)
router.include_router(followups.router)
router.include_router(reports.router)
