"""Who may do what: docs/domain.md §1.3 as one table, and every HTTP operation's place in it.

``PERMISSIONS`` is the rule (role → scope for each resource and action); ``OPERATIONS`` maps
each route of each service to one permission. The routes enforce the rule through
``kinerja_shared.access``; tests/api/test_access_matrix.py sends every operation of every
service's OpenAPI document as each kind of outsider and checks the answer this table predicts,
and docs/security.md holds ``markdown_table()`` verbatim (a test compares them).

How a refusal reads (docs/security.md, "Refusals say nothing about what exists"): a caller who
may not see a teacher, plan or school gets 403 with the code of their role (ROLE_FORBIDDEN,
NOT_OWN_RECORD, V-10, OUTSIDE_AREA) whether or not it exists; 404 goes only to a caller who
would be allowed to see it.

Pure data: no I/O, importable anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from .auth.claims import Role

__all__ = ["OPERATIONS", "PERMISSIONS", "Permission", "Scope", "markdown_table", "permission_of"]


class Scope(StrEnum):
    """Whose records a role reaches with a permission."""

    NONE = "—"
    ANY = "✔"
    """Not about anyone's records (the catalog, an operator's redrive)."""
    ALL = "all"
    OWN = "own"
    OWN_DELIVERED = "own, once e-Kinerja has it"
    ATASAN = "atasan"
    OWN_OR_ATASAN = "own, or atasan"
    OWN_AND_TEACHERS = "own + their teachers"
    SCHOOL = "KS of that school (their teachers)"
    ATASAN_IN_SCHOOL = "atasan of a teacher of that school"
    AREA = "area"
    AREA_ROSTER_FIXABLE = "area, roster-fixable reasons (BKN-E01–E06)"
    """Its area's schools, and only what a roster fix can solve (bkn-sync's redrive)."""


@dataclass(frozen=True)
class Permission:
    key: str
    action: str
    scopes: Mapping[Role, Scope] = field(default_factory=dict)

    def scope(self, role: Role) -> Scope:
        return self.scopes.get(role, Scope.NONE)

    @property
    def reads(self) -> bool:
        return self.key.endswith(".read")


def _p(key: str, action: str, **scopes: Scope) -> Permission:
    return Permission(key, action, MappingProxyType({Role(r): s for r, s in scopes.items()}))


_READ_TEACHER = {
    "guru": Scope.OWN,
    "kepala_sekolah": Scope.OWN_AND_TEACHERS,
    "dinas": Scope.AREA,
    "operator": Scope.ALL,
}

PERMISSIONS: tuple[Permission, ...] = (
    _p(
        "reference.read",
        "Read the catalog and the periods",
        guru=Scope.ANY,
        kepala_sekolah=Scope.ANY,
        dinas=Scope.ANY,
        operator=Scope.ANY,
    ),
    _p(
        "plan.write",
        "Create, edit, submit, withdraw, agree a plan",
        guru=Scope.OWN,
        kepala_sekolah=Scope.OWN,
    ),
    _p("plan.review", "Approve or return a submitted plan", kepala_sekolah=Scope.ATASAN),
    _p(
        "plan.revise",
        "Reopen an agreed plan (revision)",
        guru=Scope.OWN,
        kepala_sekolah=Scope.OWN_OR_ATASAN,
    ),
    _p("plan.read", "Read a plan and its history", **_READ_TEACHER),
    _p(
        "observation.schedule",
        "Schedule or reschedule the observation",
        guru=Scope.OWN,
        kepala_sekolah=Scope.OWN_OR_ATASAN,
    ),
    _p(
        "observation.conduct",
        "Cancel, conduct, give feedback on an observation",
        kepala_sekolah=Scope.ATASAN,
    ),
    _p(
        "followup.write",
        "Record follow-up actions and reflection",
        guru=Scope.OWN,
        kepala_sekolah=Scope.OWN,
    ),
    _p("followup.review", "Review the follow-up", kepala_sekolah=Scope.ATASAN),
    _p(
        "report.write",
        "Fill the competency-development and main-duty reports",
        guru=Scope.OWN,
        kepala_sekolah=Scope.OWN,
    ),
    _p("report.verify", "Verify those reports", kepala_sekolah=Scope.ATASAN),
    # docs/domain.md §1.3 gives the Dinas its area here (§1.1 lists only plans, assessments,
    # predikat and deliveries): the table wins until the rule changes.
    _p("observation.read", "Read observation, follow-up, reports", **_READ_TEACHER),
    _p("assessment.read", "Read an assessment", **_READ_TEACHER),
    _p("assessment.rate", "Rate a teacher (HK, PK)", kepala_sekolah=Scope.ATASAN),
    _p(
        "school_assessment.read",
        "School summary of assessments",
        kepala_sekolah=Scope.SCHOOL,
        dinas=Scope.AREA,
        operator=Scope.ALL,
    ),
    _p(
        "school_assessment.submit",
        "*Kirim ke Dinas* (submit the assessments)",
        kepala_sekolah=Scope.ATASAN_IN_SCHOOL,
    ),
    _p("org_predikat.write", "Set or revise the *Predikat Kinerja Organisasi*", dinas=Scope.AREA),
    _p(
        "school_predikat.read",
        "Read the org predikat and the school's predikat list",
        kepala_sekolah=Scope.SCHOOL,
        dinas=Scope.AREA,
        operator=Scope.ALL,
    ),
    _p(
        "curve_policy.read",
        "Read whether the distribution curve is a warning or a rule in an area",
        dinas=Scope.AREA,
        operator=Scope.ALL,
    ),
    _p(
        "curve_policy.write",
        "Choose warning or rule for the distribution curve in the Dinas' area",
        dinas=Scope.AREA,
    ),
    _p(
        "predikat.decide",
        "Change a teacher's draft predikat, *Kirim ke guru*, correct a sent predikat",
        kepala_sekolah=Scope.ATASAN,
    ),
    _p(
        "school_predikat.decide",
        "*Tetapkan* the school, *Kirim ke guru* for the school",
        kepala_sekolah=Scope.ATASAN_IN_SCHOOL,
    ),
    _p(
        "predikat.read",
        "Read a teacher's predikat",
        guru=Scope.OWN_DELIVERED,
        kepala_sekolah=Scope.OWN_AND_TEACHERS,
        dinas=Scope.AREA,
        operator=Scope.ALL,
    ),
    _p("delivery.read", "Read one teacher's deliveries to e-Kinerja", **_READ_TEACHER),
    _p(
        "deliveries.read",
        "List deliveries, counts, parked deliveries by reason and school, breaker state",
        dinas=Scope.AREA,
        operator=Scope.ALL,
    ),
    _p(
        "delivery.redrive",
        "Redrive parked and dead deliveries",
        dinas=Scope.AREA_ROSTER_FIXABLE,
        operator=Scope.ANY,
    ),
    _p(
        "deliveries.pause",
        "Pause and resume every delivery to e-Kinerja (BKN's maintenance)",
        operator=Scope.ANY,
    ),
)

_BY_KEY = {p.key: p for p in PERMISSIONS}

# (service, METHOD, path template) -> permission key. A route missing here fails the access
# matrix test: every new route must say which rule it follows.
OPERATIONS: Mapping[tuple[str, str, str], str] = MappingProxyType(
    {
        ("planning", "GET", "/catalog"): "reference.read",
        ("planning", "GET", "/periods"): "reference.read",
        ("planning", "POST", "/plans"): "plan.write",
        ("planning", "GET", "/plans"): "plan.read",
        ("planning", "GET", "/plans/{plan_id}"): "plan.read",
        ("planning", "GET", "/plans/{plan_id}/history"): "plan.read",
        ("planning", "PUT", "/plans/{plan_id}"): "plan.write",
        ("planning", "POST", "/plans/{plan_id}/submit"): "plan.write",
        ("planning", "POST", "/plans/{plan_id}/withdraw"): "plan.write",
        ("planning", "POST", "/plans/{plan_id}/agree"): "plan.write",
        ("planning", "POST", "/plans/{plan_id}/approve"): "plan.review",
        ("planning", "POST", "/plans/{plan_id}/return"): "plan.review",
        ("planning", "POST", "/plans/{plan_id}/revise"): "plan.revise",
        ("observation", "GET", "/observations/{nip}/{period_id}"): "observation.read",
        ("observation", "GET", "/observations/{nip}/{period_id}/history"): "observation.read",
        ("observation", "GET", "/observations/{nip}/{period_id}/followup"): "observation.read",
        ("observation", "GET", "/observations/{nip}/{period_id}/competency"): "observation.read",
        ("observation", "GET", "/observations/{nip}/{period_id}/duties"): "observation.read",
        (
            "observation",
            "POST",
            "/observations/{nip}/{period_id}/schedule",
        ): "observation.schedule",
        (
            "observation",
            "POST",
            "/observations/{nip}/{period_id}/reschedule",
        ): "observation.schedule",
        ("observation", "POST", "/observations/{nip}/{period_id}/cancel"): "observation.conduct",
        ("observation", "POST", "/observations/{nip}/{period_id}/conduct"): "observation.conduct",
        (
            "observation",
            "POST",
            "/observations/{nip}/{period_id}/feedback",
        ): "observation.conduct",
        (
            "observation",
            "POST",
            "/observations/{nip}/{period_id}/followup/actions",
        ): "followup.write",
        (
            "observation",
            "POST",
            "/observations/{nip}/{period_id}/followup/reflection",
        ): "followup.write",
        (
            "observation",
            "POST",
            "/observations/{nip}/{period_id}/followup/review",
        ): "followup.review",
        ("observation", "PUT", "/observations/{nip}/{period_id}/competency"): "report.write",
        ("observation", "PUT", "/observations/{nip}/{period_id}/duties"): "report.write",
        (
            "observation",
            "POST",
            "/observations/{nip}/{period_id}/competency/verify",
        ): "report.verify",
        (
            "observation",
            "POST",
            "/observations/{nip}/{period_id}/duties/verify",
        ): "report.verify",
        ("assessment", "GET", "/assessments/{nip}/{period_id}"): "assessment.read",
        ("assessment", "PUT", "/assessments/{nip}/{period_id}/rating"): "assessment.rate",
        ("assessment", "GET", "/sekolah/{npsn}/{period_id}"): "school_assessment.read",
        (
            "assessment",
            "POST",
            "/sekolah/{npsn}/{period_id}/kirim-ke-dinas",
        ): "school_assessment.submit",
        ("predikat", "GET", "/organisasi/{npsn}/{period_id}"): "school_predikat.read",
        ("predikat", "PUT", "/organisasi/{npsn}/{period_id}"): "org_predikat.write",
        ("predikat", "GET", "/predikat/{nip}/{period_id}"): "predikat.read",
        ("predikat", "PUT", "/predikat/{nip}/{period_id}"): "predikat.decide",
        ("predikat", "POST", "/predikat/{nip}/{period_id}/kirim"): "predikat.decide",
        ("predikat", "POST", "/predikat/{nip}/{period_id}/koreksi"): "predikat.decide",
        ("predikat", "GET", "/sekolah/{npsn}/{period_id}"): "school_predikat.read",
        ("predikat", "POST", "/sekolah/{npsn}/{period_id}/tetapkan"): "school_predikat.decide",
        ("predikat", "POST", "/sekolah/{npsn}/{period_id}/kirim"): "school_predikat.decide",
        ("predikat", "GET", "/wilayah/{area}/sebaran"): "curve_policy.read",
        ("predikat", "PUT", "/wilayah/{area}/sebaran"): "curve_policy.write",
        ("bkn_sync", "GET", "/deliveries"): "deliveries.read",
        ("bkn_sync", "GET", "/deliveries/counts"): "deliveries.read",
        ("bkn_sync", "GET", "/deliveries/parked/groups"): "deliveries.read",
        ("bkn_sync", "GET", "/breaker"): "deliveries.read",
        ("bkn_sync", "GET", "/deliveries/{nip}"): "delivery.read",
        ("bkn_sync", "POST", "/redrive"): "delivery.redrive",
        ("bkn_sync", "GET", "/pause"): "deliveries.pause",
        ("bkn_sync", "PUT", "/pause"): "deliveries.pause",
        ("bkn_sync", "DELETE", "/pause"): "deliveries.pause",
    }
)


def permission_of(service: str, method: str, path: str) -> Permission:
    """The permission an operation follows; KeyError for one the table does not list."""
    return _BY_KEY[OPERATIONS[(service, method.upper(), path)]]


ROLE_COLUMNS = (Role.GURU, Role.KEPALA_SEKOLAH, Role.DINAS, Role.OPERATOR)


def markdown_table() -> str:
    """The table as docs/security.md holds it: one row per permission, its operations."""
    ops: dict[str, list[str]] = {}
    for (service, method, path), key in OPERATIONS.items():
        ops.setdefault(key, []).append(f"`{service} {method} {path}`")
    lines = [
        "| Permission | Action (docs/domain.md §1.3) | Guru | Kepala Sekolah | Dinas | Operator "
        "| Operations |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in PERMISSIONS:
        roles = " | ".join(p.scope(r).value for r in ROLE_COLUMNS)
        lines.append(f"| `{p.key}` | {p.action} | {roles} | {'<br>'.join(ops.get(p.key, []))} |")
    return "\n".join(lines) + "\n"
