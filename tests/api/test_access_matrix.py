"""Every operation of every service's OpenAPI document, sent by every kind of outsider, answers
what the access table (kinerja_shared.policy, docs/domain.md §1.3) says, and says nothing about
what exists.

The outsiders, against the seeded school in AREA (its Kepala Sekolah and a teacher of theirs):
no token; another teacher (in the other school); a Kepala Sekolah of another school; the Dinas
of another area; the operator. For each, the expectation comes from the table alone:

- no token: 401 AUTH_MISSING;
- a role the table gives nothing (—): 403 ROLE_FORBIDDEN;
- a role the table gives everything (all, ✔): not refused (401/403);
- a role with a scope (own, atasan, area, ...): 403 with the refusal code of its role when the
  operation names a teacher, plan or school; not refused when it names none (a list, or the
  caller's own new plan), and then nothing of the seeded school's people in the answer.

An operation naming a teacher or a plan is also sent for one that does not exist: the outsider
must get exactly the same answer (status, code, message). Schools are public, so an unknown NPSN
may say so (SEKOLAH_NOT_FOUND). No refusal carries a NIP or a name; every status is one the
operation documents.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from apifuzz import (
    AREA,
    OPS_PATHS,
    OTHER_AREA,
    REQUEST_TIMEOUT,
    RunningService,
    _nip,
    openapi_document,
)

from kinerja_shared.auth import Role
from kinerja_shared.policy import OPERATIONS, Scope, markdown_table, permission_of

pytestmark = pytest.mark.infra

SERVICES = ("planning", "observation", "assessment", "predikat", "bkn_sync")
CALLERS = ("no_token", "other_guru", "other_ks", "other_dinas", "operator")
ROLE_OF = {
    "other_guru": Role.GURU,
    "other_ks": Role.KEPALA_SEKOLAH,
    "other_dinas": Role.DINAS,
    "operator": Role.OPERATOR,
}
REFUSAL_CODES = {"ROLE_FORBIDDEN", "NOT_OWN_RECORD", "V-10", "OUTSIDE_AREA"}
PERIOD = "2026"
NAMES = ("Guru Uji", "Kepala Uji", "Guru Lain")
SECURITY_DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"

CONTENT = {
    "sub_indikator": "D1.4",
    "indikator_kompetensi": "KP.3",
    "tugas_pokok": ["Mengajar IPA kelas VIII"],
    "tugas_tambahan": [],
    "perilaku_fokus": ["KOLABORATIF"],
}
REASON = "Alasan yang cukup panjang untuk semua aturan yang ada."
AT = "2026-06-01T09:00:00+07:00"

# A valid body for every operation that takes one, so that what answers is the access rule and
# not the schema. An operation with a body missing here fails test_every_body_is_known.
BODIES: dict[tuple[str, str, str], Any] = {
    ("planning", "POST", "/plans"): {"period_id": PERIOD, **CONTENT},
    ("planning", "PUT", "/plans/{plan_id}"): CONTENT,
    ("planning", "POST", "/plans/{plan_id}/submit"): {},
    ("planning", "POST", "/plans/{plan_id}/withdraw"): {},
    ("planning", "POST", "/plans/{plan_id}/agree"): {},
    ("planning", "POST", "/plans/{plan_id}/approve"): {},
    ("planning", "POST", "/plans/{plan_id}/return"): {"note": REASON},
    ("planning", "POST", "/plans/{plan_id}/revise"): {"reason": REASON},
    ("observation", "POST", "/observations/{nip}/{period_id}/schedule"): {"scheduled_at": AT},
    ("observation", "POST", "/observations/{nip}/{period_id}/reschedule"): {
        "scheduled_at": AT,
        "reason": REASON,
        "expected_revision": 1,
    },
    ("observation", "POST", "/observations/{nip}/{period_id}/cancel"): {"reason": REASON},
    ("observation", "POST", "/observations/{nip}/{period_id}/conduct"): {"rubric_scores": {"1": 3}},
    ("observation", "POST", "/observations/{nip}/{period_id}/feedback"): {"feedback": REASON},
    ("observation", "POST", "/observations/{nip}/{period_id}/followup/actions"): {"action": REASON},
    ("observation", "POST", "/observations/{nip}/{period_id}/followup/reflection"): {
        "reflection": REASON
    },
    ("observation", "POST", "/observations/{nip}/{period_id}/followup/review"): {"comment": REASON},
    ("observation", "PUT", "/observations/{nip}/{period_id}/competency"): {
        "activities": [{"text": "Pelatihan daring"}],
        "reflection": REASON,
    },
    ("observation", "PUT", "/observations/{nip}/{period_id}/duties"): {"tugas": ["Mengajar"]},
    ("assessment", "PUT", "/assessments/{nip}/{period_id}/rating"): {"behaviours": {}},
    ("assessment", "POST", "/sekolah/{npsn}/{period_id}/kirim-ke-dinas"): {"exclusions": {}},
    ("predikat", "PUT", "/organisasi/{npsn}/{period_id}"): {"predikat_organisasi": "BAIK"},
    ("predikat", "PUT", "/predikat/{nip}/{period_id}"): {},
    ("predikat", "POST", "/predikat/{nip}/{period_id}/koreksi"): {
        "predikat": "BAIK",
        "reason": REASON,
    },
    ("predikat", "POST", "/sekolah/{npsn}/{period_id}/tetapkan"): {},
    ("predikat", "PUT", "/wilayah/{area}/sebaran"): {"mode": "PERINGATAN"},
    ("bkn_sync", "POST", "/redrive"): {"filters": {}, "dry_run": True},
    # It ends by itself, should the DELETE /pause that follows it (document order) not run.
    ("bkn_sync", "PUT", "/pause"): {
        "reason": REASON,
        "until": (datetime.now(UTC) + timedelta(minutes=10)).isoformat(),
    },
}


@dataclass(frozen=True)
class Operation:
    service: str
    method: str
    path: str
    document: dict[str, Any]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.service, self.method, self.path)

    @property
    def target(self) -> str | None:
        for kind, parameter in (
            ("teacher", "{nip}"),
            ("plan", "{plan_id}"),
            ("school", "{npsn}"),
            ("area", "{area}"),
        ):
            if parameter in self.path:
                return kind
        return None

    @property
    def documented(self) -> set[int]:
        return {int(s) for s in self.document.get("responses", {}) if s.isdigit()}

    def __str__(self) -> str:
        return f"{self.service} {self.method} {self.path}"


def _operations() -> list[Operation]:
    found = []
    for service in SERVICES:
        for path, methods in openapi_document(service)["paths"].items():
            if path in OPS_PATHS:
                continue
            for method, op in methods.items():
                found.append(Operation(service, method.upper(), path, op))
    return found


OPERATION_LIST = _operations()


@dataclass(frozen=True)
class Outsiders:
    """Tokens of the outsiders and the values that fill a path, per running service."""

    running: RunningService
    outsider_ks: str
    absent_nip: str
    absent_plan: str
    absent_npsn: str

    @classmethod
    def of(cls, running: RunningService) -> Outsiders:
        rng = secrets.SystemRandom()
        p = running.people
        taken = {p.guru, p.ks, p.other_guru}
        nips = [n for n in (_nip(rng) for _ in range(10)) if n not in taken]
        return cls(
            running,
            outsider_ks=nips[0],
            absent_nip=nips[1],
            absent_plan="0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b",
            absent_npsn=f"{40_000_000 + rng.randrange(9_999_999):08d}",
        )

    def headers(self, caller: str) -> dict[str, str]:
        idp, p = self.running.idp, self.running.people
        token = {
            "no_token": None,
            "other_guru": lambda: idp.mint(role="guru", nip=p.other_guru, npsn=p.other_npsn),
            "other_ks": lambda: idp.mint(
                role="kepala_sekolah", nip=self.outsider_ks, npsn=p.other_npsn
            ),
            "other_dinas": lambda: idp.mint(role="dinas", area=OTHER_AREA),
            "operator": lambda: idp.mint(role="operator"),
        }[caller]
        return {} if token is None else {"Authorization": f"Bearer {token()}"}

    def url(self, op: Operation, *, present: bool) -> str:
        p = self.running.people
        known_plan = self.running.known.get("plan_id", [self.absent_plan])[0]
        path = op.path.format(
            nip=p.guru if present else self.absent_nip,
            plan_id=known_plan if present else self.absent_plan,
            npsn=p.npsn if present else self.absent_npsn,
            area=AREA,
            period_id=PERIOD,
        )
        return self.running.url + path

    def personal(self) -> tuple[str, ...]:
        p = self.running.people
        return (p.guru, p.ks, *NAMES)


_outsiders: dict[str, Outsiders] = {}


def outsiders_for(request: pytest.FixtureRequest, service: str) -> Outsiders:
    if service not in _outsiders:
        _outsiders[service] = Outsiders.of(request.getfixturevalue(f"{service}_api"))
    return _outsiders[service]


def _send(who: Outsiders, op: Operation, caller: str, *, present: bool) -> httpx.Response:
    return httpx.request(
        op.method,
        who.url(op, present=present),
        json=BODIES.get(op.key),
        headers=who.headers(caller),
        timeout=REQUEST_TIMEOUT,
    )


def _answer(response: httpx.Response) -> tuple[int, Any, Any]:
    body = response.json()
    return response.status_code, body.get("code"), body.get("message")


def _check(
    op: Operation, caller: str, response: httpx.Response, who: Outsiders, *, present: bool
) -> None:
    where = f"{op} as {caller}: {response.status_code} {response.text[:300]}"
    assert response.status_code < 500, where
    assert response.status_code in op.documented, f"undocumented status; {where}"
    if caller == "no_token":
        assert _answer(response)[:2] == (401, "AUTH_MISSING"), where
        return
    perm = permission_of(op.service, op.method, op.path)
    scope = perm.scope(ROLE_OF[caller])
    refused = response.status_code in (401, 403)
    if op.target == "school" and not present and scope is not Scope.NONE:
        # Schools are public: an unknown NPSN may say so to anyone who may read schools.
        assert refused or _answer(response)[:2] == (404, "SEKOLAH_NOT_FOUND"), where
    elif scope is Scope.NONE:
        assert _answer(response)[:2] == (403, "ROLE_FORBIDDEN"), where
    elif scope in (Scope.ALL, Scope.ANY) or op.target is None:
        assert not refused, f"{scope.value} should reach it; {where}"
    else:
        assert response.status_code == 403, f"{scope.value} does not reach it; {where}"
        assert response.json()["code"] in REFUSAL_CODES, where
    if caller != "operator" or response.status_code >= 400:
        leaked = [v for v in who.personal() if v in response.text]
        assert not leaked, f"personal data {leaked} in the answer; {where}"


@pytest.mark.parametrize("op", OPERATION_LIST, ids=str)
def test_each_outsider_gets_what_the_table_says(
    op: Operation, request: pytest.FixtureRequest
) -> None:
    who = outsiders_for(request, op.service)
    for caller in CALLERS:
        present = _send(who, op, caller, present=True)
        _check(op, caller, present, who, present=True)
        if op.target in (None, "area"):
            continue  # an area is not a record: nothing to find out about its existence
        absent = _send(who, op, caller, present=False)
        _check(op, caller, absent, who, present=False)
        if op.target == "school" and absent.json().get("code") == "SEKOLAH_NOT_FOUND":
            continue  # schools are public: see the module docstring
        if present.status_code in (401, 403):
            assert _answer(absent) == _answer(present), (
                f"{op} as {caller}: the answer tells whether it exists: "
                f"{_answer(present)} vs {_answer(absent)}"
            )


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_is_in_the_access_table(service: str) -> None:
    served = {op.key for op in OPERATION_LIST if op.service == service}
    listed = {key for key in OPERATIONS if key[0] == service}

    assert served - listed == set(), "operations the access table does not list"
    assert listed - served == set(), "access table rows for operations that do not exist"


def test_every_body_is_known() -> None:
    taking = {op.key for op in OPERATION_LIST if "requestBody" in op.document}

    assert taking - BODIES.keys() == set()


def test_docs_security_holds_the_table_of_the_code() -> None:
    assert markdown_table() in SECURITY_DOC.read_text(encoding="utf-8")
