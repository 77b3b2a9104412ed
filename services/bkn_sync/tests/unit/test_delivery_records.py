"""Where the delivery lifecycle meets storage and Kafka, without a database: a delivery survives
its row unchanged, and each event becomes the one outbox record its consumers expect."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bkn_sync import repository
from bkn_sync.domain.classify import classify
from bkn_sync.domain.deliveries import RetrySchedule
from bkn_sync.domain.delivery import (
    DeadLettered,
    Delivery,
    Reason,
    RetryScheduled,
    SourceVersion,
)
from kinerja_shared.events.bkn_sync import DeliveryState, RecordKind
from kinerja_shared.topics import BKN_DELIVERY_STATUS

NIP = "198609262015051001"
AT = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
SCHEDULE = RetrySchedule((30.0, 300.0, 3600.0))
TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
DEAD_LETTERS = repository.DeadLetters("kinerja.bkn-sync.dlq.v1", "bkn-sync")


def in_flight() -> Delivery:
    source = SourceVersion(
        kind=RecordKind.SKP,
        nip=NIP,
        npsn="20100001",
        period_id="2025",
        version=2,
        body={"nip": NIP, "version": 2},
        record=b'{"payload": "as it came"}',
        topic="kinerja.planning.plan-agreed.v1",
        partition=4,
        offset=1234,
    )
    return Delivery.new(source, claim=True, at=AT).delivery


def after(outcome_status: int, body_code: str | None = None, retry_tier: int = 0) -> Delivery:
    d = replace(in_flight(), retry_tier=retry_tier)
    t = d.record(
        d,
        classify(outcome_status, body_code),
        attempts=2,
        errors=("BKN-T02: first", "BKN-T01: second"),
        schedule=SCHEDULE,
        at=AT,
    )
    assert t is not None
    return t.delivery


@pytest.mark.parametrize(
    "d",
    [
        in_flight(),
        after(503),
        after(422, "USER_PMM_MISSING"),
        after(503, retry_tier=3),
        replace(in_flight(), reason=Reason("BKN-E05", None)),  # a partial reason stays partial
        # The trace of the record that brought the version: a later check or an attempt brought
        # forward after an outage joins it.
        replace(in_flight(), current=replace(in_flight().current, trace=TRACE)),
    ],
)
def test_a_delivery_survives_its_row_unchanged(d: Delivery) -> None:
    row = repository.columns_of(d)

    assert row["delivery_id"] == f"SKP:{NIP}:2025"
    assert repository.to_delivery(row) == d  # a mapping reads as a row


def test_a_status_event_is_staged_on_the_status_topic_under_the_teachers_nip() -> None:
    status = after(200).status(AT)

    staged = repository.outbound(status, TRACE)

    assert (staged.topic, staged.key, dict(staged.headers)) == (
        BKN_DELIVERY_STATUS.name,
        NIP,
        TRACE,
    )
    envelope = json.loads(staged.value)
    assert envelope["subject"] == NIP
    assert envelope["payload"]["delivery_id"] == f"SKP:{NIP}:2025"
    assert envelope["payload"]["state"] == "DELIVERED"


@pytest.mark.parametrize(("tier", "topic"), [(0, "retry-1"), (1, "retry-1"), (3, "retry-3")])
def test_a_retry_is_the_source_record_unchanged_on_its_tier_topic(tier: int, topic: str) -> None:
    d = replace(after(503), retry_tier=tier)
    due = AT + timedelta(seconds=30)

    staged = repository.outbound(RetryScheduled(d, tier, due), TRACE)

    assert staged.topic == f"kinerja.bkn-sync.{topic}.v1"
    assert (staged.key, staged.value) == (NIP, b'{"payload": "as it came"}')
    assert dict(staged.headers) == {
        **TRACE,
        "kinerja-original-topic": "kinerja.planning.plan-agreed.v1",
        "kinerja-original-partition": "4",
        "kinerja-original-offset": "1234",
        "kinerja-original-key": NIP,
        "kinerja-delivery-id": f"SKP:{NIP}:2025",
        "kinerja-delivery-version": "2",
        "kinerja-retry-seq": str(d.retry_seq),
        "kinerja-retry-tier": str(tier),
        "kinerja-attempts": "2",
        "kinerja-first-error": "BKN-T02: first",
        "kinerja-last-error": "BKN-T01: second",
        "kinerja-first-attempt-at": AT.isoformat(),
        "kinerja-last-attempt-at": AT.isoformat(),
        "kinerja-due-at": due.isoformat(),
    }


def test_a_dead_letter_names_the_consumer_and_the_error() -> None:
    d = after(400)
    later = AT + timedelta(minutes=1)

    staged = repository.outbound(DeadLettered(d, later), TRACE, DEAD_LETTERS)

    assert (staged.topic, staged.key, staged.value) == (
        "kinerja.bkn-sync.dlq.v1",
        NIP,
        b'{"payload": "as it came"}',
    )
    headers = dict(staged.headers)
    assert headers["traceparent"] == TRACE["traceparent"]
    assert headers["kinerja-dlq-consumer"] == "bkn-sync"
    assert headers["kinerja-error-code"] == "BKN-E10"
    assert headers["kinerja-error"] == d.last_error
    assert headers["kinerja-dead-lettered-at"] == later.isoformat()
    assert headers["kinerja-delivery-id"] == f"SKP:{NIP}:2025"
    # Not an envelope: carried as it came, under an id of its own.
    assert headers["kinerja-dead-letter-id"] == str(staged.event_id)
    assert "kinerja-original-event-id" not in headers


def test_a_dead_letter_needs_somewhere_to_go() -> None:
    with pytest.raises(ValueError, match="dead-letter"):
        repository.outbound(DeadLettered(after(400), AT), TRACE)


def test_delivered_outcome_has_no_reason_to_store() -> None:
    row = repository.columns_of(after(200))

    assert [row[c] for c in ("reason_code", "reason", "remedy", "actor")] == [None] * 4
    assert row["state"] == DeliveryState.DELIVERED
