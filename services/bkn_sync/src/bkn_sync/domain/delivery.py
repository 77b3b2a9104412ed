"""The delivery lifecycle (docs/domain.md §2.10, §6): what happens to one record slot in e-Kinerja
when a version arrives, when it is taken for an attempt, when e-Kinerja answers, when an
operator redrives it, and when a newer version replaces it.

Pure: every transition takes the time it happens at and returns the new delivery with the
events it causes (``Transition``); the caller saves both in one transaction. A delivery is
immutable, so a transition that does not apply leaves it as it was.

::

    arrive, first version    (none)            → QUEUED, or IN_FLIGHT if claimed at once;
                                                 a predikat whose SKP is not at e-Kinerja
                                                 yet: PARKED, BKN-E08, no attempt (held)
    arrive, newer version    any state         → QUEUED / IN_FLIGHT for the new version; the
                                                 old one is told SUPERSEDED unless
                                                 DELIVERED or told already
    arrive, same version     QUEUED            → IN_FLIGHT if claimed at once, else as it is
    arrive, older version    any state         → as it is; that version is told SUPERSEDED
    claim                    QUEUED, RETRYING  → IN_FLIGHT (IN_FLIGHT after a crash: as it is)
    bring_forward            RETRYING          → IN_FLIGHT before its tier is due (after an
                                                 outage); it keeps that due time, and a
                                                 transient failure puts it back there
    release                  IN_FLIGHT, brought forward, no PUT made → RETRYING as it was
    record                   IN_FLIGHT         → DELIVERED | RETRYING (next tier, due time)
                                                 | PARKED (reason; the next check if its
                                                 cause lies outside Kinerja) | DEAD
                                                 | SUPERSEDED (E11)
    tally                    any, same version → as it is, the PUTs of an attempt whose
                                                 outcome ``record`` refused counted (no status)
    recheck                  PARKED, check due → PARKED, taken for the check (no status)
    record (of a check)      PARKED            → DELIVERED | SUPERSEDED | DEAD | PARKED again
                                                 (the next check, or none: the last is past)
    redrive                  PARKED, DEAD      → QUEUED, tier 0, due now (also how a held
                                                 predikat is released once its SKP is there)

DELIVERED, PARKED, DEAD and SUPERSEDED end a version's road: only a redrive (PARKED, DEAD), a
scheduled check (PARKED) or a newer version moves the delivery on.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from kinerja_shared.events.bkn_sync import ERROR_MAX, DeliveryState, DeliveryStatus, RecordKind

from .classify import RECHECKED, SKP_MISSING, Outcome, Verdict
from .deliveries import (
    CLAIMABLE,
    PENDING,
    REDRIVABLE,
    SKP_AT_E_KINERJA,
    Arrival,
    RetrySchedule,
    delivery_key,
    idempotency_key,
    on_arrival,
)

# What e-Kinerja's "stale version" answer (409) and an older version arriving late are told.
SUPERSEDED_CODE = "BKN-E11"


class TransitionRefused(Exception):
    """A transition asked of a delivery in a state that does not allow it."""


@dataclass(frozen=True)
class SourceVersion:
    """One version of a record as it came off its source topic: what is sent to e-Kinerja
    (``body``) and the record itself, replayed unchanged onto the retry tiers and the DLQ."""

    kind: RecordKind
    nip: str
    npsn: str
    period_id: str
    version: int
    body: Mapping[str, Any]
    record: bytes
    topic: str
    partition: int
    offset: int
    # The record's headers (its W3C trace context among them): every attempt of this version,
    # whoever makes it, joins the trace of the request that caused it.
    trace: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The source consumers name the kind as their topic's; the events need the enum.
        object.__setattr__(self, "kind", RecordKind(self.kind))

    @property
    def delivery_key(self) -> str:
        return delivery_key(self.kind, self.nip, self.period_id)


@dataclass(frozen=True)
class Reason:
    """Why a delivery is where it is, and who must do what (docs/domain.md §6.4)."""

    code: str | None
    text: str | None
    remedy: str | None = None
    actor: str | None = None

    @classmethod
    def of(cls, outcome: Outcome) -> Reason | None:
        reason = cls(outcome.code, outcome.reason, outcome.remedy, outcome.actor)
        return None if reason == NO_REASON else reason


NO_REASON = Reason(None, None)

# Said by a delivery parked again after its last scheduled check.
NO_MORE_CHECKS = (
    "Pemeriksaan ulang otomatis ke e-Kinerja sudah berakhir; setelah penyebabnya diperbaiki, "
    "data dikirim lagi saat data pegawai di Dapodik berubah atau saat operator menjalankan "
    "redrive."
)


# A predikat held until its SKP is at e-Kinerja: nobody needs to act on the predikat itself.
WAITING_FOR_SKP = Reason(
    SKP_MISSING,
    "Menunggu SKP pegawai tercatat di e-Kinerja; dikirim otomatis setelahnya",
    "Tidak perlu tindakan untuk predikat ini; bila SKP pegawai ini tertahan, ikuti tindakan "
    "yang disebut pada SKP tersebut.",
    None,
)


def _attempt_error(outcome: Outcome | None) -> str | None:
    """An attempt's error as the status event tells it: our code and words (e-Kinerja's own
    message quoted in them is already cut short, and is the event's ``reason`` too), bounded by
    the contract."""
    if outcome is None or outcome.verdict is Verdict.DELIVERED:
        return None
    text = outcome.error_text()
    return text if len(text) <= ERROR_MAX else text[: ERROR_MAX - 1] + "…"


def _without_checks(reason: Reason) -> Reason:
    remedy = f"{reason.remedy} {NO_MORE_CHECKS}" if reason.remedy else NO_MORE_CHECKS
    return replace(reason, remedy=remedy)


@dataclass(frozen=True)
class RetryScheduled:
    """The delivery's source record goes to retry tier ``tier`` (0: a redrive, no wait), to be
    attempted at ``due_at``."""

    delivery: Delivery
    tier: int
    due_at: datetime


@dataclass(frozen=True)
class DeadLettered:
    """The delivery's source record goes to the DLQ, for engineers."""

    delivery: Delivery
    at: datetime


