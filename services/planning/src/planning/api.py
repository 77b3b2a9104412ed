"""HTTP routes: the teacher writes, submits, withdraws and agrees a plan; the atasan approves or
returns it; everyone reads what §1.3 lets them read."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from pydantic import BaseModel, Field, field_validator
from uuid6 import uuid7

from kinerja_shared import access
from kinerja_shared.auth import Principal, Role
from kinerja_shared.errors import DomainError
from kinerja_shared.http import CurrentPrincipal, Db, error_responses
from kinerja_shared.periods import WIB, Stage

from . import repository
from .domain.eligibility import require_eligible
from .domain.errors import RuleViolation
from .domain.periods import (
    LATE_PLANNING_WARNING,
    planning_is_late,
    require_open_for_planning,
    require_plan_stage_open,
)
from .domain.plan import (
    EDITABLE,
    Atasan,
    Plan,
    PlanContent,
    PlanState,
    Transition,
    TugasTambahan,
    new_plan,
)
from .rules import PlanningRules

router = APIRouter(prefix="/plans", tags=["plans"])
catalog_router = APIRouter(tags=["catalog"])

NOT_FOUND = DomainError("PLAN_NOT_FOUND", "Perencanaan kinerja tidak ditemukan.", 404)
STALE = DomainError("V-15", "Data telah berubah. Muat ulang halaman lalu coba lagi.", 409)
DUPLICATE = DomainError("V-09", "Anda sudah memiliki perencanaan kinerja untuk periode ini.", 409)


def _rules(request: Request) -> PlanningRules:
    rules: PlanningRules = request.app.state.rules
    return rules


Rules = Annotated[PlanningRules, Depends(_rules)]
IfMatch = Annotated[
    str | None, Header(description="The plan version last read (its ETag); stale → V-15.")
]


@contextlib.contextmanager
def _enforced() -> Iterator[None]:
    try:
        yield
    except RuleViolation as exc:
        raise DomainError(exc.code, exc.message, exc.status, **exc.detail) from exc
    except repository.StaleWrite as exc:
        raise STALE from exc


def _now() -> datetime:
    return datetime.now(UTC)


def _today(now: datetime) -> date:
    return now.astimezone(WIB).date()


# --- bodies and views ---------------------------------------------------------------------


class TugasTambahanIn(BaseModel):
    nama: str
    deskripsi: str = Field(default="", description="Required from the 2025 rules on (V-08).")
    surat_tugas: str | None = Field(
        default=None, description="Reference of the uploaded Surat Tugas (2024 rules, V-08)."
    )


class ContentIn(BaseModel):
    sub_indikator: list[str] = Field(
        default_factory=list, description="Exactly one code from GET /catalog (V-05)."
    )
    indikator_kompetensi: list[str] = Field(
        default_factory=list, description="Exactly one code from GET /catalog (V-06)."
    )
    tugas_pokok: list[str] = Field(default_factory=list)
    tugas_tambahan: list[TugasTambahanIn] = Field(default_factory=list)
    perilaku_fokus: list[str] = Field(
        default_factory=list, description="At least one BerAKHLAK code (V-07)."
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
    period_id: str = Field(examples=["2025"])


class EditPlan(ContentIn):
    expected_version: int | None = None


class Command(BaseModel):
    expected_version: int | None = Field(
        default=None, description="The version last read; stale → 409 V-15."
    )


class ReturnPlan(Command):
    note: str = Field(description="What to revise; at least 20 characters (V-11).")


class RevisePlan(Command):
    reason: str = Field(description="Why the agreed SKP changes; at least 20 characters.")


class PlanView(BaseModel):
    plan_id: str
    nip: str
    npsn: str
    period_id: str
    rules_version: int
    state: str
    version: int
    revision: int = Field(description="1 for the first SKP, +1 each time it is reopened.")
    revision_reason: str | None
    content: dict[str, Any]
    atasan_nip: str | None
    return_note: str | None
    approved_by: str | None
    submitted_at: datetime | None
    approved_at: datetime | None
    agreed_at: datetime | None
    peringatan: str | None = None


def _view(plan: Plan, rules: PlanningRules, response: Response | None = None) -> PlanView:
    period = rules.calendar.period(plan.period_id)
    late = (
        period is not None and plan.state in EDITABLE and planning_is_late(period, _today(_now()))
    )
    if response is not None:
        response.headers["ETag"] = f'"{plan.version}"'
    return PlanView(
        plan_id=plan.plan_id,
        nip=plan.nip,
        npsn=plan.npsn,
        period_id=plan.period_id,
        rules_version=plan.rules_version,
        state=plan.state.value,
        version=plan.version,
        revision=plan.revision,
        revision_reason=plan.revision_reason,
        content=plan.content.to_dict(),
        atasan_nip=plan.atasan_nip,
        return_note=plan.return_note,
        approved_by=plan.approved_by.value if plan.approved_by else None,
        submitted_at=plan.submitted_at,
        approved_at=plan.approved_at,
        agreed_at=plan.agreed_at,
        peringatan=LATE_PLANNING_WARNING if late else None,
    )


# --- the command pipeline -----------------------------------------------------------------


def _expected(if_match: str | None, body_version: int | None) -> list[int]:
    found = [body_version] if body_version is not None else []
    if if_match:
        digits = re.search(r"\d+", if_match)
        if digits is None:
            raise STALE
        found.append(int(digits.group()))
    return found


Authorize = Callable[[repository.Conn, Principal, Plan], Awaitable[None]]
Decide = Callable[[repository.Conn, Plan], Awaitable[Transition]]


async def _owner(_: repository.Conn, principal: Principal, plan: Plan) -> None:
    access.require_role(principal, Role.GURU, Role.KEPALA_SEKOLAH)
    if principal.nip != plan.nip:
        raise access.forbidden(
            "NOT_OWN_RECORD", "Anda hanya dapat mengubah perencanaan kinerja Anda sendiri."
        )


async def _atasan(conn: repository.Conn, principal: Principal, plan: Plan) -> None:
    await access.authorize_atasan(conn, principal, plan.nip)


async def _owner_or_atasan(conn: repository.Conn, principal: Principal, plan: Plan) -> None:
    # DOMAIN §2.2: a revision is entered by "KS + Guru", so either side may reopen the SKP.
    if principal.role is Role.KEPALA_SEKOLAH and principal.nip != plan.nip:
        await _atasan(conn, principal, plan)
    else:
        await _owner(conn, principal, plan)


async def _command(
    pool: asyncpg.Pool,
    plan_id: str,
    principal: Principal,
    expected: list[int],
    authorize: Authorize,
    decide: Decide,
    note: str | None = None,
) -> Plan:
    """Load → authorize → check version → decide → save with its events, in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        plan = await repository.get_for_update(conn, plan_id)
        if plan is None:
            raise NOT_FOUND
        await authorize(conn, principal, plan)
        if any(v != plan.version for v in expected):
            raise STALE
        with _enforced():
            transition = await decide(conn, plan)
            await repository.save_transition(
                conn, plan, transition, actor=principal.nip or principal.subject, note=note
            )
    return transition.plan


