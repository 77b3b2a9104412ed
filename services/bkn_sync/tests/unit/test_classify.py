from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bkn_sync.domain.classify import (
    DROPPED,
    RECHECKED,
    ROSTER_FIXABLE,
    Actor,
    Outcome,
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
    "body_code", ["VERSION_CONFLICT", "VERSI_LEBIH_BARU_SUDAH_ADA", "DATA_KADALUARSA", None]
)
def test_a_409_holding_a_newer_version_is_superseded_whatever_its_code(
    body_code: str | None,
) -> None:
    outcome = classify(409, body_code, held_version=4, our_version=2)
    assert (outcome.verdict, outcome.code) == (Verdict.SUPERSEDE, "BKN-E11")
    assert outcome.reason == "e-Kinerja sudah menyimpan versi 4 yang lebih baru dari versi 2."


@pytest.mark.parametrize("body_code", ["EDIT_CONFLICT", "stale_record", "OLDER_VERSION"])
def test_a_409_that_speaks_of_versions_is_superseded(body_code: str) -> None:
    assert classify(409, body_code).verdict is Verdict.SUPERSEDE


@pytest.mark.parametrize("held", [2, 1])
def test_a_409_whose_held_version_is_not_newer_is_parked_for_the_kinerja_team(held: int) -> None:
    outcome = classify(409, "STALE_VERSION", held_version=held, our_version=2)
    assert (outcome.verdict, outcome.code, outcome.actor) == (
        Verdict.PARK,
        "BKN-E12",
        Actor.OPERATORS.value,
    )


@pytest.mark.parametrize(
    ("status", "body_code"),
    [(409, "DATA_TERKUNCI"), (422, "UNOR_DIBEKUKAN"), (422, None), (410, None), (423, "LOCKED")],
)
def test_an_answer_kinerja_does_not_know_is_parked_with_e_kinerjas_words(
    status: int, body_code: str | None
) -> None:
    outcome = classify(status, body_code, message="Data sedang diverifikasi oleh BKD")
    assert (outcome.verdict, outcome.code, outcome.actor) == (
        Verdict.PARK,
        "BKN-E12",
        Actor.OPERATORS.value,
    )
    assert outcome.reason is not None
    assert f"HTTP {status}" in outcome.reason
    assert "Data sedang diverifikasi oleh BKD" in outcome.reason
    assert outcome.remedy is not None
    assert "redrive" in outcome.remedy


@pytest.mark.parametrize("status", [401, 403, 407])
def test_access_refused_is_parked_for_the_kinerja_team_e13(status: int) -> None:
    outcome = classify(status, "FORBIDDEN")
    assert (outcome.verdict, outcome.code, outcome.actor) == (
        Verdict.PARK,
        "BKN-E13",
        Actor.OPERATORS.value,
    )


@pytest.mark.parametrize(
    ("status", "body_code"),
    [
        (400, "INVALID_PAYLOAD"),
        (400, "IDEMPOTENCY_KEY_MISSING"),
        (400, None),
        (422, "IDEMPOTENCY_KEY_REUSED"),
        (409, "IDEMPOTENCY_KEY_REUSED"),
        (404, None),
        (415, "UNSUPPORTED_MEDIA_TYPE"),
        (302, None),
    ],
)
def test_what_only_a_change_to_kinerja_fixes_is_our_defect_e10_for_engineers(
    status: int, body_code: str | None
) -> None:
    outcome = classify(status, body_code)
    assert (outcome.verdict, outcome.code, outcome.actor) == (
        Verdict.DEAD,
        "BKN-E10",
        Actor.ENGINEERS.value,
    )


def test_a_known_refusal_is_read_whatever_its_4xx_status() -> None:
    assert classify(400, "NIP_NOT_FOUND").code == "BKN-E01"
    assert classify(404, "USER_PMM_MISSING").code == "BKN-E03"


def test_roster_fixable_codes_are_e01_to_e06() -> None:
    assert {f"BKN-E0{n}" for n in range(1, 7)} == ROSTER_FIXABLE


def test_rechecked_codes_are_the_causes_outside_kinerja() -> None:
    assert ROSTER_FIXABLE | {"BKN-E09"} == RECHECKED
    assert not DROPPED & RECHECKED


# --- properties over generated answers --------------------------------------------------------

