"""The scheduled checks of a delivery parked for a cause outside Kinerja: when they come
(``RecheckSchedule``, pure) and what one does to the delivery (``Delivery.recheck`` and the
record of its outcome), without a database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bkn_sync.domain.classify import RECHECKED, Outcome, classify
from bkn_sync.domain.deliveries import DAY, RecheckSchedule, RetrySchedule
from bkn_sync.domain.delivery import NO_MORE_CHECKS, DeadLettered, Delivery, SourceVersion
from kinerja_shared.events.bkn_sync import DeliveryState, DeliveryStatus, RecordKind

NIP = "198609262015051001"
AT = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DEFAULT = RecheckSchedule()
SCHEDULE = RetrySchedule((30.0, 300.0, 3600.0))
S = DeliveryState
E01 = classify(422, "NIP_NOT_FOUND")


def parked(outcome: Outcome = E01, schedule: RetrySchedule = SCHEDULE) -> Delivery:
    source = SourceVersion(
        kind=RecordKind.SKP,
        nip=NIP,
        npsn="20100001",
        period_id="2025",
        version=1,
        body={"nip": NIP, "version": 1},
        record=b"v1",
        topic="kinerja.planning.plan-agreed.v1",
        partition=0,
        offset=1,
    )
    d = Delivery.new(source, claim=True, at=AT).delivery
    t = d.record(d, outcome, attempts=1, errors=(), schedule=schedule, at=AT)
    assert t is not None
    return t.delivery


def checked(
    d: Delivery, outcome: Outcome, at: datetime, schedule: RetrySchedule = SCHEDULE, puts: int = 1
) -> tuple[Delivery, tuple[object, ...]]:
    taken = d.recheck(at=at, lease_until=at + timedelta(minutes=2))
    assert taken is not None
    failed = puts if outcome.is_transient else puts - 1
    t = taken.delivery.record(
        taken.delivery,
        outcome,
        attempts=puts,
        errors=("BKN-T02: e-Kinerja sedang bermasalah (HTTP 503).",) * failed,
        schedule=schedule,
        at=at,
    )
    assert t is not None
    return t.delivery, t.events


# --- the schedule -------------------------------------------------------------------------------


def test_hourly_for_the_first_day_then_daily_for_fourteen_days() -> None:
    checks = []
    at = AT
    while (nxt := DEFAULT.next_check(AT, at)) is not None:
        checks.append(nxt - AT)
        at = nxt

    assert checks[:24] == [HOUR * n for n in range(1, 25)]
    assert checks[24:] == [timedelta(days=n) for n in range(2, 15)]
    assert len(checks) == 24 + 13


def test_a_late_check_is_followed_by_the_next_one_on_the_schedule_not_by_a_burst() -> None:
    # The poller was away for five hours: one check now, the next at the next whole hour.
    assert DEFAULT.next_check(AT, AT + HOUR * 5.5) == AT + HOUR * 6


def test_past_the_last_check_none_comes() -> None:
    assert DEFAULT.next_check(AT, AT + timedelta(days=14)) is None
    assert RecheckSchedule(days=0).next_check(AT, AT) is None


@given(
    every=st.floats(1, 7200),
    first=st.floats(0, 3 * DAY),
    then=st.floats(1, 2 * DAY),
    days=st.floats(0, 30),
    elapsed=st.floats(0, 40 * DAY),
)
def test_the_next_check_is_after_now_and_never_past_the_last_day(
    every: float, first: float, then: float, days: float, elapsed: float
) -> None:
    schedule = RecheckSchedule(every, first, then, days)
    now = AT + timedelta(seconds=elapsed)
    nxt = schedule.next_check(AT, now)
    if nxt is not None:
        assert nxt > now
        assert nxt - AT <= timedelta(days=days)
        # Never further off than one interval of each phase (at the turn from one to the other).
        assert nxt - now <= timedelta(seconds=every + then) + timedelta(microseconds=1)


# --- parking ----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(RECHECKED))
def test_a_delivery_parked_for_a_cause_outside_kinerja_is_told_its_first_check(code: str) -> None:
    body_code = {
        "BKN-E01": "NIP_NOT_FOUND",
        "BKN-E02": "DUKCAPIL_MISMATCH",
        "BKN-E03": "USER_PMM_MISSING",
        "BKN-E04": "UNOR_NOT_FOUND",
        "BKN-E05": "SKP_ATASAN_MISSING",
        "BKN-E06": "UNOR_NOT_PADAN",
        "BKN-E09": "PERIODE_INVALID",
    }[code]
    d = parked(classify(422, body_code))

    assert (d.state, d.parked_at, d.recheck_at, d.next_attempt_at) == (
        S.PARKED,
        AT,
        AT + HOUR,
        AT + HOUR,
    )
    assert d.status(AT).next_attempt_at == AT + HOUR


@pytest.mark.parametrize(
    "outcome", [classify(422, "KEMENAG"), classify(409, "DATA_TERKUNCI"), classify(403)]
)
def test_a_delivery_parked_for_kemenag_or_for_the_kinerja_team_gets_no_scheduled_check(
    outcome: Outcome,
) -> None:
    d = parked(outcome)

    assert d.state is S.PARKED
    assert (d.recheck_at, d.next_attempt_at) == (None, None)
    assert d.recheck(at=AT + timedelta(days=30), lease_until=AT + timedelta(days=31)) is None


# --- a check ------------------------------------------------------------------------------------


def test_a_check_is_not_taken_before_it_is_due_and_is_leased_when_taken() -> None:
    d = parked()
    lease = AT + HOUR + timedelta(minutes=2)

    assert d.recheck(at=AT + HOUR - timedelta(seconds=1), lease_until=lease) is None
    taken = d.recheck(at=AT + HOUR, lease_until=lease)

    assert taken is not None
    assert taken.events == ()  # the principal hears the outcome, not that a check began
    assert (taken.delivery.state, taken.delivery.recheck_at) == (S.PARKED, lease)
    assert taken.delivery.retry_seq == d.retry_seq + 1


def test_a_check_that_succeeds_delivers_and_is_one_more_attempt() -> None:
    at = AT + HOUR
    d, events = checked(parked(), classify(201), at)

    assert (d.state, d.attempts, d.last_attempt_at, d.delivered_at) == (S.DELIVERED, 2, at, at)
    assert (d.reason, d.recheck_at, d.next_attempt_at, d.parked_at) == (None, None, None, None)
    assert events == (d.status(at, attempt=classify(201)),)


def test_a_check_refused_again_stays_parked_with_the_next_check_counted_from_parking() -> None:
    at = AT + HOUR
    d, events = checked(parked(), E01, at)

    assert (d.state, d.attempts, d.last_attempt_at) == (S.PARKED, 2, at)
    assert d.last_error is not None
    assert d.last_error.startswith("BKN-E01")
    assert (d.parked_at, d.recheck_at, d.next_attempt_at) == (AT, AT + 2 * HOUR, AT + 2 * HOUR)
    [status] = events
    assert isinstance(status, DeliveryStatus)
    assert (status.state, status.attempts, status.next_attempt_at, status.reason_code) == (
        S.PARKED,
        2,
        AT + 2 * HOUR,
        "BKN-E01",
    )


def test_a_check_that_meets_e_kinerja_down_stays_parked_for_its_cause_not_on_the_tiers() -> None:
    at = AT + HOUR
    d, events = checked(parked(), classify(503), at, puts=2)

    assert (d.state, d.attempts, d.retry_tier) == (S.PARKED, 3, 0)
    assert d.reason is not None
    assert d.reason.code == "BKN-E01"  # still what a person must fix
    assert d.last_error is not None
    assert d.last_error.startswith("BKN-T02")
    assert d.next_attempt_at == AT + 2 * HOUR
    assert not [e for e in events if not isinstance(e, DeliveryStatus)]


def test_a_check_refused_for_another_cause_starts_that_causes_schedule() -> None:
    at = AT + 3 * HOUR
    d, _ = checked(parked(), classify(422, "USER_PMM_MISSING"), at)

    assert d.reason is not None
    assert (d.reason.code, d.parked_at, d.next_attempt_at) == ("BKN-E03", at, at + HOUR)


def test_a_check_answered_by_our_own_defect_is_dead_lettered() -> None:
    at = AT + HOUR
    d, events = checked(parked(), classify(400, "INVALID_PAYLOAD"), at)

    assert (d.state, d.recheck_at, d.next_attempt_at) == (S.DEAD, None, None)
    assert events[0] == DeadLettered(d, at)


def test_parked_again_after_the_last_check_it_says_no_further_check_will_come() -> None:
    short = RetrySchedule(
        (30.0,), RecheckSchedule(every_seconds=3600, first_seconds=7200, days=0.1)
    )
    d = parked(schedule=short)
    at = AT + HOUR
    d, _ = checked(d, E01, at, short)
    assert d.next_attempt_at == AT + 2 * HOUR

    last = AT + 2 * HOUR
    d, events = checked(d, E01, last, short)

    assert (d.state, d.recheck_at, d.next_attempt_at, d.attempts) == (S.PARKED, None, None, 3)
    assert d.reason is not None
    assert d.reason.remedy is not None
    assert d.reason.remedy.endswith(NO_MORE_CHECKS)
    [status] = events
    assert isinstance(status, DeliveryStatus)
    assert status.next_attempt_at is None
    assert status.remedy is not None
    assert NO_MORE_CHECKS in status.remedy
    assert d.recheck(at=last + timedelta(days=30), lease_until=last + timedelta(days=31)) is None


def test_the_outcome_of_a_check_that_lost_its_delivery_is_not_recorded() -> None:
    d = parked()
    at = AT + HOUR
    taken = d.recheck(at=at, lease_until=at + timedelta(minutes=2))
    assert taken is not None
    # Meanwhile a roster fix redrove it, and its lease ran out and another check took it.
    redriven = taken.delivery.redrive(at=at).delivery
    again = taken.delivery.recheck(
        at=at + timedelta(minutes=3), lease_until=at + timedelta(minutes=5)
    )
    assert again is not None

    for current in (redriven, again.delivery):
        assert (
            current.record(
                taken.delivery, classify(201), attempts=1, errors=(), schedule=SCHEDULE, at=at
            )
            is None
        )


def test_a_redrive_ends_the_schedule_and_a_new_parking_starts_a_new_one() -> None:
    d = replace(parked(), recheck_at=AT + HOUR)
    later = AT + timedelta(days=3)

    redriven = d.redrive(at=later).delivery
    assert (redriven.parked_at, redriven.recheck_at) == (None, None)
    claimed = redriven.claim(at=later)
    assert claimed is not None
    t = claimed.delivery.record(
        claimed.delivery, E01, attempts=1, errors=(), schedule=SCHEDULE, at=later
    )

    assert t is not None
    assert (t.delivery.parked_at, t.delivery.next_attempt_at) == (later, later + HOUR)
