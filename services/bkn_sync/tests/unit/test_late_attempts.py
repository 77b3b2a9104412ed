"""Every PUT that went out is counted in its delivery's history, even when its outcome comes too
late to decide anything: two attempts on one claim (a tier record taking over an attempt brought
forward after an outage, a source batch read again while a delivery is in flight, a check taken
again after its lease) both reach e-Kinerja, and only the first outcome moves the delivery on.
Without a database: the domain, and ``pipeline._apply`` over an in-memory row store."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bkn_sync import pipeline, repository
from bkn_sync.domain.classify import DELIVERED, classify
from bkn_sync.domain.deliveries import CLAIMABLE, PENDING, RetrySchedule
from bkn_sync.domain.delivery import Delivery, SourceVersion
from bkn_sync.sender import Result
from kinerja_shared.events.bkn_sync import DeliveryState, RecordKind

NIP = "198609262015051001"
AT = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
LATER = AT + timedelta(seconds=1)
# As the recovery test: the first tier soon, the second far off.
SCHEDULE = RetrySchedule((0.2, 600.0, 600.0))
T02 = classify(503)
S = DeliveryState


def version(n: int) -> SourceVersion:
    return SourceVersion(
        kind=RecordKind.SKP,
        nip=NIP,
        npsn="20100001",
        period_id="2025",
        version=n,
        body={"nip": NIP, "version": n},
        record=f"v{n}".encode(),
        topic="kinerja.planning.plan-agreed.v1",
        partition=0,
        offset=n,
    )


def on_tier_one() -> Delivery:
    """Failed its source attempt (2 PUTs): waiting on tier 1, due in 0.2 s."""
    d = Delivery.new(version(1), claim=True, at=AT).delivery
    t = d.record(d, T02, attempts=2, errors=("a", "b"), schedule=SCHEDULE, at=AT)
    assert t is not None
    assert (t.delivery.state, t.delivery.retry_tier, t.delivery.attempts) == (S.RETRYING, 1, 2)
    return t.delivery


def forward_then_taken_over(waiting: Delivery) -> tuple[Delivery, Delivery]:
    """Recovery brings it forward; before that attempt's outcome is in, its tier record (now
    due) claims it: two live attempts, each of which makes its PUTs."""
    forward = waiting.bring_forward(waiting.retry_seq, at=LATER)
    assert forward is not None
    taken = forward.delivery.claim(CLAIMABLE, waiting.retry_seq, at=LATER)
    assert taken is not None
    return forward.delivery, taken.delivery


# --- the domain ---------------------------------------------------------------------------------


def test_a_refused_outcome_of_the_same_version_still_counts_its_puts() -> None:
    waiting = on_tier_one()
    by_forward, by_tier = forward_then_taken_over(waiting)

    first = by_tier.record(by_tier, T02, attempts=1, errors=("c",), schedule=SCHEDULE, at=LATER)
    assert first is not None
    moved_on = first.delivery  # tier 2, its retry_seq bumped
    assert (moved_on.state, moved_on.retry_tier, moved_on.attempts) == (S.RETRYING, 2, 3)
    late = moved_on.record(by_forward, T02, attempts=1, errors=("d",), schedule=SCHEDULE, at=LATER)
    assert late is None  # not the forward attempt's to decide

    tallied = moved_on.tally(by_forward, attempts=1, at=LATER)

    assert tallied is not None
    assert tallied.delivery.attempts == 4  # 2 + 1 + 1: every PUT e-Kinerja saw
    assert tallied.events == ()  # nothing anyone is told changed state
    # Nothing but the count changes: the tier, its record, due time and errors stay.
    assert tallied.delivery == replace(moved_on, attempts=4)


def test_puts_of_an_older_version_or_of_no_put_are_not_counted_in_the_newer() -> None:
    claimed = Delivery.new(version(1), claim=True, at=AT).delivery
    replaced = claimed.arrive(version(2), claim=True, at=LATER).delivery

    assert replaced.tally(claimed, attempts=1, at=LATER) is None
    assert claimed.tally(claimed, attempts=0, at=LATER) is None


def test_a_late_outcome_after_delivered_is_counted_and_it_stays_delivered() -> None:
    claimed = Delivery.new(version(1), claim=True, at=AT).delivery
    retaken = claimed.claim(PENDING, at=AT)  # a source batch read again: taken as it is
    assert retaken is not None
    assert retaken.delivery is claimed
    done = claimed.record(claimed, DELIVERED, attempts=1, errors=(), schedule=SCHEDULE, at=AT)
    assert done is not None

    tallied = done.delivery.tally(claimed, attempts=1, at=LATER)

    assert tallied is not None
    assert (tallied.delivery.state, tallied.delivery.attempts) == (S.DELIVERED, 2)
    assert tallied.delivery.delivered_at == AT


# --- recording, as the recorder does it ---------------------------------------------------------


class Rows:
    """The ``deliveries`` table, as much of it as ``pipeline._apply`` uses."""

    def __init__(self, *deliveries: Delivery) -> None:
        self.rows = {d.delivery_key: d for d in deliveries}
        self.events: list[Any] = []

    async def lock_many(self, _conn: Any, keys: Iterable[str]) -> dict[str, Delivery]:
        return {k: self.rows[k] for k in sorted(keys) if k in self.rows}

    async def lock_skp_slots(self, _conn: Any, _slots: Any) -> None:
        return None

    async def save(
        self,
        _conn: Any,
        *,
        updated: Sequence[Delivery] = (),
        events: Sequence[tuple[Any, Mapping[str, str]]] = (),
        **_: Any,
    ) -> list[Any]:
        for d in updated:
            self.rows[d.delivery_key] = d
        self.events += [e for e, _ in events]
        return []

    async def none_waiting(self, _conn: Any, _which: Any) -> list[Delivery]:
        return []


@pytest.fixture
def rows(monkeypatch: pytest.MonkeyPatch) -> Rows:
    store = Rows()
    monkeypatch.setattr(repository, "lock_many", store.lock_many)
    monkeypatch.setattr(repository, "lock_skp_slots", store.lock_skp_slots)
    monkeypatch.setattr(repository, "save", store.save)
    monkeypatch.setattr(repository, "predikat_waiting_for_skp", store.none_waiting)
    monkeypatch.setattr(repository, "parked_waiting_for_atasan_skp", store.none_waiting)
    return store


ROUTING = pipeline.Routing(SCHEDULE, "dlq", "bkn-sync")
TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


@pytest.mark.parametrize("together", [False, True])
async def test_the_recorder_counts_the_puts_of_both_attempts_on_one_claim(
    rows: Rows, together: bool
) -> None:
    # The recovery test's interleaving: bring forward, the tier record takes the attempt over,
    # both PUT (503), the tier's outcome is recorded first (onto tier 2), the forward's after.
    waiting = on_tier_one()
    by_forward, by_tier = forward_then_taken_over(waiting)
    rows.rows[waiting.delivery_key] = by_tier
    tier = pipeline.Attempted(by_tier, Result(T02, 1, ("c",)), TRACE)
    forward = pipeline.Attempted(by_forward, Result(T02, 1, ("d",)), TRACE)

    if together:  # completed at the same moment: one transaction
        recorded = await pipeline._apply(None, [tier, forward], ROUTING)  # type: ignore[arg-type]
        assert recorded[1] is None
    else:
        await pipeline._apply(None, [tier], ROUTING)  # type: ignore[arg-type]
        assert await pipeline._apply(None, [forward], ROUTING) == [None]  # type: ignore[arg-type]

    after = rows.rows[waiting.delivery_key]
    assert (after.state, after.retry_tier, after.retry_seq) == (
        S.RETRYING,
        2,
        waiting.retry_seq + 1,
    )
    assert after.attempts == 4  # 2 (source) + 1 (tier) + 1 (forward): what e-Kinerja saw
    # The late outcome is told nothing and hands nothing on: one status, one tier record.
    assert len(rows.events) == 2

    # e-Kinerja is back: brought forward from tier 2 and delivered; the history holds 5 PUTs.
    again = after.bring_forward(after.retry_seq, at=LATER)
    assert again is not None
    rows.rows[waiting.delivery_key] = again.delivery
    delivered = pipeline.Attempted(again.delivery, Result(DELIVERED, 1, ()), TRACE)
    [d] = await pipeline._apply(None, [delivered], ROUTING)  # type: ignore[arg-type]
    assert d is not None
    assert (d.state, d.attempts) == (S.DELIVERED, 5)
