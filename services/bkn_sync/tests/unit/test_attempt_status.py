"""The status event of an attempt tells what e-Kinerja answered (``http_status``) and the
attempt's error; events not about an attempt tell neither."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bkn_sync.domain.classify import Outcome, Transport, Verdict, classify
from bkn_sync.domain.deliveries import RetrySchedule
from bkn_sync.domain.delivery import Delivery, SourceVersion, Transition
from kinerja_shared.events.bkn_sync import ERROR_MAX, DeliveryState, DeliveryStatus, RecordKind

NIP = "198609262015051001"
AT = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
LATER = AT + timedelta(minutes=5)
SCHEDULE = RetrySchedule((30.0, 300.0, 3600.0))
S = DeliveryState


def version(n: int = 1) -> SourceVersion:
    return SourceVersion(
        kind=RecordKind.SKP,
        nip=NIP,
        npsn="20100001",
        period_id="2025",
        version=n,
        body={"nip": NIP, "version": n},
        record=b"v",
        topic="kinerja.planning.plan-agreed.v1",
        partition=0,
        offset=n,
    )


def in_flight() -> Delivery:
    return Delivery.new(version(), claim=True, at=AT).delivery


def told(t: Transition | None) -> DeliveryStatus:
    assert t is not None
    event = t.events[-1]
    assert isinstance(event, DeliveryStatus)
    return event


def recorded(d: Delivery, outcome: Outcome) -> DeliveryStatus:
    return told(d.record(d, outcome, attempts=1, errors=(), schedule=SCHEDULE, at=LATER))


@pytest.mark.parametrize(
    ("outcome", "state", "http_status", "error"),
    [
        (classify(201), S.DELIVERED, 201, None),
        (classify(200), S.DELIVERED, 200, None),
        (classify(503), S.RETRYING, 503, "BKN-T02: e-Kinerja sedang bermasalah (HTTP 503)."),
        (classify(429, retry_after=5.0), S.RETRYING, 429, "BKN-T03: "),
        (classify(None, transport=Transport.TIMEOUT), S.RETRYING, None, "BKN-T01: Waktu tunggu"),
        (classify(None, transport=Transport.CONNECTION), S.RETRYING, None, "BKN-T01: Koneksi"),
        (classify(422, "NIP_NOT_FOUND"), S.PARKED, 422, "BKN-E01: NIP tidak ditemukan"),
        (classify(409, "STALE_VERSION"), S.SUPERSEDED, 409, "BKN-E11: "),
        (classify(400), S.DEAD, 400, "BKN-E10: "),
    ],
)
def test_an_attempt_tells_its_http_status_and_error(
    outcome: Outcome, state: DeliveryState, http_status: int | None, error: str | None
) -> None:
    status = recorded(in_flight(), outcome)

    assert (status.state, status.http_status) == (state, http_status)
    if error is None:
        assert status.error is None
    else:
        assert status.error is not None
        assert status.error.startswith(error)


def test_a_scheduled_check_tells_what_e_kinerja_answered() -> None:
    d = in_flight()
    parked = d.record(
        d, classify(422, "NIP_NOT_FOUND"), attempts=1, errors=(), schedule=SCHEDULE, at=AT
    )
    assert parked is not None
    assert parked.delivery.recheck_at is not None
    due = parked.delivery.recheck_at
    taken = parked.delivery.recheck(at=due, lease_until=due + timedelta(hours=1))
    assert taken is not None
    checking = taken.delivery

    status = recorded(checking, classify(201))

    assert (status.state, status.http_status, status.error) == (S.DELIVERED, 201, None)


def test_a_long_error_is_cut_to_the_contracts_bound() -> None:
    outcome = Outcome(Verdict.PARK, "BKN-E12", "x" * 2000, http_status=422)

    status = recorded(in_flight(), outcome)

    assert status.error is not None
    assert len(status.error) == ERROR_MAX
    assert status.error.startswith("BKN-E12: xxx")
    assert status.error.endswith("…")


def test_events_not_about_an_attempt_tell_neither() -> None:
    new = Delivery.new(version(), claim=False, at=AT)
    claimed = new.delivery.claim(at=AT)
    retrying = in_flight().record(
        in_flight(), classify(503), attempts=1, errors=(), schedule=SCHEDULE, at=LATER
    )
    assert retrying is not None
    brought = retrying.delivery.bring_forward(at=LATER)
    assert brought is not None
    released = brought.delivery.release(brought.delivery, at=LATER)
    dead = in_flight().record(
        in_flight(), classify(400), attempts=1, errors=(), schedule=SCHEDULE, at=LATER
    )
    assert dead is not None
    redriven = dead.delivery.redrive(at=LATER)
    superseded = retrying.delivery.arrive(version(2), claim=True, at=LATER)

    events = [
        told(new),
        told(claimed),
        told(brought),
        told(released),
        told(redriven),
        *(e for e in superseded.events if isinstance(e, DeliveryStatus)),
    ]

    assert [e.state for e in events] == [
        S.QUEUED,
        S.IN_FLIGHT,
        S.IN_FLIGHT,
        S.RETRYING,
        S.QUEUED,
        S.SUPERSEDED,
        S.IN_FLIGHT,
    ]
    assert {(e.http_status, e.error) for e in events} == {(None, None)}


def test_the_outcome_carries_the_status_it_was_decided_from() -> None:
    assert classify(503).http_status == 503
    assert classify(422, "USER_PMM_MISSING").http_status == 422
    assert classify(None, transport=Transport.TIMEOUT).http_status is None
    # The verdict itself does not depend on it: the same answer, the same outcome.
    assert classify(201) == classify(201)
    assert classify(201).verdict is Verdict.DELIVERED
