"""Schemathesis against the bkn_sync service's OpenAPI document (see apifuzz.py)."""

from __future__ import annotations

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

SERVICE = "bkn_sync"
SCHEMA = openapi_schema(SERVICE)

# U+0000 in text that reaches PostgreSQL (path, query or JSON body); PostgreSQL text cannot hold
# it, so the service must refuse it as invalid input rather than fail with a 500.
NUL_PROBES = [
    ("operator", "GET", "/deliveries/{nul}", None),
    ("operator", "GET", "/deliveries?npsn={nul}", None),
    ("operator", "GET", "/deliveries?period_id={nul}", None),
    ("operator", "GET", "/deliveries?reason_code={nul}", None),
    ("operator", "GET", "/deliveries/counts?npsn={nul}", None),
    ("operator", "POST", "/redrive", {"filters": {"npsn": NUL}}),
    ("operator", "POST", "/redrive", {"filters": {"reason_codes": [NUL]}}),
]

pytestmark = pytest.mark.infra


@SCHEMA.parametrize()
@SCHEMA.given(data=st.data())
@HYPOTHESIS
def test_no_server_error(case: Any, data: st.DataObject, bkn_sync_api: RunningService) -> None:
    exercise(case, data, bkn_sync_api, NO_SERVER_ERROR)


@SCHEMA.parametrize()
@SCHEMA.given(data=st.data())
@HYPOTHESIS
def test_errors_carry_code_and_message(
    case: Any, data: st.DataObject, bkn_sync_api: RunningService
) -> None:
    exercise(case, data, bkn_sync_api, ERROR_CONTRACT)


@SCHEMA.parametrize()
@SCHEMA.given(data=st.data())
@HYPOTHESIS
def test_responses_conform_to_openapi(
    case: Any, data: st.DataObject, bkn_sync_api: RunningService
) -> None:
    exercise(case, data, bkn_sync_api, CONFORMANCE)


def test_openapi_lists_error_responses() -> None:
    assert missing_error_responses(openapi_document(SERVICE)) == []


@pytest.mark.parametrize(("caller", "method", "path", "body"), NUL_PROBES)
def test_nul_in_text_is_refused_not_a_server_error(
    bkn_sync_api: RunningService, caller: str, method: str, path: str, body: Any
) -> None:
    assert_refused_with_code(send(bkn_sync_api, caller, method, path, body))
