"""The plan (SKP) as a resource: the teacher writes, submits, withdraws and agrees it; the atasan
approves or returns it; everyone reads what §1.3 lets them read."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field, field_validator
from uuid6 import uuid7

from kinerja_shared import access
from kinerja_shared.auth import Role
from kinerja_shared.fields import LIST_MAX, SHORT_LIST_MAX, Code, Item, Name, Reason, Reference
from kinerja_shared.http import CurrentPrincipal, Db, error_responses
from kinerja_shared.refusal import Refusal

from .. import repository
from ..domain.eligibility import require_eligible
from ..domain.periods import require_open_for_planning, require_plan_stage_open
from ..domain.plan import (
    Atasan,
    Plan,
    PlanContent,
    Transition,
    TugasTambahan,
    already_planned,
    new_plan,
)
from .deps import (
    IfMatch,
    Rules,
    by_atasan,
    by_owner,
    by_owner_or_atasan,
    command,
    expected,
    now,
    readable_plan,
    today,
)
from .views import HistoryView, PlanView, history_view, plan_view

router = APIRouter(prefix="/plans", tags=["plans"])


# BerAKHLAK has seven core values: a focus lists some of them, each once (V-07).
BERAKHLAK_MAX = 7
TUGAS_TAMBAHAN_MAX = 10


class TugasTambahanIn(BaseModel):
    nama: Name
    deskripsi: Item = Field(default="", description="Required from the 2025 rules on (V-08).")
    surat_tugas: Reference | None = Field(
        default=None, description="Reference of the uploaded Surat Tugas (2024 rules, V-08)."
    )


class ContentIn(BaseModel):
    sub_indikator: list[Code] = Field(
        default_factory=list,
        max_length=SHORT_LIST_MAX,
        description="Exactly one code from GET /catalog (V-05).",
    )
    indikator_kompetensi: list[Code] = Field(
        default_factory=list,
        max_length=SHORT_LIST_MAX,
        description="Exactly one code from GET /catalog (V-06).",
    )
    tugas_pokok: list[Item] = Field(default_factory=list, max_length=LIST_MAX)
    tugas_tambahan: list[TugasTambahanIn] = Field(
        default_factory=list, max_length=TUGAS_TAMBAHAN_MAX
    )
    perilaku_fokus: list[Code] = Field(
        default_factory=list,
        max_length=BERAKHLAK_MAX,
        description="At least one BerAKHLAK code (V-07).",
    )

    @field_validator("sub_indikator", "indikator_kompetensi", mode="before")
    @classmethod
    def _one_as_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    def to_domain(self) -> PlanContent:
        return PlanContent(
            sub_indikator=tuple(self.sub_indikator),
            indikator_kompetensi=tuple(self.indikator_kompetensi),
            tugas_pokok=tuple(self.tugas_pokok),
            tugas_tambahan=tuple(TugasTambahan(**t.model_dump()) for t in self.tugas_tambahan),
            perilaku_fokus=tuple(self.perilaku_fokus),
        )


class CreatePlan(ContentIn):
    period_id: Code = Field(examples=["2025"])


class EditPlan(ContentIn):
    expected_version: int | None = None


class Command(BaseModel):
    expected_version: int | None = Field(
        default=None, description="The version last read; stale → 409 V-15."
    )


class ReturnPlan(Command):
    note: Reason = Field(description="What to revise; at least 20 characters (V-11).")


class RevisePlan(Command):
    reason: Reason = Field(description="Why the agreed SKP changes; at least 20 characters.")


@router.post("", status_code=status.HTTP_201_CREATED, responses=error_responses(403, 404, 409, 422))
async def create_plan(
    body: CreatePlan, principal: CurrentPrincipal, pool: Db, rules: Rules, response: Response
) -> PlanView:
    """Guru (or Kepala Sekolah for an own SKP) opens a draft for an open period."""
    access.require_role(principal, Role.GURU, Role.KEPALA_SEKOLAH)
    assert principal.nip is not None
    async with pool.acquire() as conn, conn.transaction():
        teacher = await access.teacher_on_roster(conn, principal.nip)
        require_eligible(teacher["jenis_ptk"], teacher["naungan"])
        period = require_open_for_planning(rules.calendar, body.period_id, today())
        plan = new_plan(
            plan_id=str(UUID(str(uuid7()))),
            nip=principal.nip,
            npsn=teacher["npsn"],
            period_id=period.period_id,
            rules_version=period.rules_version,
            content=body.to_domain(),
            catalog=rules.catalog,
        )
        try:
            await repository.insert(conn, plan, actor=principal.nip)
        except repository.DuplicatePlan as exc:
            raise already_planned() from exc
    return plan_view(plan, rules, response)


@router.get("", responses=error_responses(403))
async def list_plans(
    principal: CurrentPrincipal,
    pool: Db,
    rules: Rules,
    period_id: str | None = None,
    nip: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[PlanView]:
    """Guru: own plans; Kepala Sekolah: own and their teachers'; Dinas: own area; operator: all."""
    if principal.role is Role.GURU and nip is not None and nip != principal.nip:
        raise access.forbidden(
            "NOT_OWN_RECORD", "Anda hanya dapat melihat data kinerja Anda sendiri."
        )
    plans = await repository.list_visible(
        pool, principal, period_id=period_id, nip=nip, limit=limit
    )
    return [plan_view(p, rules) for p in plans]


