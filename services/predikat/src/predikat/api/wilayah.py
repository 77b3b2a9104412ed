"""A Dinas's own rule for the distribution curve in its area (docs/domain.md §4.2): a warning
the Kepala Sekolah passes with a written reason (PERINGATAN), or a rule that refuses (WAJIB)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel

from kinerja_shared import access
from kinerja_shared.auth import Principal, Role
from kinerja_shared.http import CurrentPrincipal, Db, error_responses

from .. import repository
from ..config import Settings

router = APIRouter(prefix="/wilayah", tags=["wilayah"])

AreaPath = Annotated[str, Path(pattern=r"^[0-9]{2}(?:[0-9]{2})?$", description="kode wilayah")]


class CurveMode(StrEnum):
    PERINGATAN = "PERINGATAN"  # a violation needs a written reason (≥ 20 characters)
    WAJIB = "WAJIB"  # a violation refuses the penetapan


class CurvePolicyRequest(BaseModel):
    mode: CurveMode


class CurvePolicyView(BaseModel):
    area: str
    mode: CurveMode
    source: str  # "dinas": set through this API; "deployment": the service's setting
    set_by: str | None = None
    set_at: datetime | None = None


def _may_read(principal: Principal, area: str) -> None:
    if principal.role is Role.OPERATOR:
        return
    _may_set(principal, area)


def _may_set(principal: Principal, area: str) -> None:
    access.require_role(principal, Role.DINAS)
    if principal.area is None or not area.startswith(principal.area):
        raise access.outside_area()


def deployment_strict(settings: Settings, kode_wilayah: str) -> bool:
    return any(kode_wilayah.startswith(a) for a in settings.strict_distribution_areas)


async def is_strict(conn: repository.Conn, request: Request, kode_wilayah: str) -> bool:
    """A Dinas's own choice for the school's area wins over the deployment's list."""
    mode = await repository.curve_policy_for(conn, kode_wilayah)
    if mode is not None:
        return mode == CurveMode.WAJIB
    settings: Settings = request.app.state.runtime.settings
    return deployment_strict(settings, kode_wilayah)


@router.get("/{area}/sebaran", responses=error_responses(403, 422))
async def get_curve_policy(
    area: AreaPath, principal: CurrentPrincipal, pool: Db, request: Request
) -> CurvePolicyView:
    _may_read(principal, area)
    row = await repository.get_curve_policy(pool, area)
    if row is not None:
        return CurvePolicyView(
            area=area, mode=row["mode"], source="dinas", set_by=row["set_by"], set_at=row["set_at"]
        )
    strict = await is_strict(pool, request, area)
    return CurvePolicyView(
        area=area, mode=CurveMode.WAJIB if strict else CurveMode.PERINGATAN, source="deployment"
    )


@router.put("/{area}/sebaran", responses=error_responses(403, 422))
async def set_curve_policy(
    area: AreaPath, body: CurvePolicyRequest, principal: CurrentPrincipal, pool: Db
) -> CurvePolicyView:
    _may_set(principal, area)
    by = principal.nip or principal.subject
    row = await repository.set_curve_policy(pool, area, body.mode.value, by)
    return CurvePolicyView(
        area=area, mode=row["mode"], source="dinas", set_by=row["set_by"], set_at=row["set_at"]
    )
