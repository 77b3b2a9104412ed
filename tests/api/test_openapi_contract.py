"""Schemathesis against each service's OpenAPI document (see apifuzz.py): no request draws a
500, every error carries a code and a message, every response is the documented one, every
operation documents its errors, and U+0000 in text is refused.

The same five checks for every service: the tests are made here once per service (named
``test_<service>_<check>``), each against that service's running instance (``<service>_api``
in conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from apifuzz import (
    CONFORMANCE,
    ERROR_CONTRACT,
    HYPOTHESIS,
    NO_SERVER_ERROR,
    NUL,
    RunningService,
    assert_refused_with_code,
    exercise,
    missing_error_responses,
    openapi_document,
    openapi_schema,
    send,
)
from hypothesis import strategies as st

pytestmark = pytest.mark.infra

# U+0000 in text that reaches PostgreSQL (path, query or JSON body); PostgreSQL text cannot hold
# it, so the service must refuse it as invalid input rather than fail with a 500.
NUL_PROBES: dict[str, list[tuple[str, str, str, Any]]] = {
    "planning": [
        ("operator", "GET", "/plans/{nul}", None),
        ("operator", "GET", "/plans?period_id={nul}", None),
        ("operator", "GET", "/plans?nip={nul}", None),
        (
            "guru",
            "POST",
            "/plans",
            {
                "period_id": "2026",
                "sub_indikator": "D1.4",
                "indikator_kompetensi": "KP.3",
                "tugas_pokok": [f"Mengajar{NUL}IPA"],
                "perilaku_fokus": ["KOLABORATIF"],
            },
        ),
    ],
    "observation": [
        ("operator", "GET", "/observations/{nul}/2026", None),
        ("operator", "GET", "/observations/{guru}/{nul}", None),
        ("kepala_sekolah", "GET", "/observations/{guru}/{nul}/followup", None),
    ],
    "assessment": [
        ("operator", "GET", "/assessments/{nul}/2026", None),
        ("operator", "GET", "/assessments/{guru}/{nul}", None),
        ("operator", "GET", "/sekolah/{nul}/2026", None),
        ("operator", "GET", "/sekolah/{npsn}/{nul}", None),
    ],
    "predikat": [
        ("operator", "GET", "/predikat/{nul}/2026", None),
        ("operator", "GET", "/predikat/{guru}/{nul}", None),
        ("operator", "GET", "/organisasi/{nul}/2026", None),
        ("operator", "GET", "/sekolah/{nul}/2026", None),
        ("operator", "GET", "/sekolah/{npsn}/{nul}", None),
    ],
    "bkn_sync": [
        ("operator", "GET", "/deliveries/{nul}", None),
        ("operator", "GET", "/deliveries?npsn={nul}", None),
        ("operator", "GET", "/deliveries?period_id={nul}", None),
        ("operator", "GET", "/deliveries?reason_code={nul}", None),
        ("operator", "GET", "/deliveries/counts?npsn={nul}", None),
        ("operator", "POST", "/redrive", {"filters": {"npsn": NUL}}),
        ("operator", "POST", "/redrive", {"filters": {"reason_codes": [NUL]}}),
    ],
}
SERVICES = list(NUL_PROBES)

# What each generated test checks of every response.
CHECKS = {
    "no_server_error": NO_SERVER_ERROR,
    "errors_carry_code_and_message": ERROR_CONTRACT,
    "responses_conform_to_openapi": CONFORMANCE,
}


def generated_tests(service: str) -> dict[str, Callable[..., None]]:
    """One Schemathesis test per check, over every operation of ``service``'s document."""
    schema = openapi_schema(service)
    tests: dict[str, Callable[..., None]] = {}
    for check, checks in CHECKS.items():
        test = checking(service, checks)
        name = f"test_{service}_{check}"
        test.__name__ = test.__qualname__ = name
        tests[name] = schema.parametrize()(schema.given(data=st.data())(HYPOTHESIS(test)))
    return tests


def checking(service: str, checks: list[Any]) -> Callable[..., None]:
    def test(case: Any, data: st.DataObject, request: pytest.FixtureRequest) -> None:
        running: RunningService = request.getfixturevalue(f"{service}_api")
        exercise(case, data, running, checks)

    return test


for _service in SERVICES:
    globals().update(generated_tests(_service))


@pytest.mark.parametrize("service", SERVICES)
def test_openapi_lists_error_responses(service: str) -> None:
    assert missing_error_responses(openapi_document(service)) == []


@pytest.mark.parametrize(
    ("service", "caller", "method", "path", "body"),
    [(service, *probe) for service, probes in NUL_PROBES.items() for probe in probes],
)
def test_nul_in_text_is_refused_not_a_server_error(
    request: pytest.FixtureRequest, service: str, caller: str, method: str, path: str, body: Any
) -> None:
    running: RunningService = request.getfixturevalue(f"{service}_api")
    assert_refused_with_code(send(running, caller, method, path, body))
