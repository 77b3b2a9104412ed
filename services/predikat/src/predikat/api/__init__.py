"""predikat's HTTP API: one module per resource, each with its router, put together here."""

from fastapi import APIRouter

from . import organisasi, predikat, sekolah, wilayah

router = APIRouter()
router.include_router(organisasi.router)
router.include_router(predikat.router)
router.include_router(sekolah.router)
router.include_router(wilayah.router)
