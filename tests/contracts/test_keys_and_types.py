"""Every public topic's record key and envelope `type`, as the services stage them.

One rule for every topic (docs/architecture.md "Events"): the Kafka key is the payload fields the
registry declares, joined by ':', and the envelope's `subject` is that same string; the `type` is
the topic name's `<service>.<event>`. A consumer that checks `type` or `subject` against the
topic therefore never drops a record, the compacted `predikat.current` included.
"""

from __future__ import annotations

import types
import typing
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

import pytest
from pydantic import BaseModel

from kinerja_shared import db, outbox
from kinerja_shared.topics import PREDIKAT_CURRENT, PREDIKAT_DITETAPKAN, REGISTRY, Topic
from kinerja_tools.contracts.schemas import TOPIC_NAME
from kinerja_tools.testing.stack import Stack

NIP = "198001012005011001"
AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _value(annotation: Any, name: str) -> Any:
    """A valid value for one field: enough to build every registry payload without a factory."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return _value(next(a for a in typing.get_args(annotation) if a is not type(None)), name)
    if origin is typing.Literal:
        return typing.get_args(annotation)[0]
    if origin is list:
        return []
    if origin is dict:
        return {}
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return next(iter(annotation))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return sample(annotation)
    if annotation is bool:
        return True
    if annotation is int:
        return 1
    if annotation is datetime:
        return AT
    if annotation is date:
        return AT.date()
    # Every identifier is a string; the NIP pattern is the strictest one a payload checks.
    return {"npsn": "20100001", "period_id": "2026", "kode_wilayah": "0101"}.get(name, NIP)


def sample(model: type[BaseModel]) -> Any:
    fields = {n: _value(f.annotation, n) for n, f in model.model_fields.items()}
    return model(**fields)


def expected_type(topic: Topic[Any]) -> str:
    match = TOPIC_NAME.fullmatch(topic.name)
    assert match is not None, topic.name
    return topic.name.removeprefix("kinerja.").rsplit(".v", 1)[0]


@pytest.mark.parametrize("topic", REGISTRY, ids=lambda t: t.name)
def test_the_envelope_type_is_the_topics_service_and_event(topic: Topic[Any]) -> None:
    assert topic.event(sample(topic.payload)).type == expected_type(topic)


@pytest.mark.parametrize("topic", REGISTRY, ids=lambda t: t.name)
def test_the_subject_is_the_record_key_made_of_the_declared_fields(topic: Topic[Any]) -> None:
    payload = sample(topic.payload)
    key = topic.key_of(payload)
    assert key == ":".join(str(getattr(payload, part)) for part in topic.key.split(":"))
    assert topic.event(payload).subject == key


def test_the_current_topic_is_keyed_per_teacher_and_period() -> None:
    payload = sample(PREDIKAT_CURRENT.payload)
    assert PREDIKAT_CURRENT.key_of(payload) == f"{NIP}:2026"
    assert PREDIKAT_DITETAPKAN.key_of(payload) == NIP


@pytest.mark.infra
async def test_every_topic_is_staged_with_its_key_as_subject_and_its_type(
    stack: Stack, fresh_schema: str
) -> None:
    """Through the staging path every service uses (``outbox.add_events``), on PostgreSQL: what
    the relay will publish, key and value byte for byte."""
    payloads = {topic.payload: sample(topic.payload) for topic in REGISTRY}
    pool = await db.create_pool(stack.pg_admin_dsn, fresh_schema)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await outbox.add_events(conn, payloads.values())
        rows = await pool.fetch("SELECT topic, key, value FROM outbox ORDER BY id")
    finally:
        await pool.close()

    by_name = {t.name: t for t in REGISTRY}
    assert sorted(r["topic"] for r in rows) == sorted(by_name)
    for row in rows:
        topic = by_name[row["topic"]]
        envelope = topic.decode(bytes(row["value"]))
        assert (row["key"], envelope.subject, envelope.type) == (
            topic.key_of(payloads[topic.payload]),
            row["key"],
            expected_type(topic),
        ), topic.name