@router.get("/{plan_id}", responses=error_responses(403, 404))
async def get_plan(
    plan_id: str, principal: CurrentPrincipal, pool: Db, rules: Rules, response: Response
) -> PlanView:
    plan = await readable_plan(pool, principal, plan_id)
    return plan_view(plan, rules, response)


@router.put("/{plan_id}", responses=error_responses(403, 404, 409, 422))
async def edit_plan(
    plan_id: str,
    body: EditPlan,
    principal: CurrentPrincipal,
    pool: Db,
    rules: Rules,
    response: Response,
    if_match: IfMatch = None,
) -> PlanView:
    """Guru rewrites a DRAF or DIKEMBALIKAN plan."""

    async def decide(_: repository.Conn, plan: Plan) -> Transition:
        require_plan_stage_open(rules.calendar, plan.period_id, today())
        return plan.edit(body.to_domain(), rules.catalog)

    plan = await command(
        pool, plan_id, principal, expected(if_match, body.expected_version), by_owner, decide
    )
    return plan_view(plan, rules, response)


@router.post("/{plan_id}/submit", responses=error_responses(403, 404, 409, 422))
async def submit_plan(
    plan_id: str,
    principal: CurrentPrincipal,
    pool: Db,
    rules: Rules,
    response: Response,
    body: Command | None = None,
    if_match: IfMatch = None,
) -> PlanView:
    """Guru submits to the atasan on the roster; with a Plt. atasan it is approved at once."""

    async def decide(conn: repository.Conn, plan: Plan) -> Transition:
        require_plan_stage_open(rules.calendar, plan.period_id, today())
        teacher = await access.teacher_on_roster(conn, plan.nip)
        atasan = Atasan(nip=teacher["atasan_nip"], plt=teacher["atasan_plt"])
        return plan.submit(atasan, rules.catalog, now())

    versions = expected(if_match, body.expected_version if body else None)
    try:
        plan = await command(pool, plan_id, principal, versions, by_owner, decide)
    except Refusal as refused:
        if refused.detail.get("waits_for_atasan"):
            # The refusal rolled the command back; the wait is remembered on its own, so the
            # roster fix can submit the plan by itself (handlers.on_pegawai_changed).
            async with pool.acquire() as conn:
                await repository.wait_for_atasan(conn, plan_id, refused.detail["version"])
        raise
    return plan_view(plan, rules, response)