# What a transition causes: the status everyone is told (``DeliveryStatus``, the public event)
# and the hand-overs of the source record to a retry tier or the DLQ.
Event = DeliveryStatus | RetryScheduled | DeadLettered


@dataclass(frozen=True)
class Transition:
    """The delivery after a transition and the events it causes, saved together. A transition
    that changes nothing hands back the very same delivery: the caller writes what changed."""

    delivery: Delivery
    events: tuple[Event, ...] = ()
    # Set by ``arrive``: the current version is to be attempted now (newly accepted, or still
    # pending after a crash before the source offsets were committed).
    attempt: bool = False


@dataclass(frozen=True)
class Delivery:
    """One record slot (kind, NIP, period) and where its current version stands."""

    current: SourceVersion
    idempotency_key: uuid.UUID
    state: DeliveryState
    attempts: int = 0
    # Bumped whenever a retry-tier record is staged: a tier record with another value is stale.
    retry_seq: int = 0
    retry_tier: int = 0
    next_attempt_at: datetime | None = None
    reason: Reason | None = None
    first_error: str | None = None
    last_error: str | None = None
    first_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    # Parked since (for this cause): the scheduled checks count from here.
    parked_at: datetime | None = None
    # When the scheduled check of a PARKED delivery is due; while a check is out, when it may
    # be taken again (the one that took it died).
    recheck_at: datetime | None = None

    # --- identity ---------------------------------------------------------------------------

    @property
    def delivery_key(self) -> str:
        return self.current.delivery_key

    @property
    def kind(self) -> RecordKind:
        return self.current.kind

    @property
    def nip(self) -> str:
        return self.current.nip

    @property
    def npsn(self) -> str:
        return self.current.npsn

    @property
    def period_id(self) -> str:
        return self.current.period_id

    @property
    def version(self) -> int:
        return self.current.version

    @property
    def redrivable(self) -> bool:
        return self.state in REDRIVABLE

    @property
    def waiting_for_skp(self) -> bool:
        """A predikat held until the teacher's SKP is at e-Kinerja."""
        # (e-Kinerja's own SKP_NOT_FOUND is BKN-E08 too, but retried, never PARKED.)
        return (
            self.state is DeliveryState.PARKED
            and self.reason is not None
            and self.reason.code == WAITING_FOR_SKP.code
        )

    @property
    def releases_predikat(self) -> bool:
        """This teacher's SKP is at e-Kinerja: their predikat of the period may follow."""
        return self.kind is RecordKind.SKP and self.state in SKP_AT_E_KINERJA

    @property
    def releases_teachers(self) -> bool:
        """An atasan's own SKP in e-Kinerja is what their teachers' E05 refusals wait for."""
        return self.state is DeliveryState.DELIVERED and self.kind is RecordKind.SKP

    def waiting_for(self, states: Collection[DeliveryState], retry_seq: int | None = None) -> bool:
        """Still waiting for an attempt from one of ``states`` (and, given a tier record's
        ``retry_seq``, for that very record)?"""
        if self.state not in states or self.state not in CLAIMABLE:
            return False
        return retry_seq is None or retry_seq == self.retry_seq

    # --- transitions ------------------------------------------------------------------------

    @classmethod
    def new(
        cls, version: SourceVersion, *, claim: bool, at: datetime, hold: bool = False
    ) -> Transition:
        """The first version of a slot. With ``claim`` it goes straight to IN_FLIGHT (one status
        event instead of QUEUED then IN_FLIGHT) as its attempt follows at once. With ``hold``
        (a predikat whose SKP is not at e-Kinerja yet) it waits PARKED instead, unattempted."""
        fresh = cls._fresh(version, claim=claim)
        if hold:
            fresh = fresh._held(at)
        return Transition(fresh, (fresh.status(at),), attempt=not hold)

    def arrive(
        self, version: SourceVersion, *, claim: bool, at: datetime, hold: bool = False
    ) -> Transition:
        """A version of this slot came off the source topic: a newer one, a copy of the current
        one (a redelivery after a crash, a re-publish), or an older one arriving late. With
        ``hold``, a version still to be attempted waits for the teacher's SKP instead."""
        if version.delivery_key != self.delivery_key:
            raise TransitionRefused(f"{version.delivery_key} is not {self.delivery_key}")
        arrival = on_arrival(self.version, version.version)
        if arrival is Arrival.OLDER:
            return Transition(self, (self._refused_older(version.version, at),))
        if arrival is Arrival.SAME:
            if self.state not in PENDING:
                # Past its attempt (delivered, parked, on a retry tier): a copy asks nothing new.
                return Transition(self)
            if hold:
                held = self._held(at)
                return Transition(held, (held.status(at),))
            if not claim:
                return Transition(self, attempt=True)
            claimed = self.claim(PENDING, at=at)
            assert claimed is not None  # PENDING is claimable
            return replace(claimed, attempt=True)
        superseded = self.supersede(version.version, at=at)
        # Bumping retry_seq orphans any retry-tier record of the old version.
        fresh = replace(self._fresh(version, claim=claim), retry_seq=self.retry_seq + 1)
        if hold:
            fresh = fresh._held(at)
        return Transition(fresh, (*superseded.events, fresh.status(at)), attempt=not hold)

    def supersede(self, newer_version: int, *, at: datetime) -> Transition:
        """A strictly newer version replaces this one. A version e-Kinerja already holds stays
        DELIVERED (the newer one will replace it there); one told SUPERSEDED is not told again."""
        if newer_version <= self.version:
            raise TransitionRefused(
                f"version {newer_version} does not supersede version {self.version}"
            )
        if self.state in (DeliveryState.DELIVERED, DeliveryState.SUPERSEDED):
            return Transition(self)
        # Nothing more is attempted or checked for this version.
        superseded = replace(
            self, state=DeliveryState.SUPERSEDED, next_attempt_at=None, recheck_at=None
        )
        return Transition(superseded, (superseded.status(at),))

    def claim(
        self,
        states: Collection[DeliveryState] = PENDING,
        retry_seq: int | None = None,
        *,
        at: datetime,
    ) -> Transition | None:
        """Take the delivery for an attempt; None if it is no longer waiting for one from
        ``states`` (delivered, redriven or replaced meanwhile)."""
        if not self.waiting_for(states, retry_seq):
            return None
        if self.state is DeliveryState.IN_FLIGHT and not self.brought_forward:
            return Transition(self)  # a previous attempt crashed mid-way; its status was told
        # (An attempt brought forward that its tier record now finds unfinished is this tier's
        # attempt from here on: its outcome moves the delivery on as any tier's does.)
        claimed = replace(self, state=DeliveryState.IN_FLIGHT, next_attempt_at=None)
        return Transition(claimed, (claimed.status(at),))

    @property
    def brought_forward(self) -> bool:
        """In flight before its retry tier was due: it still holds that tier's due time."""
        return self.state is DeliveryState.IN_FLIGHT and self.next_attempt_at is not None

    def bring_forward(self, retry_seq: int | None = None, *, at: datetime) -> Transition | None:
        """Take a delivery waiting on its retry tier for an attempt now rather than when the
        tier is due (e-Kinerja is back after an outage); None if it is not waiting there (or,
        given ``retry_seq``, not for that very record). It keeps its tier and due time: if
        e-Kinerja fails it again, it waits there as before, its retry budget untouched, and the
        tier's record (still current) attempts it when due."""
        if self.state is not DeliveryState.RETRYING:
            return None
        if retry_seq is not None and retry_seq != self.retry_seq:
            return None
        claimed = replace(self, state=DeliveryState.IN_FLIGHT)
        return Transition(claimed, (claimed.status(at),))

    def release(self, claimed: Delivery, *, at: datetime) -> Transition | None:
        """Put an attempt brought forward back on its tier as it was, no PUT having been made
        (the breaker opened again first); None if it is not that attempt's to release."""
        if (
            not self.brought_forward
            or self.version != claimed.version
            or self.retry_seq != claimed.retry_seq
        ):
            return None
        released = replace(self, state=DeliveryState.RETRYING)
        return Transition(released, (released.status(at),))

    def record(
        self,
        claimed: Delivery,
        outcome: Outcome,
        *,
        attempts: int,
        errors: Sequence[str],
        schedule: RetrySchedule,
        at: datetime,
    ) -> Transition | None:
        """What ``attempts`` PUTs of the attempt that ``claimed`` this delivery ended with (a
        scheduled check if ``claimed`` is PARKED); None if the delivery moved on meanwhile
        (redriven, a newer version, checked again by another), so it is not this attempt's to
        decide."""
        if (
            self.state is not claimed.state
            or self.state not in (DeliveryState.IN_FLIGHT, DeliveryState.PARKED)
            or self.version != claimed.version
            or self.retry_seq != claimed.retry_seq
        ):
            return None
        if self.state is DeliveryState.PARKED:
            after = self._checked(outcome, attempts, errors, schedule, at)
        else:
            after = self._after(outcome, attempts, errors, schedule, at)
        if after.state is DeliveryState.RETRYING and after.retry_seq != self.retry_seq:
            assert after.next_attempt_at is not None
            handed: tuple[Event, ...] = (
                RetryScheduled(after, after.retry_tier, after.next_attempt_at),
            )
        elif after.state is DeliveryState.DEAD:
            handed = (DeadLettered(after, at),)
        else:
            handed = ()
        return Transition(after, (*handed, after.status(at, attempt=outcome)))

    def tally(self, claimed: Delivery, *, attempts: int, at: datetime) -> Transition | None:
        """Count the ``attempts`` PUTs of an attempt whose outcome ``record`` refused (the
        delivery moved on meanwhile: another attempt on the same claim recorded first, e.g. a
        tier record that took over an attempt brought forward, or a check taken again after its
        lease; a redrive). They reached e-Kinerja all the same, under this version's key, so
        they count in its history; nothing else changes (state, reason, errors and
        ``last_attempt_at`` stay the deciding attempt's) and nobody is told. None for another
        version's attempt (a newer version's history starts afresh) or if no PUT was made."""
        if attempts <= 0 or self.version != claimed.version:
            return None
        counted = replace(
            self,
            attempts=self.attempts + attempts,
            first_attempt_at=self.first_attempt_at or at,
        )
        return Transition(counted)

    def recheck(self, *, at: datetime, lease_until: datetime) -> Transition | None:
        """Take a PARKED delivery whose scheduled check is due for that check; None if it is
        not due. It stays PARKED (its principal is told the outcome, not that a check began);
        taking it bumps ``retry_seq``, so only this check's outcome is recorded, and sets the
        check due again at ``lease_until`` in case the one taking it dies mid-way."""
        if (
            self.state is not DeliveryState.PARKED
            or self.recheck_at is None
            or self.recheck_at > at
        ):
            return None
        return Transition(replace(self, retry_seq=self.retry_seq + 1, recheck_at=lease_until))

    def redrive(self, *, at: datetime) -> Transition:
        """Put a parked or dead delivery back on the road: queued, a fresh retry budget (tier 0),
        no wait. Its attempts so far stay counted."""
        if not self.redrivable:
            raise TransitionRefused(f"a {self.state} delivery is not redriven")
        redriven = replace(
            self,
            state=DeliveryState.QUEUED,
            retry_tier=0,
            retry_seq=self.retry_seq + 1,
            next_attempt_at=at,
            reason=None,
            parked_at=None,
            recheck_at=None,
        )
        return Transition(redriven, (RetryScheduled(redriven, 0, at), redriven.status(at)))

    # --- events -----------------------------------------------------------------------------

    def status(self, at: datetime, *, attempt: Outcome | None = None) -> DeliveryStatus:
        """Where the current version stands, as everyone is told it; with what e-Kinerja
        answered if an ``attempt``'s outcome brought it here."""
        reason = self.reason or NO_REASON
        return DeliveryStatus(
            delivery_id=self.delivery_key,
            kind=self.kind,
            nip=self.nip,
            npsn=self.npsn,
            period_id=self.period_id,
            version=self.version,
            state=self.state,
            attempts=self.attempts,
            next_attempt_at=self.next_attempt_at,
            reason_code=reason.code,
            reason=reason.text,
            remedy=reason.remedy,
            actor=reason.actor,
            at=at,
            http_status=attempt.http_status if attempt is not None else None,
            error=_attempt_error(attempt),
        )

    # --- helpers ----------------------------------------------------------------------------

    @classmethod
    def _fresh(cls, version: SourceVersion, *, claim: bool) -> Delivery:
        return cls(
            current=version,
            idempotency_key=idempotency_key(
                version.kind, version.nip, version.period_id, version.version
            ),
            state=DeliveryState.IN_FLIGHT if claim else DeliveryState.QUEUED,
        )

    def _held(self, at: datetime) -> Delivery:
        """Waiting for the teacher's SKP to be at e-Kinerja, before any attempt: released (a
        redrive) when it is."""
        return replace(
            self,
            state=DeliveryState.PARKED,
            reason=WAITING_FOR_SKP,
            next_attempt_at=None,
            parked_at=at,
            recheck_at=None,
        )

    def _refused_older(self, version: int, at: datetime) -> DeliveryStatus:
        """The status of a version that arrived after a newer one: superseded on arrival, never
        queued. The delivery itself stays as it is."""
        return self.status(at).model_copy(
            update={
                "version": version,
                "state": DeliveryState.SUPERSEDED,
                "attempts": 0,
                "next_attempt_at": None,
                "reason_code": SUPERSEDED_CODE,
                "reason": f"Versi {self.version} yang lebih baru sudah diterima.",
                "remedy": None,
                "actor": None,
            }
        )

    def _tried(
        self, outcome: Outcome, attempts: int, errors: Sequence[str], at: datetime
    ) -> Delivery:
        """The delivery with the attempts counted and their errors in its history."""
        said = list(errors)
        if not outcome.is_transient and outcome.verdict is not Verdict.DELIVERED:
            said.append(outcome.error_text())
        return replace(
            self,
            attempts=self.attempts + attempts,
            first_attempt_at=self.first_attempt_at or at,
            last_attempt_at=at,
            first_error=(self.first_error or said[0]) if said else self.first_error,
            last_error=said[-1] if said else self.last_error,
            reason=Reason.of(outcome),
            parked_at=None,
            recheck_at=None,
        )

    def _ended(self, tried: Delivery, verdict: Verdict, at: datetime) -> Delivery | None:
        """Where a verdict that ends the version's road leaves it, but for parking."""
        if verdict is Verdict.DELIVERED:
            return replace(
                tried,
                state=DeliveryState.DELIVERED,
                delivered_at=at,
                reason=None,
                next_attempt_at=None,
            )
        if verdict is Verdict.SUPERSEDE:
            return replace(tried, state=DeliveryState.SUPERSEDED, next_attempt_at=None)
        if verdict is Verdict.DEAD:
            return replace(tried, state=DeliveryState.DEAD, next_attempt_at=None)
        return None

    @staticmethod
    def _parked(
        tried: Delivery,
        reason: Reason | None,
        since: datetime,
        schedule: RetrySchedule,
        at: datetime,
    ) -> Delivery:
        """PARKED for ``reason`` since ``since``, with its next scheduled check if its cause
        lies outside Kinerja; past the last check, it says no more will come."""
        code = reason.code if reason is not None else None
        if code not in RECHECKED:
            return replace(
                tried,
                state=DeliveryState.PARKED,
                reason=reason,
                parked_at=since,
                next_attempt_at=None,
                recheck_at=None,
            )
        check = schedule.recheck.next_check(since, at)
        if check is None and reason is not None:
            reason = _without_checks(reason)
        return replace(
            tried,
            state=DeliveryState.PARKED,
            reason=reason,
            parked_at=since,
            next_attempt_at=check,
            recheck_at=check,
        )

    def _checked(
        self,
        outcome: Outcome,
        attempts: int,
        errors: Sequence[str],
        schedule: RetrySchedule,
        at: datetime,
    ) -> Delivery:
        """The delivery once a scheduled check's outcome is applied. A transient failure says
        nothing about the cause it is parked for: it stays parked for that, checked again on
        the same schedule (never sent down the retry tiers to die)."""
        tried = self._tried(outcome, attempts, errors, at)
        ended = self._ended(tried, outcome.verdict, at)
        if ended is not None:
            return ended
        if outcome.is_transient:
            return self._parked(tried, self.reason, self.parked_at or at, schedule, at)
        reason = Reason.of(outcome)
        same_cause = (
            reason is not None and self.reason is not None and (reason.code == self.reason.code)
        )
        since = (self.parked_at or at) if same_cause else at
        return self._parked(tried, reason, since, schedule, at)

    def _after(
        self,
        outcome: Outcome,
        attempts: int,
        errors: Sequence[str],
        schedule: RetrySchedule,
        at: datetime,
    ) -> Delivery:
        """The delivery once the attempts' outcome is applied."""
        tried = self._tried(outcome, attempts, errors, at)
        verdict = outcome.verdict
        ended = self._ended(tried, verdict, at)
        if ended is not None:
            return ended
        if verdict in (Verdict.PARK, Verdict.DROP):
            return self._parked(tried, tried.reason, at, schedule, at)
        if self.brought_forward:
            # Back to its place on the tier, whose record still stands: no tier spent.
            return replace(tried, state=DeliveryState.RETRYING)
        tier = schedule.next_tier(self.retry_tier)
        if tier is None:  # the last tier failed too
            return replace(tried, state=DeliveryState.DEAD, next_attempt_at=None)
        return replace(
            tried,
            state=DeliveryState.RETRYING,
            retry_tier=tier,
            retry_seq=self.retry_seq + 1,
            next_attempt_at=schedule.due_at(tier, at, outcome.retry_after),
        )