# e-Kinerja's refusal codes (docs/domain.md §6.3): each names a person outside Kinerja who can act.
E_KINERJA_REFUSALS = [code for code, _, _ in PARKED_CODES] + ["KEMENAG", "SKP_NOT_FOUND"]
# e-Kinerja's codes for a request Kinerja got wrong (docs/domain.md §6.5).
REQUEST_DEFECTS = ["INVALID_PAYLOAD", "IDEMPOTENCY_KEY_MISSING", "IDEMPOTENCY_KEY_REUSED"]
# Statuses that say the request is malformed or sent where no record lives: Kinerja's to fix.
MALFORMED_OR_MISADDRESSED = {400, 404, 405, 411, 413, 414, 415, 431}

body_codes = st.one_of(
    st.none(),
    st.sampled_from(
        E_KINERJA_REFUSALS + REQUEST_DEFECTS + ["STALE_VERSION", "VERSION_CONFLICT", "LOCKED"]
    ),
    st.text(max_size=24),
    st.from_regex(r"[A-Z]{2,8}(_[A-Z]{2,8}){0,3}", fullmatch=True),
)
versions = st.one_of(st.none(), st.integers(0, 20))
answers = st.fixed_dictionaries(
    {
        "status": st.one_of(
            st.none(), st.integers(100, 599), st.sampled_from([408, 409, 422, 429])
        ),
        "body_code": body_codes,
        "transport": st.one_of(st.none(), st.sampled_from(list(Transport))),
        "retry_after": st.one_of(st.none(), st.floats(0, 1e6)),
        "held_version": versions,
        "our_version": versions,
        "message": st.one_of(st.none(), st.text(max_size=400)),
    }
)


def _classify(answer: dict[str, Any]) -> Outcome:
    status, body_code = answer["status"], answer["body_code"]
    rest = {k: v for k, v in answer.items() if k not in ("status", "body_code")}
    return classify(status, body_code, **rest)


@given(answer=answers)
def test_every_answer_maps_to_exactly_one_verdict_and_says_why(answer: dict[str, Any]) -> None:
    outcome = _classify(answer)
    assert outcome == _classify(answer)  # the same answer, the same verdict
    assert isinstance(outcome.verdict, Verdict)
    if outcome.verdict is not Verdict.DELIVERED:
        assert outcome.code is not None
        assert outcome.code.startswith("BKN-")
        assert outcome.reason


@given(answer=answers)
def test_what_the_status_alone_decides(answer: dict[str, Any]) -> None:
    status = answer["status"]
    outcome = _classify(answer)
    if status is None:
        assert (outcome.verdict, outcome.code) == (Verdict.TRANSIENT, "BKN-T01")
    elif 200 <= status < 300:
        assert outcome.verdict is Verdict.DELIVERED
    elif status >= 500 or status in (408, 429):
        assert outcome.verdict is Verdict.TRANSIENT
        assert outcome.retry_after == answer["retry_after"]


@given(answer=answers, held=st.integers(1, 50), ours=st.integers(0, 49))
def test_a_409_with_a_newer_version_held_is_superseded_for_any_code(
    answer: dict[str, Any], held: int, ours: int
) -> None:
    outcome = _classify(answer | {"status": 409, "held_version": held, "our_version": ours})
    if held > ours:
        assert (outcome.verdict, outcome.code) == (Verdict.SUPERSEDE, "BKN-E11")
    else:
        assert outcome.verdict is not Verdict.SUPERSEDE


@given(answer=answers)
def test_no_answer_a_person_could_act_on_ends_dead(answer: dict[str, Any]) -> None:
    status, body_code = answer["status"], answer["body_code"]
    outcome = _classify(answer)
    if outcome.verdict is Verdict.DEAD:
        assert status is not None
        ours = (
            status < 200
            or 300 <= status < 400
            or status in MALFORMED_OR_MISADDRESSED
            or body_code in REQUEST_DEFECTS
        )
        assert ours, (status, body_code)
        if 400 <= status < 500:  # a refusal, as opposed to a redirect: read its code
            assert body_code not in E_KINERJA_REFUSALS
        assert outcome.actor == Actor.ENGINEERS.value
    if status in (409, 422) and body_code not in REQUEST_DEFECTS:
        assert outcome.verdict is not Verdict.DEAD


@given(answer=answers)
def test_every_park_names_a_reason_a_remedy_and_who_acts(answer: dict[str, Any]) -> None:
    outcome = _classify(answer)
    if outcome.verdict is Verdict.PARK:
        assert outcome.reason
        assert outcome.remedy
        assert outcome.actor
    if outcome.verdict is Verdict.DROP:  # Kemenag: nobody in Kinerja acts, and it says so
        assert outcome.reason
        assert outcome.remedy
        assert outcome.actor is None