@router.post("/{plan_id}/withdraw", responses=error_responses(403, 404, 409))
async def withdraw_plan(
    plan_id: str,
    principal: CurrentPrincipal,
    pool: Db,
    rules: Rules,
    response: Response,
    body: Command | None = None,
    if_match: IfMatch = None,
) -> PlanView:
    """Guru takes a submitted plan back to DRAF before the atasan decides."""

    async def decide(_: repository.Conn, plan: Plan) -> Transition:
        return plan.withdraw(principal.nip or "")

    versions = expected(if_match, body.expected_version if body else None)
    plan = await command(pool, plan_id, principal, versions, by_owner, decide)
    return plan_view(plan, rules, response)


@router.post("/{plan_id}/agree", responses=error_responses(403, 404, 409))
async def agree_plan(
    plan_id: str,
    principal: CurrentPrincipal,
    pool: Db,
    rules: Rules,
    response: Response,
    body: Command | None = None,
    if_match: IfMatch = None,
) -> PlanView:
    """Guru agrees the approved plan (DISEPAKATI): this is the SKP sent to e-Kinerja."""

    async def decide(_: repository.Conn, plan: Plan) -> Transition:
        return plan.agree(principal.nip or "", now())

    versions = expected(if_match, body.expected_version if body else None)
    plan = await command(pool, plan_id, principal, versions, by_owner, decide)
    return plan_view(plan, rules, response)


@router.post("/{plan_id}/approve", responses=error_responses(403, 404, 409))
async def approve_plan(
    plan_id: str,
    principal: CurrentPrincipal,
    pool: Db,
    rules: Rules,
    response: Response,
    body: Command | None = None,
    if_match: IfMatch = None,
) -> PlanView:
    """Kepala Sekolah, as the teacher's atasan on the roster, approves a submitted plan."""

    async def decide(_: repository.Conn, plan: Plan) -> Transition:
        return plan.approve(principal.nip or "", now())

    versions = expected(if_match, body.expected_version if body else None)
    plan = await command(pool, plan_id, principal, versions, by_atasan, decide)
    return plan_view(plan, rules, response)


@router.post("/{plan_id}/return", responses=error_responses(403, 404, 409, 422))
async def return_plan(
    plan_id: str,
    body: ReturnPlan,
    principal: CurrentPrincipal,
    pool: Db,
    rules: Rules,
    response: Response,
    if_match: IfMatch = None,
) -> PlanView:
    """Kepala Sekolah returns a submitted plan with a revision note (≥ 20 characters)."""

    async def decide(_: repository.Conn, plan: Plan) -> Transition:
        return plan.return_for_revision(principal.nip or "", body.note)

    versions = expected(if_match, body.expected_version)
    plan = await command(
        pool, plan_id, principal, versions, by_atasan, decide, note=body.note.strip()
    )
    return plan_view(plan, rules, response)


@router.post("/{plan_id}/revise", responses=error_responses(403, 404, 409, 422))
async def revise_plan(
    plan_id: str,
    body: RevisePlan,
    principal: CurrentPrincipal,
    pool: Db,
    rules: Rules,
    response: Response,
    if_match: IfMatch = None,
) -> PlanView:
    """Guru (or the teacher's Kepala Sekolah) reopens an agreed SKP while the plan stage is
    open: the next revision, DIREVISI, is edited like a draft and needs approval and agreement
    again. The agreed revision stays in the history."""

    async def decide(_: repository.Conn, plan: Plan) -> Transition:
        require_plan_stage_open(rules.calendar, plan.period_id, today())
        return plan.revise(body.reason)

    versions = expected(if_match, body.expected_version)
    plan = await command(
        pool, plan_id, principal, versions, by_owner_or_atasan, decide, note=body.reason.strip()
    )
    return plan_view(plan, rules, response)


@router.get("/{plan_id}/history", responses=error_responses(403, 404))
async def plan_history(plan_id: str, principal: CurrentPrincipal, pool: Db) -> HistoryView:
    """Every revision of the SKP with its content, and every version: state, who, when, note."""
    plan = await readable_plan(pool, principal, plan_id)
    return history_view(plan, await repository.history(pool, plan_id))
