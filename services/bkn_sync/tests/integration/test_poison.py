"""bkn-sync's own poison path: a source record that can never be read goes to bkn-sync's DLQ with
every context header, and the partition goes on: the good record behind it, on the same key and
so the same partition, is delivered."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from aiokafka import AIOKafkaProducer

from kinerja_shared import inbox
from kinerja_shared.auth import DevIdentityProvider
from kinerja_shared.topics import PLAN_AGREED
from kinerja_tools.testing import wait_for
from kinerja_tools.testing.service import ServiceUnderTest

from .conftest import Feed, StatusWatch, agreed
from .test_delivery_pipeline import wait_state

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def test_unreadable_source_records_are_dead_lettered_with_context_and_the_partition_goes_on(
    running: ServiceUnderTest,
    service: httpx.AsyncClient,
    producer: AIOKafkaProducer,
    watch: StatusWatch,
    feed: Feed,
    idp: DevIdentityProvider,
) -> None:
    t = await feed.teacher()
    topic = feed.sources.skp
    # An envelope whose payload lacks a field the contract requires (the envelope itself reads).
    envelope = json.loads(PLAN_AGREED.envelope(t.nip, agreed(t)).model_dump_json())
    del envelope["payload"]["npsn"]
    carried = [("traceparent", TRACEPARENT.encode()), ("x-origin", b"poison-test")]
    sent_at = datetime.now(UTC)
    not_json = await producer.send_and_wait(
        topic, b"{not json", key=t.nip.encode(), headers=carried
    )
    no_npsn = await producer.send_and_wait(
        topic, json.dumps(envelope).encode(), key=t.nip.encode(), headers=carried
    )
    await feed.plan_agreed(t)

    # The partition went on: the record behind both is delivered.
    await wait_state(service, idp, t, "DELIVERED")

    # The service's consumer group, as every service's DLQ names it (its per-topic group is
    # that name and the topic, which the record's own header already gives). Another instance
    # reading the session's topics dead-letters its own copy, under its own group.
    group = running.settings.consumer_group  # type: ignore[attr-defined]

    def dead_at(offset: int) -> dict[str, str] | None:
        for _, headers in watch.dlq:
            if (
                headers.get("kinerja-original-topic") == topic
                and headers.get("kinerja-original-offset") == str(offset)
                and headers.get("kinerja-dlq-consumer") == group
            ):
                return headers
        return None

    async def both() -> tuple[dict[str, str], dict[str, str]] | None:
        a, b = dead_at(not_json.offset), dead_at(no_npsn.offset)
        return (a, b) if a and b else None

    first, second = await wait_for(both, what="both poison records in bkn-sync's DLQ")
    for headers, meta in ((first, not_json), (second, no_npsn)):
        assert headers["kinerja-original-partition"] == str(meta.partition)
        assert headers["kinerja-error-code"] == "POISON"
        # The original's own headers ride along, and the dead letter continues its trace.
        assert headers["traceparent"].split("-")[1] == TRACEPARENT.split("-")[1]
        assert headers["x-origin"] == "poison-test"
        at = datetime.fromisoformat(headers["kinerja-dead-lettered-at"])
        assert sent_at - timedelta(seconds=1) <= at <= datetime.now(UTC)
        assert uuid.UUID(headers[inbox.DEAD_LETTER_ID]).version == 7
    # What is wrong, in the parser's words.
    assert "json" in first["kinerja-error"].lower(), first["kinerja-error"]
    assert "npsn" in second["kinerja-error"], second["kinerja-error"]
    # The unreadable bytes are kept as they came; the envelope is a record of its own that
    # names the event it carries.
    assert inbox.ORIGINAL_EVENT_ID not in first
    assert second[inbox.ORIGINAL_EVENT_ID] == envelope["event_id"]
    expected = {
        "content-type",  # FastStream's own, on every record it publishes
        "correlation_id",
        "traceparent",
        "x-origin",
        "kinerja-dlq-consumer",
        "kinerja-original-topic",
        "kinerja-original-partition",
        "kinerja-original-offset",
        "kinerja-error-code",
        "kinerja-error",
        "kinerja-dead-lettered-at",
        inbox.DEAD_LETTER_ID,
    }
    assert set(first) == expected, sorted(first)
    assert set(second) == expected | {inbox.ORIGINAL_EVENT_ID}, sorted(second)
    dead = [value for value, headers in watch.dlq if headers is second]
    assert dead[0]["event_id"] == second[inbox.DEAD_LETTER_ID]
