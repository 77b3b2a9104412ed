"""What planning's routes share: the loaded rules, the clock, who may act on a plan, and the
command pipeline every write goes through."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Annotated

import asyncpg
from fastapi import Depends, Header, Request

from kinerja_shared import access, outbox
from kinerja_shared.auth import Principal, Role
from kinerja_shared.periods import WIB
from kinerja_shared.refusal import Kind, Refusal

from .. import repository
from ..domain.plan import Plan, Transition, not_own_plan, stale_version
from ..rules import PlanningRules


def _rules(request: Request) -> PlanningRules:
    rules: PlanningRules = request.app.state.rules
    return rules


Rules = Annotated[PlanningRules, Depends(_rules)]
IfMatch = Annotated[
    str | None, Header(description="The plan version last read (its ETag); stale → V-15.")
]


def now() -> datetime:
    return datetime.now(UTC)


def today() -> date:
    return now().astimezone(WIB).date()


def plan_not_found() -> Refusal:
    return Refusal("PLAN_NOT_FOUND", "Perencanaan kinerja tidak ditemukan.", Kind.NOT_FOUND)


async def readable_plan(pool: asyncpg.Pool, principal: Principal, plan_id: str) -> Plan:
    """The plan, if ``principal`` may read its teacher's records."""
    plan = await repository.get(pool, plan_id)
    if plan is None:
        raise plan_not_found()
    await access.authorize_read(pool, principal, plan.nip)
    return plan


def expected(if_match: str | None, body_version: int | None) -> list[int]:
    """The versions the caller says they decided on: the body's and the If-Match header's."""
    found = [body_version] if body_version is not None else []
    if if_match:
        digits = re.search(r"\d+", if_match)
        if digits is None:
            raise stale_version()
        found.append(int(digits.group()))
    return found


Authorize = Callable[[repository.Conn, Principal, Plan], Awaitable[None]]
Decide = Callable[[repository.Conn, Plan], Awaitable[Transition]]


async def by_owner(_: repository.Conn, principal: Principal, plan: Plan) -> None:
    access.require_role(principal, Role.GURU, Role.KEPALA_SEKOLAH)
    if principal.nip != plan.nip:
        raise not_own_plan()


async def by_atasan(conn: repository.Conn, principal: Principal, plan: Plan) -> None:
    await access.authorize_atasan(conn, principal, plan.nip)


async def by_owner_or_atasan(conn: repository.Conn, principal: Principal, plan: Plan) -> None:
    # docs/domain.md §2.2: a revision is entered by "KS + Guru", so either side may reopen the SKP.
    if principal.role is Role.KEPALA_SEKOLAH and principal.nip != plan.nip:
        await by_atasan(conn, principal, plan)
    else:
        await by_owner(conn, principal, plan)


async def command(
    pool: asyncpg.Pool,
    plan_id: str,
    principal: Principal,
    versions: list[int],
    authorize: Authorize,
    decide: Decide,
    note: str | None = None,
) -> Plan:
    """Load → authorize → check version → decide → save with its events, in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        plan = await repository.get_for_update(conn, plan_id)
        if plan is None:
            raise plan_not_found()
        await authorize(conn, principal, plan)
        if any(v != plan.version for v in versions):
            raise stale_version()
        transition = await decide(conn, plan)
        try:
            await repository.save_transition(
                conn, plan, transition, actor=principal.nip or principal.subject, note=note
            )
        except repository.StaleWrite as exc:
            raise stale_version() from exc
        await outbox.add_events(conn, transition.events)
    return transition.plan
