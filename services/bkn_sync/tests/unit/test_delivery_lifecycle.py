"""One delivery driven through random sequences (hypothesis): versions arriving in any order and
more than once, claims (some from stale tier records), outcomes of attempts (some of attempts
that lost their claim meanwhile), redrives, and supersede requests.

Invariants: no older version is ever accepted, sent or delivered after a newer one was accepted;
attempts are never lost (within a version they never decrease, and an outcome adds exactly the
PUTs it made); a version that reached DELIVERED, PARKED, DEAD or SUPERSEDED stays there unless
redriven; a version is told SUPERSEDED only when a strictly newer one was accepted (or
e-Kinerja itself answered that it holds a newer one, BKN-E11); every change is told by a status
event equal to the new delivery's status.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from bkn_sync.domain.classify import RECHECKED, Outcome, Transport, Verdict, classify
from bkn_sync.domain.deliveries import (
    CLAIMABLE,
    PENDING,
    TERMINAL,
    RecheckSchedule,
    RetrySchedule,
)
from bkn_sync.domain.delivery import (
    NO_MORE_CHECKS,
    WAITING_FOR_SKP,
    DeadLettered,
    Delivery,
    RetryScheduled,
    SourceVersion,
    Transition,
    TransitionRefused,
)
from kinerja_shared.events.bkn_sync import DeliveryState, DeliveryStatus, RecordKind

NIP = "198609262015051001"
KEY = f"SKP:{NIP}:2025"
# Scheduled checks of parked deliveries come and end within a run's steps (7 s each).
SCHEDULE = RetrySchedule(
    (30.0, 300.0, 3600.0),
    RecheckSchedule(every_seconds=14, first_seconds=42, then_every_seconds=28, days=200 / 86400),
)
START = datetime(2025, 6, 1, tzinfo=UTC)
S = DeliveryState

OUTCOMES = [
    classify(201),
    classify(503),
    classify(429, retry_after=900.0),
    classify(None, transport=Transport.TIMEOUT),
    classify(404, "SKP_NOT_FOUND"),
    classify(422, "NIP_NOT_FOUND"),
    classify(422, "KEMENAG"),
    classify(409, "STALE_VERSION"),
    classify(409, "DATA_TERKUNCI"),
    classify(400),
]
EXPECTED: dict[Verdict, DeliveryState] = {
    Verdict.DELIVERED: S.DELIVERED,
    Verdict.PARK: S.PARKED,
    Verdict.DROP: S.PARKED,
    Verdict.DEAD: S.DEAD,
    Verdict.SUPERSEDE: S.SUPERSEDED,
}


def version(n: int, offset: int = 0) -> SourceVersion:
    body = {"nip": NIP, "npsn": "20100001", "period_id": "2025", "version": n}
    return SourceVersion(
        kind=RecordKind.SKP,
        nip=NIP,
        npsn="20100001",
        period_id="2025",
        version=n,
        body=body,
        record=f"record v{n}".encode(),
        topic="kinerja.planning.plan-agreed.v1",
        partition=3,
        offset=offset,
    )


def statuses(t: Transition) -> list[DeliveryStatus]:
    return [e for e in t.events if isinstance(e, DeliveryStatus)]


class DeliveryLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = START
        self.delivery: Delivery | None = None
        self.newest = 0  # the newest version accepted so far
        self.claims: list[Delivery] = []  # what attempts were started with, stale or not
        self.sent: list[int] = []  # the version of each attempt started, in order
        self.delivered: list[int] = []  # the version of each DELIVERED outcome, in order
        self.offset = 0

    def _tick(self) -> datetime:
        self.clock += timedelta(seconds=7)
        return self.clock

    def _current(self) -> Delivery:
        assert self.delivery is not None
        return self.delivery

    def _check_step(
        self,
        before: Delivery,
        t: Transition,
        at: datetime,
        *,
        redrive: bool,
        silent: bool = False,
        attempt: Outcome | None = None,
    ) -> None:
        """What holds for every transition of an existing delivery."""
        after = t.delivery
        assert after.delivery_key == KEY
        assert after.version >= before.version
        assert after.retry_seq >= before.retry_seq  # stale tier records stay stale
        if after.version == before.version:
            assert after.attempts >= before.attempts
            assert after.idempotency_key == before.idempotency_key
            if before.state in TERMINAL and not redrive:
                assert after.state is before.state, (before.state, after.state)
        if after is before:
            assert all(s.version != after.version for s in statuses(t))
        elif silent:
            # Taken for a scheduled check: nothing anyone is told changed.
            assert statuses(t) == []
            assert after.status(at) == before.status(at)
        else:
            # A change is told, last, with the delivery's own status (and, after an attempt,
            # what e-Kinerja answered; nothing otherwise).
            assert statuses(t)[-1] == after.status(at, attempt=attempt)
        for s in statuses(t):
            assert s.delivery_id == KEY
            assert s.at == at
            if s.state is S.SUPERSEDED and s.version == after.version:
                # Only e-Kinerja's own "I hold a newer one" supersedes the current version.
                assert s.reason_code == "BKN-E11"
                assert after.state is S.SUPERSEDED
            elif s.state is S.SUPERSEDED:
                assert s.version < after.version

    def _started(self, claimed: Delivery) -> None:
        assert claimed.state in (S.IN_FLIGHT, S.PARKED)  # PARKED: a scheduled check
        assert claimed.version == self.newest  # never an older version after a newer one
        self.claims.append(claimed)
        self.sent.append(claimed.version)

    # --- rules ------------------------------------------------------------------------------

    @rule(n=st.integers(1, 5), claim=st.booleans(), hold=st.sampled_from([False, False, True]))
    def arrive(self, n: int, claim: bool, hold: bool) -> None:
        """``hold``: the version must wait for the teacher's SKP (as a predikat does)."""
        at = self._tick()
        self.offset += 1
        v = version(n, self.offset)
        before = self.delivery
        if before is None:
            t = Delivery.new(v, claim=claim, at=at, hold=hold)
            assert t.attempt is not hold
            assert t.events == (t.delivery.status(at),)
            self.newest = n
        else:
            t = before.arrive(v, claim=claim, at=at, hold=hold)
            self._check_step(before, t, at, redrive=False)
            if n > before.version:
                told = statuses(t)
                old_told = before.state not in (S.DELIVERED, S.SUPERSEDED)
                assert [(s.version, s.state) for s in told[:-1]] == (
                    [(before.version, S.SUPERSEDED)] if old_told else []
                )
                assert t.delivery.retry_seq == before.retry_seq + 1
                self.newest = n
            elif n == before.version and hold:
                pending = before.state in PENDING
                assert (t.delivery is before) is not pending
                assert not t.attempt
                if pending:  # not attempted: held for the SKP instead
                    assert t.delivery.waiting_for_skp
            elif n == before.version:
                assert t.attempt == (before.state in PENDING)
                # Claimed again: queued, or an attempt brought forward taken as an ordinary one.
                changed = before.state is S.QUEUED or before.brought_forward
                assert (t.delivery is before) == (not claim or not changed)
            else:
                assert t.delivery is before
                assert not t.attempt
                [told] = statuses(t)
                assert (told.version, told.state, told.attempts) == (n, S.SUPERSEDED, 0)
                assert told.reason == f"Versi {before.version} yang lebih baru sudah diterima."
        after = t.delivery
        if before is None or n > before.version:
            # A new road: nothing of the older version's attempts or reason carries over.
            assert (after.attempts, after.retry_tier) == (0, 0)
            if hold:
                assert (after.state, after.reason) == (S.PARKED, WAITING_FOR_SKP)
                assert not t.attempt
            else:
                assert after.state is (S.IN_FLIGHT if claim else S.QUEUED)
                assert after.reason is None
        if t.attempt and after.state is S.IN_FLIGHT:
            self._started(after)
        self.delivery = after

    @precondition(lambda self: self.delivery is not None)
    @rule(
        states=st.sampled_from([PENDING, CLAIMABLE]),
        seq_skew=st.sampled_from([None, 0, 0, -1, 1]),
    )
    def claim(self, states: frozenset[DeliveryState], seq_skew: int | None) -> None:
        before = self._current()
        at = self._tick()
        seq = None if seq_skew is None else before.retry_seq + seq_skew
        t = before.claim(states, seq, at=at)
        if before.state not in states or seq_skew not in (None, 0):
            assert t is None
            return
        assert t is not None
        self._check_step(before, t, at, redrive=False)
        after = t.delivery
        assert after.attempts == before.attempts
        assert after.next_attempt_at is None
        if before.state is S.IN_FLIGHT and not before.brought_forward:
            assert after is before  # taken again after a crash: told already
            assert t.events == ()
        else:
            assert t.events == (after.status(at),)
        self._started(after)
        self.delivery = after

    @precondition(lambda self: self.delivery is not None)
    @rule(seq_skew=st.sampled_from([None, 0, 0, 1]))
    def bring_forward(self, seq_skew: int | None) -> None:
        """After an outage, a delivery waiting on its tier is attempted before it is due."""
        before = self._current()
        at = self._tick()
        seq = None if seq_skew is None else before.retry_seq + seq_skew
        t = before.bring_forward(seq, at=at)
        if before.state is not S.RETRYING or seq_skew not in (None, 0):
            assert t is None
            return
        assert t is not None
        self._check_step(before, t, at, redrive=False)
        after = t.delivery
        assert after.brought_forward
        # Its place on the tier is kept: the tier, its record and its due time.
        assert (after.retry_tier, after.retry_seq, after.next_attempt_at, after.attempts) == (
            before.retry_tier,
            before.retry_seq,
            before.next_attempt_at,
            before.attempts,
        )
        self._started(after)
        self.delivery = after

    @precondition(lambda self: self.claims)
    @rule(pick=st.integers(0, 1000))
    def release(self, pick: int) -> None:
        """The breaker opened again before an attempt brought forward made its PUT."""
        before = self._current()
        at = self._tick()
        claimed = self.claims[-1 - pick % len(self.claims)]
        t = before.release(claimed, at=at)
        its = (
            before.brought_forward
            and before.version == claimed.version
            and before.retry_seq == claimed.retry_seq
        )
        if not its:
            assert t is None
            return
        assert t is not None
        self._check_step(before, t, at, redrive=False)
        assert t.delivery.state is S.RETRYING
        assert t.delivery == replace(before, state=S.RETRYING)
        self.delivery = t.delivery

    @precondition(lambda self: self.delivery is not None)
    @rule(lease=st.integers(1, 60))
    def check(self, lease: int) -> None:
        """The poller takes the delivery for its scheduled check if one is due."""
        before = self._current()
        at = self._tick()
        t = before.recheck(at=at, lease_until=at + timedelta(seconds=lease))
        due = before.state is S.PARKED and before.recheck_at is not None and before.recheck_at <= at
        if not due:
            assert t is None
            return
        assert t is not None
        self._check_step(before, t, at, redrive=False, silent=True)
        after = t.delivery
        assert t.events == ()
        assert (after.state, after.attempts, after.reason) == (
            S.PARKED,
            before.attempts,
            before.reason,
        )
        assert after.retry_seq == before.retry_seq + 1
        assert after.recheck_at == at + timedelta(seconds=lease)
        self._started(after)
        self.delivery = after

    @precondition(lambda self: self.claims)
    @rule(pick=st.integers(0, 1000), outcome=st.sampled_from(OUTCOMES), puts=st.integers(1, 3))
    def record(self, pick: int, outcome: Outcome, puts: int) -> None:
        before = self._current()
        at = self._tick()
        claimed = self.claims[-1 - pick % len(self.claims)]
        # One line per failed PUT, as the sender reports them; the last, if permanent, is added
        # by the delivery itself.
        failed = puts if outcome.is_transient else puts - 1
        errors = ("BKN-T02: e-Kinerja sedang bermasalah (HTTP 503).",) * failed
        t = before.record(claimed, outcome, attempts=puts, errors=errors, schedule=SCHEDULE, at=at)
        still_its = (
            before.state is claimed.state
            and before.version == claimed.version
            and before.retry_seq == claimed.retry_seq
        )
        if not still_its:
            assert t is None  # the attempt lost its claim: not its to decide
            return
        assert t is not None
        a_check = claimed.state is S.PARKED
        # A scheduled check moves a PARKED delivery on, as a redrive does.
        self._check_step(before, t, at, redrive=a_check, attempt=outcome)
        assert statuses(t)[-1].http_status == outcome.http_status
        after = t.delivery
        assert after.attempts == before.attempts + puts
        assert after.last_attempt_at == at
        if outcome.is_transient and a_check:
            # e-Kinerja being down says nothing of the cause: still parked for it.
            assert after.state is S.PARKED
            assert after.reason == before.reason
            assert after.parked_at == before.parked_at
        elif outcome.is_transient and before.brought_forward:
            # Back to its place on the tier: no tier spent, its record still the current one.
            assert after.state is S.RETRYING
            assert (after.retry_tier, after.retry_seq, after.next_attempt_at) == (
                before.retry_tier,
                before.retry_seq,
                before.next_attempt_at,
            )
        elif outcome.is_transient:
            last_tier = before.retry_tier == SCHEDULE.tiers
            assert after.state is (S.DEAD if last_tier else S.RETRYING)
        else:
            assert after.state is EXPECTED[outcome.verdict]
        handed = t.events[:-1]
        if after.state is S.RETRYING and before.brought_forward:
            assert handed == ()
        elif after.state is S.RETRYING:
            assert after.retry_tier == before.retry_tier + 1
            assert after.retry_seq == before.retry_seq + 1
            assert after.next_attempt_at is not None
            assert after.next_attempt_at > at
            assert handed == (RetryScheduled(after, after.retry_tier, after.next_attempt_at),)
        elif after.state is S.DEAD:
            assert handed == (DeadLettered(after, at),)
        else:
            assert handed == ()
        if after.state is S.DELIVERED:
            assert after.delivered_at == at
            assert after.reason is None
            self.delivered.append(after.version)
        elif not (a_check and outcome.is_transient):
            assert after.reason is not None
            assert after.reason.code == outcome.code
        self.delivery = after

    @precondition(lambda self: self.delivery is not None)
    @rule()
    def redrive(self) -> None:
        before = self._current()
        at = self._tick()
        try:
            t = before.redrive(at=at)
        except TransitionRefused:
            assert before.state not in (S.PARKED, S.DEAD)
            return
        assert before.state in (S.PARKED, S.DEAD)
        self._check_step(before, t, at, redrive=True)
        after = t.delivery
        assert (after.state, after.retry_tier, after.next_attempt_at) == (S.QUEUED, 0, at)
        assert after.attempts == before.attempts
        assert after.retry_seq == before.retry_seq + 1
        assert after.reason is None
        assert t.events == (RetryScheduled(after, 0, at), after.status(at))
        self.delivery = after

    @precondition(lambda self: self.delivery is not None)
    @rule(skew=st.integers(-2, 2))
    def supersede(self, skew: int) -> None:
        """Asked directly (arrivals ask it too): only a strictly newer version supersedes."""
        before = self._current()
        at = self._tick()
        by = before.version + skew
        try:
            t = before.supersede(by, at=at)
        except TransitionRefused:
            assert by <= before.version
            return
        assert by > before.version
        if before.state in (S.DELIVERED, S.SUPERSEDED):
            assert t == Transition(before)
        else:
            assert t.delivery.state is S.SUPERSEDED
            assert t.events == (t.delivery.status(at),)
        # Not adopted: the newer version itself never arrived.

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def holds_the_newest_version_accepted(self) -> None:
        if self.delivery is not None:
            assert self.delivery.version == self.newest

    @invariant()
    def never_sends_or_delivers_an_older_version_after_a_newer_one(self) -> None:
        assert self.sent == sorted(self.sent)
        assert self.delivered == sorted(self.delivered)

    @invariant()
    def the_state_and_its_schedule_agree(self) -> None:
        d = self.delivery
        if d is None:
            return
        if d.state is S.RETRYING:
            assert d.next_attempt_at is not None
            assert 1 <= d.retry_tier <= SCHEDULE.tiers
        if d.state is S.DEAD or (d.state is S.IN_FLIGHT and not d.brought_forward):
            assert d.next_attempt_at is None
        if d.state is S.DELIVERED:
            assert d.delivered_at is not None
        if d.waiting_for_skp:  # nothing is attempted or checked while it waits for its SKP
            assert (d.next_attempt_at, d.recheck_at) == (None, None)
        if d.recheck_at is not None or (d.state is S.PARKED and d.next_attempt_at is not None):
            # Only a cause outside Kinerja is checked again on a schedule.
            assert d.state is S.PARKED
            assert d.reason is not None
            assert d.reason.code in RECHECKED
        if d.state is S.PARKED and d.reason is not None and d.reason.code in RECHECKED:
            assert d.parked_at is not None
            if d.recheck_at is None:  # no check will come: it says so
                assert d.next_attempt_at is None
                assert d.reason.remedy is not None
                assert d.reason.remedy.endswith(NO_MORE_CHECKS)


DeliveryLifecycle.TestCase.settings = settings(
    max_examples=300, stateful_step_count=50, deadline=None
)
TestDeliveryLifecycle = DeliveryLifecycle.TestCase
