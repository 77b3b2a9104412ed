"""Every dead-lettered record is a record of its own: a fresh id (the envelope's ``event_id``
when it is one, and ``kinerja-dead-letter-id`` always) and the id of the event it carries in
``kinerja-original-event-id``. Without a broker or a database: the shared inbox's DLQ path with
a broker that only records what it is asked to publish, and bkn-sync's outbox record."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from bkn_sync import repository
from bkn_sync.domain.classify import classify
from bkn_sync.domain.deliveries import RetrySchedule
from bkn_sync.domain.delivery import DeadLettered, Delivery, SourceVersion
from kinerja_shared import inbox
from kinerja_shared.events.bkn_sync import RecordKind
from kinerja_shared.events.planning import PlanAgreed
from kinerja_shared.topics import PLAN_AGREED

NIP = "198609262015051001"
AT = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
DEAD_LETTERS = repository.DeadLetters("kinerja.bkn-sync.dlq.v1", "bkn-sync")


def envelope() -> bytes:
    payload = PlanAgreed(
        plan_id="plan-1",
        nip=NIP,
        npsn="20100001",
        period_id="2025",
        version=1,
        atasan_nip="198001012005011001",
        sub_indikator="D1.1",
        indikator_kompetensi="KP.1",
        tugas_pokok=["Mengajar"],
        tugas_tambahan=[],
        perilaku_fokus=["BERORIENTASI_PELAYANAN"],
        agreed_at=AT,
    )
    return PLAN_AGREED.envelope(NIP, payload).model_dump_json().encode()


def test_an_envelope_gets_a_fresh_uuid7_and_names_the_event_it_carries() -> None:
    record = envelope()
    original = json.loads(record)

    value, named = inbox.as_dead_letter(record)

    assert value is not None
    dead = json.loads(value)
    new_id = uuid.UUID(dead["event_id"])
    assert new_id.version == 7
    assert str(new_id) == named[inbox.DEAD_LETTER_ID]
    assert named[inbox.ORIGINAL_EVENT_ID] == original["event_id"]
    # Nothing else of the event changes.
    assert {k: v for k, v in dead.items() if k != "event_id"} == {
        k: v for k, v in original.items() if k != "event_id"
    }
    assert PLAN_AGREED.decode(value).payload == PLAN_AGREED.decode(record).payload


def test_each_dead_lettering_of_the_same_record_has_its_own_id() -> None:
    record = envelope()

    (first, a), (second, b) = inbox.as_dead_letter(record), inbox.as_dead_letter(record)

    assert a[inbox.DEAD_LETTER_ID] != b[inbox.DEAD_LETTER_ID]
    assert first != second
    assert a[inbox.ORIGINAL_EVENT_ID] == b[inbox.ORIGINAL_EVENT_ID]


def test_a_replayed_dead_letter_keeps_naming_the_event_it_came_from() -> None:
    value, named = inbox.as_dead_letter(envelope())

    _, again = inbox.as_dead_letter(
        value, {inbox.ORIGINAL_EVENT_ID: named[inbox.ORIGINAL_EVENT_ID]}
    )

    assert again[inbox.ORIGINAL_EVENT_ID] == named[inbox.ORIGINAL_EVENT_ID]
    assert again[inbox.DEAD_LETTER_ID] != named[inbox.DEAD_LETTER_ID]


@pytest.mark.parametrize(
    "record",
    [
        b"\xff\xfe not even text",
        b"not json",
        b'{"payload": "no envelope"}',
        b'{"event_id": "not-a-uuid", "type": "x", "payload": {}}',
        b"[1, 2]",
        None,
    ],
)
def test_what_is_no_envelope_is_carried_as_it_came_with_an_id_of_its_own(
    record: bytes | None,
) -> None:
    value, named = inbox.as_dead_letter(record)

    assert value == record
    assert set(named) == {inbox.DEAD_LETTER_ID}
    uuid.UUID(named[inbox.DEAD_LETTER_ID])


class Recording:
    def __init__(self) -> None:
        self.published: list[tuple[Any, str, dict[str, Any]]] = []

    async def publish(self, value: Any, topic: str, **kwargs: Any) -> None:
        self.published.append((value, topic, kwargs))


async def test_the_shared_inbox_dead_letters_an_envelope_under_a_fresh_id() -> None:
    record = envelope()
    raw = SimpleNamespace(
        value=record,
        key=NIP.encode(),
        topic=PLAN_AGREED.name,
        partition=3,
        offset=77,
        headers=[("traceparent", b"00-abc-def-01")],
    )
    broker = Recording()

    for _ in range(2):
        await inbox._to_dlq(  # type: ignore[arg-type]
            broker, "kinerja.observation.dlq.v1", SimpleNamespace(raw_message=raw), "g", "X", "y"
        )

    ids = []
    for value, topic, kwargs in broker.published:
        headers = kwargs["headers"]
        assert topic == "kinerja.observation.dlq.v1"
        assert kwargs["key"] == NIP.encode()
        assert headers[inbox.ORIGINAL_EVENT_ID] == json.loads(record)["event_id"]
        assert headers[inbox.DEAD_LETTER_ID] == json.loads(value)["event_id"]
        assert (headers["kinerja-error-code"], headers["traceparent"]) == ("X", "00-abc-def-01")
        ids.append(headers[inbox.DEAD_LETTER_ID])
    assert len(set(ids)) == 2


def dead(record: bytes) -> Delivery:
    source = SourceVersion(
        kind=RecordKind.SKP,
        nip=NIP,
        npsn="20100001",
        period_id="2025",
        version=1,
        body={"nip": NIP, "version": 1},
        record=record,
        topic=PLAN_AGREED.name,
        partition=4,
        offset=1234,
    )
    d = Delivery.new(source, claim=True, at=AT).delivery
    t = d.record(d, classify(400), attempts=1, errors=(), schedule=RetrySchedule((30.0,)), at=AT)
    assert t is not None
    return t.delivery


def test_bkn_syncs_dead_letter_is_a_record_of_its_own_each_time() -> None:
    record = envelope()
    d = dead(record)
    redriven_and_dead_again = replace(d, retry_seq=d.retry_seq + 2, attempts=2)

    first = repository.outbound(DeadLettered(d, AT), {}, DEAD_LETTERS)
    second = repository.outbound(DeadLettered(redriven_and_dead_again, AT), {}, DEAD_LETTERS)

    for staged in (first, second):
        assert staged.topic == DEAD_LETTERS.topic
        assert str(staged.event_id) == staged.headers[inbox.DEAD_LETTER_ID]
        assert json.loads(staged.value)["event_id"] == str(staged.event_id)
        assert staged.headers[inbox.ORIGINAL_EVENT_ID] == json.loads(record)["event_id"]
    assert first.event_id != second.event_id
