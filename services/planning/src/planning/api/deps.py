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
    str | None,
    Header(
        max_length=64,
        description="The plan version last read (its ETag); stale → V-15.",
    ),
]


def now() -> datetime:
    return datetime.now(UTC)


def today() -> date:
    return now().astimezone(WIB).date()


def plan_not_found() -> Refusal:
    return Refusal("PLAN_NOT_FOUND", "Perencanaan kinerja tidak ditemukan.", Kind.NOT_FOUND)


async def readable_plan(pool: asyncpg.Pool, principal: Principal, plan_id: str) -> Plan:
    """The plan, if ``principal`` may read its teacher's records. An unknown plan id gets the
    refusal of a plan that is not theirs, except for an operator (who may read every plan), so
    the answer does not tell whether the id exists."""
    plan = await repository.get(pool, plan_id)
    if plan is None:
        if principal.role is Role.OPERATOR:
            raise plan_not_found()
        raise access.unseen(principal)
    await access.authorize_read(pool, principal, plan.nip)
    return plan


# A version has at most nine digits; int() of thousands of digits would raise (a 500).
_MAX_VERSION_DIGITS = 9


def expected(if_match: str | None, body_version: int | None) -> list[int]:
    """The versions the caller says they decided on: the body's and the If-Match header's."""
    found = [body_version] if body_version is not None else []
    if if_match:
        digits = re.search(r"\d+", if_match)
        if digits is None or len(digits.group()) > _MAX_VERSION_DIGITS:
            raise stale_version()
        found.append(int(digits.group()))
    return found


# ``plan`` is None for an unknown plan id: each check then refuses as it would refuse someone
# else's plan, so the answer does not tell whether the id exists.
Authorize = Callable[[repository.Conn, Principal, Plan | None], Awaitable[None]]
Decide = Callable[[repository.Conn, Plan], Awaitable[Transition]]


async def by_owner(_: repository.Conn, principal: Principal, plan: Plan | None) -> None:
    access.require_role(principal, Role.GURU, Role.KEPALA_SEKOLAH)
    if plan is None or principal.nip != plan.nip:
        raise not_own_plan()


async def by_atasan(conn: repository.Conn, principal: Principal, plan: Plan | None) -> None:
    if plan is None:
        access.require_kepala_sekolah(principal)
        raise access.not_atasan()
    await access.authorize_atasan(conn, principal, plan.nip)


async def by_owner_or_atasan(
    conn: repository.Conn, principal: Principal, plan: Plan | None
) -> None:
    # docs/domain.md §2.2: a revision is entered by "KS + Guru", so either side may reopen the SKP.
    if principal.role is Role.KEPALA_SEKOLAH and (plan is None or principal.nip != plan.nip):
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
        await authorize(conn, principal, plan)
        if plan is None:
            raise plan_not_found()
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