# --- routes -------------------------------------------------------------------------------


@catalog_router.get(
    "/catalog",
    summary="Sub indikator D1 with rubrics, competencies, BerAKHLAK",
    responses=error_responses(),
)
async def get_catalog(_: CurrentPrincipal, rules: Rules) -> dict[str, Any]:
    return {k: v for k, v in rules.catalog.raw.items() if not k.startswith("_")}


@catalog_router.get(
    "/periods",
    summary="Configured periods and whether planning is open today",
    responses=error_responses(),
)
async def get_periods(_: CurrentPrincipal, rules: Rules) -> list[dict[str, Any]]:
    today = _today(_now())
    return [
        {
            "period_id": p.period_id,
            "label": p.label,
            "start": p.start,
            "end": p.end,
            "rules_version": p.rules_version,
            "plan": p.plan.model_dump(),
            "stage_windows": {s.value: p.window(s).model_dump() for s in Stage},
            "open_for_planning": p.is_open(Stage.PLAN, today),
        }
        for p in rules.calendar
    ]


@router.post("", status_code=status.HTTP_201_CREATED, responses=error_responses(403, 404, 409, 422))
async def create_plan(
    body: CreatePlan, principal: CurrentPrincipal, pool: Db, rules: Rules, response: Response
) -> PlanView:
    """Guru (or Kepala Sekolah for an own SKP) opens a draft for an open period."""
    access.require_role(principal, Role.GURU, Role.KEPALA_SEKOLAH)
    assert principal.nip is not None
    async with pool.acquire() as conn, conn.transaction():
        teacher = await access.teacher_on_roster(conn, principal.nip)
        with _enforced():
            require_eligible(teacher["jenis_ptk"], teacher["naungan"])
            period = require_open_for_planning(rules.calendar, body.period_id, _today(_now()))
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
            raise DUPLICATE from exc
    return _view(plan, rules, response)


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
    return [_view(p, rules) for p in plans]


