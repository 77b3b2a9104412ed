"""``breaking_changes(old, new)``: hand-written before/after payloads, as they sit in an Envelope.

Every case compares the envelope schemas (``$ref`` into ``$defs``, as in the snapshots), so
resolution and nesting are exercised on the way.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from kinerja_shared.topics import REGISTRY
from kinerja_tools.contracts import additive_changes, breaking_changes, compare
from kinerja_tools.contracts.schemas import envelope_schema, topic_schema


def schema(payload: type[BaseModel]) -> dict[str, Any]:
    return envelope_schema(payload)


class Base(BaseModel):
    nip: str
    version: int
    predikat: Literal["BAIK", "KURANG"]
    note: str | None = None


# -- the baseline --------------------------------------------------------------------------------
def test_same_schema_has_no_changes() -> None:
    assert compare(schema(Base), schema(Base)) == []


@pytest.mark.parametrize("topic", REGISTRY, ids=lambda t: t.name)
def test_every_registry_topic_is_compatible_with_itself(topic: Any) -> None:
    assert compare(topic_schema(topic), topic_schema(topic)) == []


# -- breaking ------------------------------------------------------------------------------------
def test_removed_field_breaks() -> None:
    class New(BaseModel):
        nip: str
        predikat: Literal["BAIK", "KURANG"]
        note: str | None = None

    assert breaking_changes(schema(Base), schema(New)) == ["payload.version: property removed"]


def test_removed_optional_field_breaks() -> None:
    class New(BaseModel):
        nip: str
        version: int
        predikat: Literal["BAIK", "KURANG"]

    assert breaking_changes(schema(Base), schema(New)) == ["payload.note: property removed"]


def test_retyped_field_breaks() -> None:
    class New(BaseModel):
        nip: int
        version: int
        predikat: Literal["BAIK", "KURANG"]
        note: str | None = None

    [change] = breaking_changes(schema(Base), schema(New))
    assert change.startswith("payload.nip: type changed from string to integer")


def test_int_to_float_breaks() -> None:
    class New(BaseModel):
        nip: str
        version: float
        predikat: Literal["BAIK", "KURANG"]
        note: str | None = None

    assert breaking_changes(schema(Base), schema(New)) == [
        "payload.version: type changed from integer to number"
    ]


def test_narrowed_literal_breaks() -> None:
    class New(BaseModel):
        nip: str
        version: int
        predikat: Literal["BAIK"]
        note: str | None = None

    [change] = breaking_changes(schema(Base), schema(New))
    assert change.startswith('payload.predikat: enum narrowed: lost "KURANG"')


class Predikat(StrEnum):
    SANGAT_BAIK = "SANGAT_BAIK"
    BAIK = "BAIK"
    KURANG = "KURANG"


class PredikatWithout(StrEnum):
    SANGAT_BAIK = "SANGAT_BAIK"
    BAIK = "BAIK"


class PredikatPlus(StrEnum):
    SANGAT_BAIK = "SANGAT_BAIK"
    BAIK = "BAIK"
    KURANG = "KURANG"
    BUTUH_PERBAIKAN = "BUTUH_PERBAIKAN"


class WithEnum(BaseModel):
    nip: str
    predikat: Predikat


def test_narrowed_strenum_breaks() -> None:
    class New(BaseModel):
        nip: str
        predikat: PredikatWithout

    [change] = breaking_changes(schema(WithEnum), schema(New))
    assert change.startswith('payload.predikat: enum narrowed: lost "KURANG"')


def test_narrowed_optional_enum_breaks() -> None:
    class Old(BaseModel):
        predikat: Predikat | None = None

    class New(BaseModel):
        predikat: PredikatWithout | None = None

    [change] = breaking_changes(schema(Old), schema(New))
    assert change.startswith('payload.predikat: enum narrowed: lost "KURANG"')


def test_free_string_restricted_to_enum_breaks() -> None:
    class Old(BaseModel):
        nip: str
        predikat: str

    assert breaking_changes(schema(Old), schema(WithEnum)) == [
        'payload.predikat: restricted to the enum "BAIK", "KURANG", "SANGAT_BAIK" (narrowed)'
    ]


def test_optional_to_required_breaks() -> None:
    class New(BaseModel):
        nip: str
        version: int
        predikat: Literal["BAIK", "KURANG"]
        note: str

    changes = breaking_changes(schema(Base), schema(New))
    assert "payload.note: became required: records already written may lack it" in changes
    assert any(c.startswith("payload.note: no longer nullable") for c in changes)


def test_optional_to_required_without_type_change_breaks() -> None:
    class Old(BaseModel):
        reason: str = ""

    class New(BaseModel):
        reason: str

    assert breaking_changes(schema(Old), schema(New)) == [
        "payload.reason: became required: records already written may lack it"
    ]


def test_added_required_field_breaks() -> None:
    class New(Base):
        npsn: str

    [change] = breaking_changes(schema(Base), schema(New))
    assert change.startswith("payload.npsn: added as required")


def test_became_nullable_breaks() -> None:
    class New(BaseModel):
        nip: str | None
        version: int
        predikat: Literal["BAIK", "KURANG"]
        note: str | None = None

    [change] = breaking_changes(schema(Base), schema(New))
    assert change.startswith("payload.nip: became nullable")


def test_tightened_constraint_breaks() -> None:
    class New(BaseModel):
        nip: str = Field(pattern=r"^\d{18}$")
        version: int = Field(ge=1)
        predikat: Literal["BAIK", "KURANG"]
        note: str | None = Field(default=None, max_length=200)

    assert breaking_changes(schema(Base), schema(New)) == [
        'payload.nip: pattern added (tightened): null -> "^\\\\d{18}$"',
        "payload.version: minimum added (tightened): null -> 1",
        "payload.note: maxLength added (tightened): null -> 200",
    ]


# -- nested objects, arrays, maps, $ref ----------------------------------------------------------
class Score(BaseModel):
    indicator: str
    value: int


class ScoreV2(BaseModel):
    indicator: str
    value: str


class Detail(BaseModel):
    scores: list[Score]
    by_indicator: dict[str, int]
    score: Score | None = None


def test_nested_changes_are_found_through_refs_arrays_and_maps() -> None:
    class DetailV2(BaseModel):
        scores: list[ScoreV2]
        by_indicator: dict[str, str]
        score: ScoreV2 | None = None

    class Old(BaseModel):
        detail: Detail

    class New(BaseModel):
        detail: DetailV2

    changes = breaking_changes(schema(Old), schema(New))
    assert [c.split(":")[0] for c in changes] == [
        "payload.detail.scores[].value",
        "payload.detail.by_indicator.{}",
        "payload.detail.score.value",
    ]


def test_nested_removed_field_in_array_items_breaks() -> None:
    class Slim(BaseModel):
        indicator: str

    class Old(BaseModel):
        scores: list[Score]

    class New(BaseModel):
        scores: list[Slim]

    assert breaking_changes(schema(Old), schema(New)) == [
        "payload.scores[].value: property removed"
    ]


def test_tuple_shape_change_breaks() -> None:
    class Old(BaseModel):
        pair: tuple[int, str]

    class New(BaseModel):
        pair: tuple[int, str, str]

    assert any("tuple length changed" in c for c in breaking_changes(schema(Old), schema(New)))


class Node(BaseModel):
    name: str
    children: list[Node] = []


class NodeV2(BaseModel):
    name: str
    children: list[NodeV2] = []
    weight: int | None = None


def test_recursive_models_terminate() -> None:
    class Old(BaseModel):
        tree: Node

    class New(BaseModel):
        tree: NodeV2

    assert breaking_changes(schema(Old), schema(New)) == []
    assert additive_changes(schema(Old), schema(New)) == [
        "payload.tree.weight: optional property added"
    ]


def test_asyncapi_style_refs_resolve() -> None:
    old = {
        "components": {
            "schemas": {
                "Envelope[P]": {
                    "type": "object",
                    "properties": {"a": {"type": "string"}},
                    "required": ["a"],
                }
            }
        },
        "$ref": "#/components/schemas/Envelope%5BP%5D",
    }
    new = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    assert breaking_changes(old, new) == ["a: type changed from string to integer"]


def test_topic_key_change_breaks() -> None:
    topic = next(t for t in REGISTRY if t.name == "kinerja.predikat.ditetapkan.v1")
    old = topic_schema(topic)
    new = {**old, "x-kinerja-topic": {**old["x-kinerja-topic"], "key": "npsn"}}
    assert breaking_changes(old, new) == ['x-kinerja-topic: topic key changed from "nip" to "npsn"']


# -- additive ------------------------------------------------------------------------------------
def test_added_optional_field_passes() -> None:
    class New(Base):
        corrected_from_version: int | None = None

    assert breaking_changes(schema(Base), schema(New)) == []
    assert additive_changes(schema(Base), schema(New)) == [
        "payload.corrected_from_version: optional property added"
    ]


def test_added_literal_value_passes() -> None:
    class New(BaseModel):
        nip: str
        version: int
        predikat: Literal["BAIK", "KURANG", "SANGAT_BAIK"]
        note: str | None = None

    assert breaking_changes(schema(Base), schema(New)) == []
    assert additive_changes(schema(Base), schema(New)) == [
        'payload.predikat: enum widened: added "SANGAT_BAIK"'
    ]


def test_added_strenum_value_passes() -> None:
    class New(BaseModel):
        nip: str
        predikat: PredikatPlus

    assert breaking_changes(schema(WithEnum), schema(New)) == []
    assert additive_changes(schema(WithEnum), schema(New)) == [
        'payload.predikat: enum widened: added "BUTUH_PERBAIKAN"'
    ]


def test_description_title_and_model_name_changes_pass() -> None:
    class Renamed(BaseModel):
        """A docstring becomes the description."""

        nip: str = Field(description="The teacher's NIP.", title="NIP")
        version: int = Field(description="Keep the highest.")
        predikat: Literal["BAIK", "KURANG"]
        note: str | None = Field(default=None, description="Free text.")

    assert compare(schema(Base), schema(Renamed)) == []


def test_default_change_is_reported_but_passes() -> None:
    class New(BaseModel):
        nip: str
        version: int
        predikat: Literal["BAIK", "KURANG"]
        note: str | None = "-"

    assert breaking_changes(schema(Base), schema(New)) == []
    assert additive_changes(schema(Base), schema(New)) == [
        'payload.note: default changed from null to "-"'
    ]


def test_changed_payload_datetime_format_breaks() -> None:
    class Old(BaseModel):
        at: datetime

    class New(BaseModel):
        at: str

    assert breaking_changes(schema(Old), schema(New)) == [
        'payload.at: format removed (loosened): "date-time" -> null'
    ]
