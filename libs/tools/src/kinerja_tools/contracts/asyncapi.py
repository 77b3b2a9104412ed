"""The AsyncAPI 3.0 document of the predikat topics, for the teams that consume them.

FastStream writes the document from a broker's publishers: one documented publisher per
predikat topic of the registry, with ``Envelope[payload]`` as its message. What FastStream does
not know is added afterwards: the Kafka key of each message (AsyncAPI Kafka message binding)
and the headers we send (W3C ``traceparent``, FastStream's ``correlation_id``).

``python -m kinerja_tools.contracts.asyncapi [PATH]`` prints or writes it; tests/contracts
checks that docs/asyncapi/predikat.json is up to date.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from kinerja_shared.topics import REGISTRY, Topic

from .schemas import dumps, envelope_model

TITLE = "Kinerja predikat events"
# The document's own version: bump the minor for every additive change of a topic below.
DOC_VERSION = "1.0.0"
# A placeholder: each environment gives consumers its own bootstrap servers.
SERVER = "kafka.kinerja.example:9092"
DESCRIPTION = (
    "Events the Kinerja predikat service publishes. Delivery is at least once: deduplicate on "
    "`event_id` and keep the highest `payload.version` per (`nip`, `period_id`). Records of one "
    "teacher keep their order (the key is the NIP). Within a `.v<N>` topic changes are additive "
    "only. See docs/consuming-predikat.md."
)

HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "traceparent": {
            "type": "string",
            "description": "W3C Trace Context of the producing request; continue it.",
        },
        "tracestate": {"type": "string", "description": "W3C Trace Context vendor state."},
        "correlation_id": {
            "type": "string",
            "description": "FastStream correlation id of the publish.",
        },
    },
}


def predikat_topics() -> tuple[Topic[Any], ...]:
    return tuple(t for t in REGISTRY if t.producer == "predikat")


def _key_schema(topic: Topic[Any]) -> dict[str, Any]:
    fields = topic.key.split(":")
    return {
        "type": "string",
        "description": (
            f"The payload's {' + '.join(fields)}"
            + (", joined by ':'" if len(fields) > 1 else "")
            + "; the envelope's `subject` is the same string. Records with one key keep their "
            "order."
        ),
    }


def build_broker(topics: tuple[Topic[Any], ...] | None = None) -> KafkaBroker:
    broker = KafkaBroker(SERVER, description="Kinerja Kafka cluster (per environment).")
    for topic in topics if topics is not None else predikat_topics():
        description = topic.description or f"{topic.payload.__name__} events."
        if topic.compacted:
            description += f" Compacted: the latest record per key ({topic.key}) is kept."
        broker.publisher(
            topic.name,
            schema=envelope_model(topic.payload),
            title=topic.name,
            description=description,
        )
    return broker


def document(topics: tuple[Topic[Any], ...] | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document, as JSON-ready data."""
    topics = topics if topics is not None else predikat_topics()
    spec = AsyncAPI(
        build_broker(topics),
        title=TITLE,
        version=DOC_VERSION,
        description=DESCRIPTION,
        schema_version="3.0.0",
    )
    doc: dict[str, Any] = json.loads(spec.to_specification().to_json())
    messages: dict[str, Any] = doc.get("components", {}).get("messages", {})
    for topic in topics:
        message = messages.get(f"{topic.name}:Message")
        if message is None:
            raise RuntimeError(f"FastStream did not document {topic.name}; names changed?")
        message["name"] = topic.event_type
        message["summary"] = f"Envelope `type`: `{topic.event_type}`."
        message["contentType"] = "application/json"
        message["headers"] = HEADERS_SCHEMA
        message["bindings"] = {"kafka": {"key": _key_schema(topic), "bindingVersion": "0.5.0"}}
    return doc


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    text = dumps(document())
    if args:
        with open(args[0], "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