@router.get("/{plan_id}", responses=error_responses(403, 404))
async def get_plan(
    plan_id: str, principal: CurrentPrincipal, pool: Db, rules: Rules, response: Response
) -> PlanView:
    plan = await repository.get(pool, plan_id)
    if plan is None:
        raise NOT_FOUND
    await access.authorize_read(pool, principal, plan.nip)
    return _view(plan, rules, response)


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
        require_plan_stage_open(rules.calendar, plan.period_id, _today(_now()))
        return plan.edit(body.to_domain(), rules.catalog)

    plan = await _command(
        pool, plan_id, principal, _expected(if_match, body.expected_version), _owner, decide
    )
    return _view(plan, rules, response)


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
        require_plan_stage_open(rules.calendar, plan.period_id, _today(_now()))
        teacher = await access.teacher_on_roster(conn, plan.nip)
        atasan = Atasan(nip=teacher["atasan_nip"], plt=teacher["atasan_plt"])
        return plan.submit(atasan, rules.catalog, _now())

    expected = _expected(if_match, body.expected_version if body else None)
    plan = await _command(pool, plan_id, principal, expected, _owner, decide)
    return _view(plan, rules, response)


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

    expected = _expected(if_match, body.expected_version if body else None)
    plan = await _command(pool, plan_id, principal, expected, _owner, decide)
    return _view(plan, rules, response)


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
        return plan.agree(principal.nip or "", _now())

    expected = _expected(if_match, body.expected_version if body else None)
    plan = await _command(pool, plan_id, principal, expected, _owner, decide)
    return _view(plan, rules, response)


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
        return plan.approve(principal.nip or "", _now())

    expected = _expected(if_match, body.expected_version if body else None)
    plan = await _command(pool, plan_id, principal, expected, _atasan, decide)
    return _view(plan, rules, response)


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

    expected = _expected(if_match, body.expected_version)
    plan = await _command(
        pool, plan_id, principal, expected, _atasan, decide, note=body.note.strip()
    )
    return _view(plan, rules, response)


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
        require_plan_stage_open(rules.calendar, plan.period_id, _today(_now()))
        return plan.revise(body.reason)

    expected = _expected(if_match, body.expected_version)
    plan = await _command(
        pool, plan_id, principal, expected, _owner_or_atasan, decide, note=body.reason.strip()
    )
    return _view(plan, rules, response)


class VersionView(BaseModel):
    version: int
    state: str
    actor: str
    note: str | None
    at: datetime
    content: dict[str, Any] | None = Field(
        description="The content at this version; null for versions recorded before history."
    )


class RevisionView(BaseModel):
    revision: int
    reason: str | None = Field(description="Why this revision was opened; null for the first.")
    agreed: bool
    agreed_at: datetime | None
    content: dict[str, Any] | None = Field(
        description="The agreed content if agreed, else the latest content of this revision."
    )
    versions: list[VersionView]


class HistoryView(BaseModel):
    plan_id: str
    nip: str
    period_id: str
    revision: int
    state: str
    revisions: list[RevisionView]


@router.get("/{plan_id}/history", responses=error_responses(403, 404))
async def plan_history(plan_id: str, principal: CurrentPrincipal, pool: Db) -> HistoryView:
    """Every revision of the SKP with its content, and every version: state, who, when, note."""
    plan = await repository.get(pool, plan_id)
    if plan is None:
        raise NOT_FOUND
    await access.authorize_read(pool, principal, plan.nip)
    by_revision: dict[int, list[VersionView]] = {}
    for row in await repository.history(pool, plan_id):
        by_revision.setdefault(row["revision"], []).append(
            VersionView(
                version=row["version"],
                state=row["state"],
                actor=row["actor"],
                note=row["note"],
                at=row["at"],
                content=row["content"],
            )
        )
    return HistoryView(
        plan_id=plan.plan_id,
        nip=plan.nip,
        period_id=plan.period_id,
        revision=plan.revision,
        state=plan.state.value,
        revisions=[_revision(n, versions) for n, versions in sorted(by_revision.items())],
    )


def _revision(number: int, versions: list[VersionView]) -> RevisionView:
    agreed = next((v for v in versions if v.state == PlanState.DISEPAKATI.value), None)
    opened = next((v for v in versions if v.state == PlanState.DIREVISI.value), None)
    latest = next((v.content for v in reversed(versions) if v.content is not None), None)
    return RevisionView(
        revision=number,
        reason=opened.note if opened is not None and number > 1 else None,
        agreed=agreed is not None,
        agreed_at=agreed.at if agreed is not None else None,
        content=agreed.content if agreed is not None else latest,
        versions=versions,
    )
