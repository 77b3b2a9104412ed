"""``DeliveryStatus`` grew ``http_status`` and ``error`` within v1: records written before still
read, readers of the old model still read the new ones, and the contract calls it additive."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from kinerja_shared.events.base import Payload
from kinerja_shared.events.bkn_sync import ERROR_MAX, DeliveryState, DeliveryStatus, RecordKind
from kinerja_shared.topics import BKN_DELIVERY_STATUS
from kinerja_tools.contracts import additive_changes, breaking_changes
from kinerja_tools.contracts.schemas import envelope_schema, topic_schema

NIP = "198609262015051001"

# A record as bkn-sync wrote it before the two fields existed.
OLD_RECORD = {
    "event_id": "0b6f9c1e-4d3a-4a55-9d8e-2f0c7a1b9e11",
    "occurred_at": "2026-11-30T08:00:00+00:00",
    "type": "bkn-sync.delivery-status",
    "schema_version": 1,
    "producer": "bkn-sync",
    "subject": NIP,
    "payload": {
        "delivery_id": f"SKP:{NIP}:2025",
        "kind": "SKP",
        "nip": NIP,
        "npsn": "20100001",
        "period_id": "2025",
        "version": 1,
        "state": "RETRYING",
        "attempts": 2,
        "next_attempt_at": "2026-11-30T08:00:30+00:00",
        "reason_code": "BKN-T02",
        "reason": "e-Kinerja sedang bermasalah (HTTP 503).",
        "remedy": "Tidak perlu tindakan; data sedang dikirim ulang otomatis.",
        "actor": None,
        "at": "2026-11-30T08:00:00+00:00",
    },
}


class DeliveryStatusBefore(Payload):
    """The payload model as it was before the fields were added: what old readers hold."""

    delivery_id: str
    kind: RecordKind
    nip: str
    npsn: str
    period_id: str
    version: int
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None = None
    reason_code: str | None = None
    reason: str | None = None
    remedy: str | None = None
    actor: str | None = None
    at: datetime


def status(**fields: Any) -> DeliveryStatus:
    return DeliveryStatus(
        delivery_id=f"SKP:{NIP}:2025",
        kind=RecordKind.SKP,
        nip=NIP,
        npsn="20100001",
        period_id="2025",
        version=1,
        state=DeliveryState.RETRYING,
        attempts=2,
        at=datetime(2026, 11, 30, 8, tzinfo=UTC),
        **fields,
    )


def test_a_record_written_before_the_fields_still_parses_without_them() -> None:
    envelope = BKN_DELIVERY_STATUS.decode(json.dumps(OLD_RECORD).encode())

    assert envelope.payload.state is DeliveryState.RETRYING
    assert (envelope.payload.http_status, envelope.payload.error) == (None, None)


def test_the_fields_travel_and_an_old_reader_ignores_them() -> None:
    sent = status(http_status=503, error="BKN-T02: e-Kinerja sedang bermasalah (HTTP 503).")
    wire = BKN_DELIVERY_STATUS.envelope(NIP, sent).model_dump_json().encode()

    got = BKN_DELIVERY_STATUS.decode(wire).payload
    assert (got.http_status, got.error) == (503, sent.error)
    # Every field is on the wire, None included: consumers may rely on the keys being there.
    assert {"http_status", "error"} <= set(json.loads(wire)["payload"])
    old = DeliveryStatusBefore.model_validate(json.loads(wire)["payload"])
    assert (old.state, old.attempts) == (DeliveryState.RETRYING, 2)


def test_the_error_is_bounded_by_the_contract() -> None:
    assert status(error="x" * ERROR_MAX).error == "x" * ERROR_MAX
    with pytest.raises(ValidationError):
        status(error="x" * (ERROR_MAX + 1))


def test_the_change_is_additive_under_the_repositorys_own_check() -> None:
    before = envelope_schema(DeliveryStatusBefore)
    after = topic_schema(BKN_DELIVERY_STATUS)

    assert breaking_changes(before, after) == []
    assert sorted(additive_changes(before, after)) == [
        "payload.error: optional property added",
        "payload.http_status: optional property added",
    ]
