"""Each topic's schema is its snapshot: a diff here is the question "does this break a consumer?".

Run ``pytest tests/contracts --update-contracts`` after a compatible change (an added optional
field, an added enum value) and commit the snapshot with it. A breaking change fails even then:
publish a new ``.v<N+1>`` topic instead (docs/consuming-predikat.md, "Versioning").
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kinerja_shared.envelope import Envelope
from kinerja_shared.events.predikat import PredikatDitetapkan
from kinerja_shared.topics import PREDIKAT_DITETAPKAN, REGISTRY, Topic
from kinerja_tools.contracts import additive_changes, breaking_changes
from kinerja_tools.contracts.schemas import dumps, major_version, topic_schema

SNAPSHOTS = Path(__file__).parent / "snapshots"


def _hint(old: dict[str, Any], new: dict[str, Any]) -> str:
    lines = [f"  BREAKING {c}" for c in breaking_changes(old, new)]
    lines += [f"  additive {c}" for c in additive_changes(old, new)]
    return "\n".join(lines) or "  (only annotations changed)"


@pytest.mark.parametrize("topic", REGISTRY, ids=lambda t: t.name)
def test_topic_schema_matches_snapshot(topic: Topic[Any], update_contracts: bool) -> None:
    current = topic_schema(topic)
    path = SNAPSHOTS / f"{topic.name}.json"
    snapshot = json.loads(path.read_text()) if path.exists() else None
    if snapshot is not None and snapshot != current:
        breaking = breaking_changes(snapshot, current)
        assert not breaking, (
            f"{topic.name} changed incompatibly; a breaking change needs a new major topic "
            f"(.v{major_version(topic.name) + 1}) and a dual-publish window, never an edit:\n"
            + _hint(snapshot, current)
        )
    if update_contracts:
        path.write_text(dumps(current))
        return
    assert snapshot is not None, (
        f"no snapshot for {topic.name}: review its schema, then run "
        "`pytest tests/contracts --update-contracts` and commit the snapshot"
    )
    assert snapshot == current, (
        f"{topic.name} changed compatibly; run `pytest tests/contracts --update-contracts` and "
        "commit the snapshot:\n" + _hint(snapshot, current)
    )


def test_every_snapshot_has_a_topic(update_contracts: bool) -> None:
    """Dropping a topic from the registry drops it for every consumer: make it visible."""
    names = {t.name for t in REGISTRY}
    orphans = sorted(p for p in SNAPSHOTS.glob("*.json") if p.stem not in names)
    if update_contracts:
        for orphan in orphans:
            orphan.unlink()
        return
    assert not orphans, f"snapshots of topics no longer in the registry: {orphans}"


@pytest.mark.parametrize("topic", REGISTRY, ids=lambda t: t.name)
def test_topic_name_and_version_agree(topic: Topic[Any]) -> None:
    assert major_version(topic.name) == topic.schema_version
    assert topic.event_type.startswith(f"{topic.producer}.")


@pytest.mark.parametrize("topic", REGISTRY, ids=lambda t: t.name)
def test_key_names_payload_fields(topic: Topic[Any]) -> None:
    """The documented key (``nip``, ``nip:period_id``) is made of required payload fields."""
    schema = topic.payload.model_json_schema(mode="serialization")
    for field in topic.key.split(":"):
        assert field in schema["required"], f"{topic.name}: key part {field!r} not required"


def test_every_field_is_on_the_wire() -> None:
    """Consumers may rely on every property, defaults and None included: all are always sent."""
    envelope = PREDIKAT_DITETAPKAN.envelope(
        "198001012005011001",
        PredikatDitetapkan(
            nip="198001012005011001",
            npsn="20100001",
            period_id="2025",
            version=1,
            predikat="BAIK",
            hasil_kerja="SESUAI",
            perilaku_kerja="SESUAI",
            predikat_organisasi="BAIK",
            penilai_nip="197001011995011001",
            ditetapkan_at=datetime(2025, 12, 1, tzinfo=UTC),
        ),
    )
    sent = json.loads(envelope.model_dump_json())
    schema = topic_schema(PREDIKAT_DITETAPKAN)
    assert set(sent) == set(schema["properties"]) == set(Envelope.model_fields)
    assert set(sent["payload"]) == set(schema["$defs"]["PredikatDitetapkan"]["properties"])
