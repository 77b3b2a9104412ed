"""The JSON Schema of what each registry topic carries: the envelope with its payload.

``topic_schema(topic)`` is pydantic's serialization-mode schema of ``Envelope[payload]`` (what a
consumer receives; every field is always present on the wire, ``required`` lists the fields
without a default), plus ``x-kinerja-topic``: the topic name, Kafka key, compaction and event
type, which are as much a part of the contract as the fields. tests/contracts/snapshots holds one
per topic; ``compatibility.breaking_changes`` compares two of them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel

from kinerja_shared.envelope import Envelope
from kinerja_shared.topics import REGISTRY, Topic

from .compatibility import TOPIC_META

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
TOPIC_NAME = re.compile(r"kinerja\.[a-z0-9]+(?:-[a-z0-9]+)*\.[a-z0-9]+(?:-[a-z0-9]+)*\.v(\d+)")


def major_version(topic_name: str) -> int:
    """``kinerja.predikat.ditetapkan.v1`` -> 1; ValueError if the name breaks the convention."""
    match = TOPIC_NAME.fullmatch(topic_name)
    if match is None:
        raise ValueError(f"{topic_name!r} is not kinerja.<service>.<event>.v<major>")
    return int(match.group(1))


def envelope_model(payload: type[BaseModel]) -> type[BaseModel]:
    return Envelope[payload]  # type: ignore[valid-type]


def envelope_schema(payload: type[BaseModel]) -> dict[str, Any]:
    """JSON Schema of ``Envelope[payload]`` as serialized (``$defs`` holds the payload)."""
    return envelope_model(payload).model_json_schema(mode="serialization")


def topic_meta(topic: Topic[Any]) -> dict[str, Any]:
    return {
        "name": topic.name,
        "event_type": topic.event_type,
        "schema_version": topic.schema_version,
        "key": topic.key,
        "compacted": topic.compacted,
    }


def topic_schema(topic: Topic[Any]) -> dict[str, Any]:
    schema = envelope_schema(topic.payload)
    description = topic.description or f"Envelope of {topic.payload.__name__} on {topic.name}."
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "description": description,
        **schema,
        TOPIC_META: topic_meta(topic),
    }


def all_topic_schemas() -> dict[str, dict[str, Any]]:
    return {topic.name: topic_schema(topic) for topic in REGISTRY}


def dumps(document: Any) -> str:
    """The one on-disk form of snapshots and generated documents: stable, reviewable diffs."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
