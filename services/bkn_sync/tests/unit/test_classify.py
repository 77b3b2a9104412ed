import pytest
from hypothesis import given
from hypothesis import strategies as st

from bkn_sync.domain.classify import (
    DROPPED,
    ROSTER_FIXABLE,
    Actor,
    Transport,
    Verdict,
    classify,
)

PARKED_CODES = [
    ("NIP_NOT_FOUND", "BKN-E01", Actor.OPERATOR_SEKOLAH),
    ("DUKCAPIL_MISMATCH", "BKN-E02", Actor.OPERATOR_SEKOLAH),
    ("USER_PMM_MISSING", "BKN-E03", Actor.ADMIN_BKD),
    ("UNOR_NOT_FOUND", "BKN-E04", Actor.ADMIN_INSTANSI),
    ("SKP_ATASAN_MISSING", "BKN-E05", Actor.KEPALA_SEKOLAH),
    ("UNOR_NOT_PADAN", "BKN-E06", Actor.DINAS),
    ("PERIODE_INVALID", "BKN-E09", Actor.ADMIN_INSTANSI),
]


@pytest.mark.parametrize("status", [200, 201, 204])
def test_any_2xx_is_delivered_even_with_an_unreadable_body(status: int) -> None:
    assert classify(status).verdict is Verdict.DELIVERED


@pytest.mark.parametrize("transport", list(Transport))
def test_no_response_is_transient_t01(transport: Transport) -> None:
    outcome = classify(None, transport=transport)
    assert (outcome.verdict, outcome.code) == (Verdict.TRANSIENT, "BKN-T01")
    assert outcome.remedy is not None
    assert outcome.actor is None


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_errors_are_transient_t02(status: int) -> None:
    outcome = classify(status, "SERVICE_UNAVAILABLE")
    assert (outcome.verdict, outcome.code) == (Verdict.TRANSIENT, "BKN-T02")


def test_outage_503_keeps_its_retry_after() -> None:
    assert classify(503, "OUTAGE", retry_after=7).retry_after == 7


def test_rate_limit_is_transient_t03_with_retry_after() -> None:
    outcome = classify(429, "RATE_LIMITED", retry_after=3)
    assert (outcome.verdict, outcome.code, outcome.retry_after) == (
        Verdict.TRANSIENT,
        "BKN-T03",
        3,
    )


@pytest.mark.parametrize(("body_code", "code", "actor"), PARKED_CODES)
def test_data_refusals_park_with_remedy_and_actor(body_code: str, code: str, actor: Actor) -> None:
    outcome = classify(422, body_code)
    assert outcome.verdict is Verdict.PARK
    assert outcome.code == code
    assert outcome.actor == actor.value
    assert outcome.remedy
    assert outcome.reason


def test_nip_not_found_remedy_tells_the_operator_to_fix_verval_ptk() -> None:
    remedy = classify(422, "NIP_NOT_FOUND").remedy
    assert remedy is not None
    assert "Verval PTK" in remedy
    assert "SIASN" in remedy


def test_kemenag_is_dropped_with_a_reason_and_never_retried() -> None:
    outcome = classify(422, "KEMENAG")
    assert (outcome.verdict, outcome.code, outcome.actor) == (Verdict.DROP, "BKN-E07", None)
    assert outcome.reason is not None
    assert "Kemenag" in outcome.reason
    assert "BKN-E07" in DROPPED
    assert "BKN-E07" not in ROSTER_FIXABLE


def test_missing_skp_holds_the_predikat_behind_it() -> None:
    outcome = classify(422, "SKP_NOT_FOUND")
    assert (outcome.verdict, outcome.code) == (Verdict.TRANSIENT, "BKN-E08")


def test_stale_version_is_superseded_e11() -> None:
    outcome = classify(409, "STALE_VERSION")
    assert (outcome.verdict, outcome.code) == (Verdict.SUPERSEDE, "BKN-E11")


@pytest.mark.parametrize(
    ("status", "body_code"),
    [
        (400, "INVALID_PAYLOAD"),
        (400, "IDEMPOTENCY_KEY_MISSING"),
        (422, "IDEMPOTENCY_KEY_REUSED"),
        (422, None),
        (404, None),
        (409, "SOMETHING_ELSE"),
    ],
)
def test_other_rejections_are_our_defect_e10_for_engineers(
    status: int, body_code: str | None
) -> None:
    outcome = classify(status, body_code)
    assert (outcome.verdict, outcome.code, outcome.actor) == (
        Verdict.DEAD,
        "BKN-E10",
        Actor.ENGINEERS.value,
    )


def test_roster_fixable_codes_are_e01_to_e06() -> None:
    assert {f"BKN-E0{n}" for n in range(1, 7)} == ROSTER_FIXABLE


@given(
    status=st.one_of(st.none(), st.integers(100, 599)),
    body_code=st.one_of(st.none(), st.text(max_size=20)),
    retry_after=st.one_of(st.none(), st.floats(0, 1e6)),
)
def test_every_answer_gets_a_verdict_and_non_deliveries_a_code(
    status: int | None, body_code: str | None, retry_after: float | None
) -> None:
    outcome = classify(status, body_code, retry_after=retry_after)
    assert isinstance(outcome.verdict, Verdict)
    if outcome.verdict is not Verdict.DELIVERED:
        assert outcome.code is not None
        assert outcome.code.startswith("BKN-")
        assert outcome.reason
