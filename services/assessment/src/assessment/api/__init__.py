"""assessment's HTTP API: one module per resource, each with its router, put together here."""

from fastapi import APIRouter

from . import assessments, sekolah

router = APIRouter()
router.include_router(assessments.router)
router.include_router(sekolah.router)
