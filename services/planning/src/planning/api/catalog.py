"""What a plan may choose from, and which periods are open for planning."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from kinerja_shared.http import CurrentPrincipal, error_responses
from kinerja_shared.periods import Stage

from .deps import Rules, today

router = APIRouter(tags=["catalog"])


@router.get(
    "/catalog",
    summary="Sub indikator D1 with rubrics, competencies, BerAKHLAK",
    responses=error_responses(),
)
async def get_catalog(_: CurrentPrincipal, rules: Rules) -> dict[str, Any]:
    return {k: v for k, v in rules.catalog.raw.items() if not k.startswith("_")}


@router.get(
    "/periods",
    summary="Configured periods and whether planning is open today",
    responses=error_responses(),
)
async def get_periods(_: CurrentPrincipal, rules: Rules) -> list[dict[str, Any]]:
    day = today()
    return [
        {
            "period_id": p.period_id,
            "label": p.label,
            "start": p.start,
            "end": p.end,
            "rules_version": p.rules_version,
            "plan": p.plan.model_dump(),
            "stage_windows": {s.value: p.window(s).model_dump() for s in Stage},
            "open_for_planning": p.is_open(Stage.PLAN, day),
        }
        for p in rules.calendar
    ]
