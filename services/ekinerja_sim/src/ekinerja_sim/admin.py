"""Routes for tests and operators: scripting faults and refusals, reading the ledger."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict

from ekinerja_sim.faults import FaultConfig
from ekinerja_sim.ledger import max_in_window
from ekinerja_sim.records import RecordKind
from ekinerja_sim.refusals import RefusalCode
from ekinerja_sim.simulator import Simulator


class RefusalFlags(BaseModel):
    model_config = ConfigDict(extra="forbid")

    codes: list[RefusalCode]


def admin_router(sim: Simulator) -> APIRouter:
    router = APIRouter(prefix="/admin", tags=["admin"])

    @router.get("/faults")
    async def get_faults() -> dict[str, Any]:
        return sim.faults.snapshot()

    @router.put("/faults")
    async def put_faults(config: FaultConfig) -> dict[str, Any]:
        sim.faults.configure(config)
        return sim.faults.snapshot()

    @router.delete("/faults")
    async def delete_faults() -> dict[str, Any]:
        sim.faults.clear()
        return sim.faults.snapshot()

    @router.get("/settings")
    async def get_settings() -> dict[str, Any]:
        return sim.settings_report()

    @router.get("/refusals")
    async def get_refusals() -> dict[str, list[str]]:
        return sim.refusals.snapshot()

    @router.put("/refusals/{nip}")
    async def put_refusals(nip: str, flags: RefusalFlags) -> dict[str, list[str]]:
        sim.refusals.set(nip, flags.codes)
        return sim.refusals.snapshot()

    @router.delete("/refusals/{nip}")
    async def delete_refusals(nip: str) -> dict[str, list[str]]:
        sim.refusals.clear(nip)
        return sim.refusals.snapshot()

    @router.delete("/refusals/{nip}/{code}")
    async def delete_refusal(nip: str, code: RefusalCode) -> dict[str, list[str]]:
        sim.refusals.clear(nip, code)
        return sim.refusals.snapshot()

    @router.post("/reset", status_code=204)
    async def reset() -> Response:
        sim.reset()
        return Response(status_code=204)

    return router


def ledger_router(sim: Simulator) -> APIRouter:
    router = APIRouter(prefix="/ledger", tags=["ledger"])

    @router.get("")
    async def get_ledger(
        kind: RecordKind | None = None, nip: str | None = None, period: str | None = None
    ) -> dict[str, Any]:
        records = sim.ledger.records(kind, nip, period)
        by_kind = {k.value: sum(1 for r in records if r.target.kind is k) for k in RecordKind}
        return {
            "count": len(records),
            "counts": by_kind,
            "records": [r.as_dict() for r in records],
        }

    @router.get("/attempts")
    async def get_attempts(
        kind: RecordKind | None = None,
        nip: str | None = None,
        period: str | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        attempts = sim.ledger.attempts(kind, nip, period, key)
        return {"count": len(attempts), "attempts": [a.as_dict() for a in attempts]}

    @router.get("/arrivals")
    async def get_arrivals(
        since: float | None = None, until: float | None = None
    ) -> dict[str, Any]:
        """When each record request arrived (epoch seconds), before any limit or fault, and the
        most that arrived in any one-second window: what a gateway's rate limit counts."""
        times = sim.ledger.arrivals(since, until)
        return {
            "count": len(times),
            "max_in_any_second": max_in_window(times, 1.0),
            "times": times,
        }

    @router.get("/summary")
    async def get_summary() -> dict[str, Any]:
        return sim.ledger.summary()

    return router
