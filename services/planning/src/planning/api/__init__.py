"""planning's HTTP API: one module per resource, each with its router, put together here."""

from fastapi import APIRouter

from . import catalog, plans

router = APIRouter()
router.include_router(plans.router)
router.include_router(catalog.router)
