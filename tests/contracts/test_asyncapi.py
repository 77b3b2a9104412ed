"""docs/asyncapi/predikat.json is what the models say, and stays compatible with what it said."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kinerja_tools.contracts import breaking_changes
from kinerja_tools.contracts.asyncapi import document, predikat_topics
from kinerja_tools.contracts.schemas import dumps

DOC = Path(__file__).resolve().parents[2] / "docs" / "asyncapi" / "predikat.json"


def _message_schema(doc: dict[str, Any], topic_name: str) -> dict[str, Any]:
    """The message payload as a standalone schema: its $ref resolved within the document."""
    ref = doc["components"]["messages"][f"{topic_name}:Message"]["payload"]
    return {**doc, **ref}


def test_asyncapi_document_is_up_to_date(update_contracts: bool) -> None:
    current = document()
    committed = json.loads(DOC.read_text()) if DOC.exists() else None
    if committed is not None:
        for topic in predikat_topics():
            if f"{topic.name}:Message" in committed["components"]["messages"]:
                old = _message_schema(committed, topic.name)
                new = _message_schema(current, topic.name)
                assert not breaking_changes(old, new), breaking_changes(old, new)
    if update_contracts:
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(dumps(current))
        return
    assert committed == current, (
        "docs/asyncapi/predikat.json is stale: run `pytest tests/contracts --update-contracts`"
    )


def test_asyncapi_documents_every_predikat_topic_with_its_key() -> None:
    doc = document()
    assert doc["asyncapi"] == "3.0.0"
    for topic in predikat_topics():
        channel = doc["channels"][topic.name]
        assert channel["address"] == topic.name
        message = doc["components"]["messages"][f"{topic.name}:Message"]
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
        assert "traceparent" in message["headers"]["properties"]
        assert doc["operations"][topic.name]["action"] == "send"
