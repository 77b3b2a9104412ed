"""Each transition of ``Delivery`` and the events it causes, without a database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bkn_sync.domain.classify import DELIVERED, Outcome, Transport, classify
from bkn_sync.domain.deliveries import (
    CLAIMABLE,
    PENDING,
    RetrySchedule,
    idempotency_key,
    waits_for_skp,
)
from bkn_sync.domain.delivery import (
    WAITING_FOR_SKP,
    DeadLettered,
    Delivery,
    Reason,
    RetryScheduled,
    SourceVersion,
    Transition,
    TransitionRefused,
)
from kinerja_shared.events.bkn_sync import DeliveryState, DeliveryStatus, RecordKind

NIP = "198609262015051001"
AT = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
LATER = AT + timedelta(minutes=5)
SCHEDULE = RetrySchedule((30.0, 300.0, 3600.0))
S = DeliveryState
T02 = classify(503)
E01 = classify(422, "NIP_NOT_FOUND")


def version(n: int, kind: RecordKind = RecordKind.PREDIKAT) -> SourceVersion:
    return SourceVersion(
        kind=kind,
        nip=NIP,
        npsn="20100001",
        period_id="2025",
        version=n,
        body={"nip": NIP, "version": n},
        record=f"v{n}".encode(),
        topic="kinerja.predikat.ditetapkan.v1",
        partition=1,
        offset=40 + n,
    )


def queued(n: int = 1) -> Delivery:
    return Delivery.new(version(n), claim=False, at=AT).delivery


def in_flight(n: int = 1) -> Delivery:
    return Delivery.new(version(n), claim=True, at=AT).delivery


def recorded(
    d: Delivery, outcome: Outcome = T02, attempts: int = 1, errors: tuple[str, ...] = ()
) -> Transition:
    t = d.record(d, outcome, attempts=attempts, errors=errors, schedule=SCHEDULE, at=LATER)
    assert t is not None
    return t


def status(t: Transition) -> DeliveryStatus:
    event = t.events[-1]
    assert isinstance(event, DeliveryStatus)
    return event


# --- arrive -------------------------------------------------------------------------------------


def test_a_first_version_is_queued_and_told_queued() -> None:
    t = Delivery.new(version(1), claim=False, at=AT)

    d = t.delivery
    assert t.attempt
    assert (d.delivery_key, d.state, d.attempts, d.retry_seq) == (
        f"PREDIKAT:{NIP}:2025",
        S.QUEUED,
        0,
        0,
    )
    assert d.idempotency_key == idempotency_key("PREDIKAT", NIP, "2025", 1)
    assert t.events == (
        DeliveryStatus(
            delivery_id=f"PREDIKAT:{NIP}:2025",
            kind=RecordKind.PREDIKAT,
            nip=NIP,
            npsn="20100001",
            period_id="2025",
            version=1,
            state=S.QUEUED,
            attempts=0,
            at=AT,
        ),
    )


def test_a_first_version_claimed_at_once_is_told_in_flight_only() -> None:
    t = Delivery.new(version(1), claim=True, at=AT)

    assert t.delivery.state is S.IN_FLIGHT
    assert [status(t).state] == [S.IN_FLIGHT]
    assert len(t.events) == 1


def test_a_newer_version_supersedes_a_pending_one_and_starts_afresh() -> None:
    retrying = recorded(in_flight(1), T02, attempts=2, errors=("a", "b")).delivery

    t = retrying.arrive(version(2), claim=True, at=LATER)

    old, new = t.events
    assert isinstance(old, DeliveryStatus)
    # The old version is told SUPERSEDED with what it had: its attempts, its last reason.
    assert (old.version, old.state, old.attempts, old.reason_code) == (
        1,
        S.SUPERSEDED,
        2,
        "BKN-T02",
    )
    d = t.delivery
    assert new == d.status(LATER)
    assert (d.version, d.state, d.attempts, d.retry_tier, d.reason) == (2, S.IN_FLIGHT, 0, 0, None)
    assert (d.first_error, d.last_error, d.next_attempt_at) == (None, None, None)
    assert d.retry_seq == retrying.retry_seq + 1  # its tier record of version 1 is stale now
    assert d.idempotency_key == idempotency_key("PREDIKAT", NIP, "2025", 2)
    assert d.current.record == b"v2"
    assert t.attempt


@pytest.mark.parametrize("outcome", [DELIVERED, classify(409)])
def test_a_newer_version_after_delivered_or_superseded_tells_only_its_own_status(
    outcome: Outcome,
) -> None:
    done = recorded(in_flight(1), outcome).delivery

    t = done.arrive(version(2), claim=False, at=LATER)

    assert [(s.version, s.state) for s in t.events if isinstance(s, DeliveryStatus)] == [
        (2, S.QUEUED)
    ]


def test_an_older_version_is_told_superseded_and_changes_nothing() -> None:
    current = recorded(in_flight(3), DELIVERED).delivery

    t = current.arrive(version(2), claim=True, at=LATER)

    assert t.delivery is current
    assert not t.attempt
    [told] = t.events
    assert isinstance(told, DeliveryStatus)
    assert (told.version, told.state, told.attempts, told.next_attempt_at) == (
        2,
        S.SUPERSEDED,
        0,
        None,
    )
    assert (told.reason_code, told.reason, told.remedy, told.actor) == (
        "BKN-E11",
        "Versi 3 yang lebih baru sudah diterima.",
        None,
        None,
    )


def test_a_copy_of_a_queued_version_is_claimed_once_and_attempted() -> None:
    d = queued(1)

    claimed = d.arrive(version(1), claim=True, at=LATER)
    waiting = d.arrive(version(1), claim=False, at=LATER)
    again = claimed.delivery.arrive(version(1), claim=True, at=LATER)

    assert claimed.attempt
    assert claimed.events == (claimed.delivery.status(LATER),)
    assert claimed.delivery.state is S.IN_FLIGHT
    assert waiting == Transition(d, attempt=True)
    # Still IN_FLIGHT after a crash: attempted again under the same key, told nothing new.
    assert again == Transition(claimed.delivery, attempt=True)


@pytest.mark.parametrize("outcome", [DELIVERED, T02, E01, classify(400)])
def test_a_copy_of_a_version_past_its_attempt_changes_nothing(outcome: Outcome) -> None:
    d = recorded(in_flight(1), outcome).delivery

    assert d.arrive(version(1), claim=True, at=LATER) == Transition(d)


def test_a_version_of_another_slot_is_refused() -> None:
    with pytest.raises(TransitionRefused):
        queued(1).arrive(version(2, RecordKind.SKP), claim=False, at=LATER)


# --- claim --------------------------------------------------------------------------------------


def test_claim_takes_a_queued_delivery_and_tells_in_flight() -> None:
    d = queued(1)

    t = d.claim(PENDING, at=LATER)

    assert t is not None
    assert t.delivery == replace(d, state=S.IN_FLIGHT)
    assert t.events == (t.delivery.status(LATER),)


def test_claim_of_a_retrying_delivery_needs_its_tier_record_to_be_current() -> None:
    d = recorded(in_flight(1), T02).delivery

    assert d.claim(PENDING, at=LATER) is None  # not a source consumer's to take
    assert d.claim(CLAIMABLE, d.retry_seq - 1, at=LATER) is None  # a stale tier record
    t = d.claim(CLAIMABLE, d.retry_seq, at=LATER)

    assert t is not None
    assert (t.delivery.state, t.delivery.next_attempt_at) == (S.IN_FLIGHT, None)


def test_claim_of_an_in_flight_delivery_takes_it_as_it_is() -> None:
    d = in_flight(1)

    assert d.claim(PENDING, at=LATER) == Transition(d)


@pytest.mark.parametrize("outcome", [DELIVERED, E01, classify(400), classify(409)])
def test_claim_of_a_finished_delivery_is_refused(outcome: Outcome) -> None:
    d = recorded(in_flight(1), outcome).delivery

    assert d.claim(CLAIMABLE, at=LATER) is None
    assert d.claim(set(S), at=LATER) is None  # whatever the caller allows


# --- record -------------------------------------------------------------------------------------


def test_delivered_counts_the_puts_clears_the_reason_and_tells_delivered() -> None:
    d = replace(in_flight(1), attempts=2, reason=Reason("BKN-T02", "x"), first_error="BKN-T02: x")

    t = recorded(d, DELIVERED, attempts=2, errors=("BKN-T01: timeout",))

    after = t.delivery
    assert (after.state, after.attempts, after.delivered_at, after.reason) == (
        S.DELIVERED,
        4,
        LATER,
        None,
    )
    assert (after.first_error, after.last_error) == ("BKN-T02: x", "BKN-T01: timeout")
    assert (after.first_attempt_at, after.last_attempt_at) == (LATER, LATER)
    assert t.events == (after.status(LATER),)


def test_a_transient_failure_goes_to_the_next_tier_at_its_due_time() -> None:
    outcome = classify(429, retry_after=120.0)
    t = recorded(in_flight(1), outcome, attempts=3, errors=("a", "b", "c"))

    after = t.delivery
    due = LATER + timedelta(seconds=120)  # e-Kinerja asked for longer than tier 1's 30 s
    assert (after.state, after.retry_tier, after.retry_seq, after.next_attempt_at) == (
        S.RETRYING,
        1,
        1,
        due,
    )
    assert (after.first_error, after.last_error, after.attempts) == ("a", "c", 3)
    assert t.events == (RetryScheduled(after, 1, due), after.status(LATER, attempt=outcome))
    assert status(t).next_attempt_at == due
    assert status(t).reason_code == "BKN-T03"


def test_a_transient_failure_on_the_last_tier_is_dead_and_dead_lettered() -> None:
    d = replace(in_flight(1), retry_tier=3, retry_seq=3)

    timeout = classify(None, transport=Transport.TIMEOUT)
    t = recorded(d, timeout)

    after = t.delivery
    assert (after.state, after.next_attempt_at, after.retry_seq) == (S.DEAD, None, 3)
    assert after.reason is not None
    assert after.reason.code == "BKN-T01"
    assert t.events == (DeadLettered(after, LATER), after.status(LATER, attempt=timeout))


def test_an_attempt_brought_forward_keeps_its_place_on_the_tier_if_e_kinerja_fails_again() -> None:
    waiting = recorded(in_flight(1), T02).delivery  # tier 1, due in 30 s
    due = waiting.next_attempt_at
    now = LATER + timedelta(seconds=5)

    forward = waiting.bring_forward(waiting.retry_seq, at=now)
    assert forward is not None
    assert (forward.delivery.state, forward.delivery.next_attempt_at) == (S.IN_FLIGHT, due)
    assert forward.events == (forward.delivery.status(now),)
    d = forward.delivery
    t = d.record(d, T02, attempts=1, errors=("x",), schedule=SCHEDULE, at=now)

    assert t is not None
    after = t.delivery
    assert (after.state, after.retry_tier, after.retry_seq, after.next_attempt_at) == (
        S.RETRYING,
        waiting.retry_tier,
        waiting.retry_seq,  # its tier record is still the current one
        due,
    )
    assert after.attempts == waiting.attempts + 1
    assert t.events == (after.status(now, attempt=T02),)  # no new tier record


def test_an_attempt_brought_forward_that_succeeds_delivers() -> None:
    waiting = recorded(in_flight(1), T02).delivery
    forward = waiting.bring_forward(at=LATER)
    assert forward is not None

    t = forward.delivery.record(
        forward.delivery, DELIVERED, attempts=1, errors=(), schedule=SCHEDULE, at=LATER
    )

    assert t is not None
    assert (t.delivery.state, t.delivery.next_attempt_at) == (S.DELIVERED, None)


def test_an_attempt_brought_forward_is_released_if_no_put_was_made() -> None:
    waiting = recorded(in_flight(1), T02).delivery
    forward = waiting.bring_forward(at=LATER)
    assert forward is not None

    released = forward.delivery.release(forward.delivery, at=LATER)

    assert released is not None
    assert released.delivery == waiting
    assert waiting.bring_forward(waiting.retry_seq + 1, at=LATER) is None  # a stale record
    assert in_flight(1).bring_forward(at=LATER) is None  # not on a tier


def test_an_attempt_brought_forward_that_its_tier_record_finds_is_the_tiers_attempt() -> None:
    waiting = recorded(in_flight(1), T02).delivery
    forward = waiting.bring_forward(at=LATER)
    assert forward is not None

    claimed = forward.delivery.claim(CLAIMABLE, waiting.retry_seq, at=LATER)

    assert claimed is not None
    assert (claimed.delivery.state, claimed.delivery.next_attempt_at) == (S.IN_FLIGHT, None)
    t = recorded(claimed.delivery, T02)
    assert (t.delivery.retry_tier, t.delivery.retry_seq) == (2, waiting.retry_seq + 1)


def test_a_permanent_refusal_parks_with_reason_remedy_and_actor() -> None:
    t = recorded(in_flight(1), E01)

    after = t.delivery
    assert after.state is S.PARKED
    assert after.last_error == "BKN-E01: NIP tidak ditemukan di SIASN/BKN."
    told = status(t)
    assert (told.state, told.reason_code, told.actor) == (S.PARKED, "BKN-E01", "Operator Sekolah")
    assert told.remedy is not None
    assert "Verval PTK" in told.remedy
    assert len(t.events) == 1


def test_an_engineers_refusal_is_dead_and_dead_lettered() -> None:
    refused = classify(400)
    t = recorded(in_flight(1), refused)

    assert t.delivery.state is S.DEAD
    assert t.events == (DeadLettered(t.delivery, LATER), t.delivery.status(LATER, attempt=refused))


def test_a_stale_version_answer_supersedes() -> None:
    t = recorded(in_flight(1), classify(409, "STALE_VERSION"))

    assert t.delivery.state is S.SUPERSEDED
    assert (status(t).state, status(t).reason_code) == (S.SUPERSEDED, "BKN-E11")


def test_an_outcome_of_an_attempt_that_lost_its_claim_is_not_recorded() -> None:
    claimed = in_flight(1)
    replaced = claimed.arrive(version(2), claim=True, at=LATER).delivery
    redriven = recorded(claimed, E01).delivery.redrive(at=LATER).delivery
    retaken = redriven.claim(PENDING, at=LATER)
    assert retaken is not None

    for now in (replaced, redriven, retaken.delivery):
        assert (
            now.record(claimed, DELIVERED, attempts=1, errors=(), schedule=SCHEDULE, at=LATER)
            is None
        )


# --- redrive, supersede -------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", [E01, classify(422, "KEMENAG"), classify(400)])
def test_redrive_queues_a_parked_or_dead_delivery_on_tier_zero_now(outcome: Outcome) -> None:
    stuck = recorded(in_flight(1), outcome, attempts=1).delivery
    at = LATER + timedelta(hours=1)

    t = stuck.redrive(at=at)

    after = t.delivery
    assert (after.state, after.retry_tier, after.next_attempt_at, after.reason) == (
        S.QUEUED,
        0,
        at,
        None,
    )
    assert after.retry_seq == stuck.retry_seq + 1
    assert (after.attempts, after.last_error) == (stuck.attempts, stuck.last_error)
    assert t.events == (RetryScheduled(after, 0, at), after.status(at))


@pytest.mark.parametrize("outcome", [DELIVERED, T02, classify(409)])
def test_only_parked_or_dead_deliveries_are_redriven(outcome: Outcome) -> None:
    d = recorded(in_flight(1), outcome).delivery

    assert not d.redrivable
    with pytest.raises(TransitionRefused):
        d.redrive(at=LATER)


@pytest.mark.parametrize("by", [1, 2])
def test_only_a_strictly_newer_version_supersedes(by: int) -> None:
    d = queued(2)

    with pytest.raises(TransitionRefused):
        d.supersede(by, at=LATER)
    t = d.supersede(3, at=LATER)
    assert t.delivery == replace(d, state=S.SUPERSEDED)
    assert t.events == (t.delivery.status(LATER),)


def test_an_atasans_delivered_skp_releases_their_teachers() -> None:
    skp = Delivery.new(version(1, RecordKind.SKP), claim=True, at=AT).delivery
    predikat = in_flight(1)

    assert recorded(skp, DELIVERED).delivery.releases_teachers
    assert not recorded(predikat, DELIVERED).delivery.releases_teachers
    assert not recorded(skp, E01).delivery.releases_teachers


# --- a predikat held for its SKP ---------------------------------------------------------------


@pytest.mark.parametrize("skp", [None, *DeliveryState])
def test_a_predikat_waits_until_e_kinerja_holds_the_teachers_skp(skp: DeliveryState | None) -> None:
    there = skp in (S.DELIVERED, S.SUPERSEDED)
    assert waits_for_skp(RecordKind.PREDIKAT, skp) is not there
    assert not waits_for_skp(RecordKind.SKP, skp)


def test_a_held_predikat_is_parked_for_its_skp_without_an_attempt() -> None:
    t = Delivery.new(version(1), claim=True, at=AT, hold=True)

    d = t.delivery
    assert not t.attempt
    assert (d.state, d.attempts, d.next_attempt_at, d.recheck_at) == (S.PARKED, 0, None, None)
    assert d.reason == WAITING_FOR_SKP
    assert d.waiting_for_skp
    told = status(t)
    assert (told.state, told.reason_code, told.actor) == (S.PARKED, "BKN-E08", None)
    assert told.reason == "Menunggu SKP pegawai tercatat di e-Kinerja; dikirim otomatis setelahnya"
    assert t.events == (told,)


def test_a_newer_predikat_arriving_while_held_is_held_in_its_place() -> None:
    held = Delivery.new(version(1), claim=True, at=AT, hold=True).delivery

    t = held.arrive(version(2), claim=True, at=LATER, hold=True)

    old, new = t.events
    assert isinstance(old, DeliveryStatus)
    assert (old.version, old.state) == (1, S.SUPERSEDED)
    assert new == t.delivery.status(LATER)
    assert (t.delivery.version, t.delivery.state, t.attempt) == (2, S.PARKED, False)
    assert t.delivery.waiting_for_skp


def test_a_pending_predikat_read_again_before_its_skp_is_there_is_held() -> None:
    t = queued(1).arrive(version(1), claim=True, at=LATER, hold=True)

    assert (t.delivery.state, t.attempt) == (S.PARKED, False)
    assert t.delivery.waiting_for_skp


def test_a_held_predikat_is_released_onto_the_first_tier_at_once_with_no_attempt_spent() -> None:
    held = Delivery.new(version(1), claim=True, at=AT, hold=True).delivery

    t = held.redrive(at=LATER)

    d = t.delivery
    assert (d.state, d.attempts, d.retry_tier, d.next_attempt_at) == (S.QUEUED, 0, 0, LATER)
    assert t.events == (RetryScheduled(d, 0, LATER), d.status(LATER))
    assert not d.waiting_for_skp
