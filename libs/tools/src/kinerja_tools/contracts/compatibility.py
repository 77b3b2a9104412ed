"""Does a new event schema break the consumers of the old one?

A topic lives for years: consumers written against the old schema read what the producer
publishes from now on, and consumers (ours included) that upgrade to the new models re-read the
records already in the topic (90 days of retention, forever on a compacted topic). A change is
**breaking** if either of them can fail, which makes the rule *full* compatibility under one
promise every consumer makes (docs/consuming-predikat.md, "Versioning"): a *tolerant reader*
ignores properties it does not know and handles an enum value it does not know (skip, park or a
default branch — never crash).

Breaking (``breaking_changes`` lists them; the topic needs a new ``.v<N+1>``):

- a property removed, or no longer required (old readers rely on it);
- a property added as required, or an optional one made required (old records lack it);
- a type changed (``str`` -> ``int``), narrowed (``int | str`` -> ``int``, not nullable any
  more: old records hold the other type) or widened (``int`` -> ``int | str``, became nullable:
  old readers get a value they never saw);
- an enum that lost a value (old records hold it), a plain value restricted to an enum, or an
  enum dropped for a plain value (the documented set of values is gone);
- a validation constraint tightened or loosened (``minimum``, ``maxLength``, ``pattern``,
  ``format``...), an array's tuple shape changed, ``additionalProperties`` forbidden;
- the Kafka key, compaction or event type of a topic changed (``x-kinerja-topic``).

Additive (``additive_changes``; fine within a major version): an optional property added, an
enum value added, a description, title or default changed.

Schemas are JSON Schema as pydantic writes them: ``$ref`` into ``$defs`` (or any local JSON
pointer, such as AsyncAPI's ``#/components/schemas``), ``anyOf``/``oneOf`` unions with
``{"type": "null"}`` for ``Optional``, ``const`` for a one-value ``Literal``, ``enum`` for
``Literal``/``StrEnum``, ``items``/``prefixItems`` for arrays and ``additionalProperties`` for
mappings. Recursive models are compared once per pair of definitions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

Schema = Mapping[str, Any]

TOPIC_META = "x-kinerja-topic"
_REF_MARK = "x-resolved-ref"
_ANY = "any"
_MISSING = object()
_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "deprecated", "$comment", _REF_MARK}
)
# Keyword -> which direction makes the accepted set smaller.
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_OTHER_CONSTRAINTS = ("multipleOf", "pattern", "format", "uniqueItems", "contentEncoding")
_TOPIC_META_BREAKING = ("key", "compacted", "event_type", "schema_version")


@dataclass(frozen=True)
class Change:
    """One difference between two schemas, at ``path`` (``payload.predikat``, ``items[]``)."""

    path: str
    message: str
    breaking: bool

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.message}"


def breaking_changes(old_schema: Schema, new_schema: Schema) -> list[str]:
    """What breaks a consumer of ``old_schema`` once messages follow ``new_schema``; [] if none."""
    return [str(c) for c in compare(old_schema, new_schema) if c.breaking]


def additive_changes(old_schema: Schema, new_schema: Schema) -> list[str]:
    """The compatible differences (added optional properties, added enum values, ...)."""
    return [str(c) for c in compare(old_schema, new_schema) if not c.breaking]


def compare(old_schema: Schema, new_schema: Schema) -> list[Change]:
    """Every difference that matters to a consumer, breaking or not, in a stable order."""
    walker = _Walker(old_schema, new_schema)
    walker.topic_meta(old_schema.get(TOPIC_META), new_schema.get(TOPIC_META))
    walker.schema(old_schema, new_schema, "")
    return walker.changes


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class _Walker:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.old_root = old_root
        self.new_root = new_root
        self.changes: list[Change] = []
        self._seen: set[tuple[str, str]] = set()

    def breaking(self, path: str, message: str) -> None:
        self.changes.append(Change(path, message, breaking=True))

    def additive(self, path: str, message: str) -> None:
        self.changes.append(Change(path, message, breaking=False))

    # -- topic metadata -------------------------------------------------------------------
    def topic_meta(self, old: Any, new: Any) -> None:
        if not isinstance(old, Mapping) or not isinstance(new, Mapping):
            return
        for key in _TOPIC_META_BREAKING:
            if old.get(key) != new.get(key):
                self.breaking(
                    TOPIC_META,
                    f"topic {key} changed from {_show(old.get(key))} to {_show(new.get(key))}",
                )

    # -- schemas --------------------------------------------------------------------------
    def schema(self, old: Schema, new: Schema, path: str) -> None:
        before = _resolve(old, self.old_root).get("default", _MISSING)
        after = _resolve(new, self.new_root).get("default", _MISSING)
        if before is not _MISSING and after is not _MISSING and before != after:
            self.additive(path, f"default changed from {_show(before)} to {_show(after)}")
        old_branches = _branches(old, self.old_root)
        new_branches = _branches(new, self.new_root)
        if _ANY in old_branches or _ANY in new_branches:
            if _ANY not in new_branches:
                self.breaking(path, f"type narrowed from any value to {_kinds(new_branches)}")
            elif _ANY not in old_branches:
                self.breaking(path, f"type widened from {_kinds(old_branches)} to any value")
            return
        lost = [k for k in old_branches if k not in new_branches]
        gained = [k for k in new_branches if k not in old_branches]
        lost_values = [k for k in lost if k != "null"]
        gained_values = [k for k in gained if k != "null"]
        if lost_values and gained_values:
            self.breaking(
                path,
                f"type changed from {_kinds(old_branches)} to {_kinds(new_branches)}",
            )
        else:
            for kind in lost_values:
                self.breaking(path, f"type narrowed: no longer accepts {kind}")
            for kind in gained_values:
                self.breaking(path, f"type widened: may now be {kind}")
        if "null" in lost:
            self.breaking(path, "no longer nullable (narrowed): records already written hold null")
        if "null" in gained:
            self.breaking(path, "became nullable (widened): readers of the old schema get null")
        for kind, old_branch in old_branches.items():
            if kind in new_branches:
                self.branch(old_branch, new_branches[kind], path)

    def branch(self, old: Schema, new: Schema, path: str) -> None:
        pair = (str(old.get(_REF_MARK, "")), str(new.get(_REF_MARK, "")))
        recursive = bool(pair[0] and pair[1])
        if recursive:
            if pair in self._seen:
                return  # a recursive model: this pair of definitions is being compared already
            self._seen.add(pair)
        try:
            self.branch_body(old, new, path)
        finally:
            if recursive:
                self._seen.discard(pair)

    def branch_body(self, old: Schema, new: Schema, path: str) -> None:
        self.enum(old, new, path)
        self.constraints(old, new, path)
        kind = _type_of(old)
        if kind == "object":
            self.object(old, new, path)
        elif kind == "array":
            self.array(old, new, path)

    def enum(self, old: Schema, new: Schema, path: str) -> None:
        old_values = _enum_values(old)
        new_values = _enum_values(new)
        if old_values is None and new_values is None:
            return
        if old_values is None:
            assert new_values is not None
            self.breaking(path, f"restricted to the enum {_values(new_values)} (narrowed)")
            return
        if new_values is None:
            self.breaking(path, f"no longer restricted to the enum {_values(old_values)} (widened)")
            return
        lost = old_values - new_values
        added = new_values - old_values
        if lost:
            self.breaking(
                path, f"enum narrowed: lost {_values(lost)} (records already written hold it)"
            )
        if added:
            self.additive(path, f"enum widened: added {_values(added)}")

    def constraints(self, old: Schema, new: Schema, path: str) -> None:
        for key in (*_LOWER_BOUNDS, *_UPPER_BOUNDS, *_OTHER_CONSTRAINTS):
            before, after = old.get(key), new.get(key)
            if before == after:
                continue
            self.breaking(
                path, f"{key} {_direction(key, before, after)}: {_show(before)} -> {_show(after)}"
            )

    def object(self, old: Schema, new: Schema, path: str) -> None:
        old_props: Mapping[str, Schema] = old.get("properties", {})
        new_props: Mapping[str, Schema] = new.get("properties", {})
        old_required = set(old.get("required", ()))
        new_required = set(new.get("required", ()))
        for name in old_props:
            if name not in new_props:
                self.breaking(_join(path, name), "property removed")
        for name in new_props:
            if name in old_props:
                continue
            if name in new_required:
                self.breaking(
                    _join(path, name),
                    "added as required: records already written lack it (give it a default)",
                )
            else:
                self.additive(_join(path, name), "optional property added")
        for name, old_prop in old_props.items():
            if name not in new_props:
                continue
            where = _join(path, name)
            if name in new_required and name not in old_required:
                self.breaking(where, "became required: records already written may lack it")
            elif name in old_required and name not in new_required:
                self.breaking(where, "no longer required: readers of the old schema rely on it")
            self.schema(old_prop, new_props[name], where)
        self.additional_properties(old, new, path)

    def additional_properties(self, old: Schema, new: Schema, path: str) -> None:
        before = old.get("additionalProperties", True)
        after = new.get("additionalProperties", True)
        where = _join(path, "{}")
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            self.schema(before, after, where)
        elif after is False and before is not False:
            self.breaking(where, "additional properties forbidden (narrowed)")
        elif isinstance(after, Mapping) and before is True:
            self.breaking(where, "additional property values restricted (narrowed)")
        elif isinstance(before, Mapping) and after is True:
            self.breaking(where, "additional property values unrestricted (widened)")
        # False -> anything: old strict readers already had to accept unknown properties.

    def array(self, old: Schema, new: Schema, path: str) -> None:
        old_prefix: list[Schema] = list(old.get("prefixItems", ()))
        new_prefix: list[Schema] = list(new.get("prefixItems", ()))
        if len(old_prefix) != len(new_prefix):
            self.breaking(path, f"tuple length changed from {len(old_prefix)} to {len(new_prefix)}")
        for index, (before, after) in enumerate(zip(old_prefix, new_prefix, strict=False)):
            self.schema(before, after, f"{path}[{index}]")
        old_items = old.get("items", {})
        new_items = new.get("items", {})
        if isinstance(old_items, Mapping) and isinstance(new_items, Mapping):
            self.schema(old_items, new_items, f"{path}[]")
        elif old_items != new_items:
            self.breaking(
                f"{path}[]", f"items changed from {_show(old_items)} to {_show(new_items)}"
            )


# -- normalisation ------------------------------------------------------------------------------
def _resolve(schema: Schema, root: Schema, depth: int = 0) -> Schema:
    """Follow ``$ref`` (local JSON pointers), keeping sibling keywords and where it led."""
    ref = schema.get("$ref")
    if ref is None:
        if len(schema.get("allOf", ())) == 1:  # older pydantic wraps a described $ref this way
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            return _resolve({**schema["allOf"][0], **rest}, root, depth + 1)
        return schema
    if depth > 64:
        raise ValueError(f"$ref chain too deep at {ref!r}")
    if not isinstance(ref, str) or not ref.startswith("#"):
        raise ValueError(f"only local $ref is supported, got {ref!r}")
    target: Any = root
    for part in filter(None, ref[1:].split("/")):
        key = unquote(part).replace("~1", "/").replace("~0", "~")
        if not isinstance(target, Mapping) or key not in target:
            raise ValueError(f"unresolvable $ref {ref!r}")
        target = target[key]
    siblings = {k: v for k, v in schema.items() if k != "$ref"}
    resolved = _resolve(target, root, depth + 1)
    return {**resolved, **siblings, _REF_MARK: resolved.get(_REF_MARK, ref)}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _enum_values(schema: Schema) -> set[str] | None:
    if "const" in schema:
        return {_show(schema["const"])}
    if "enum" in schema:
        return {_show(v) for v in schema["enum"]}
    return None


def _type_of(schema: Schema) -> str:
    kind = schema.get("type")
    return kind if isinstance(kind, str) else _ANY


def _branches(schema: Schema, root: Schema) -> dict[str, Schema]:
    """The alternatives a schema allows, one per JSON type (objects also per title).

    ``{"anyOf": [{"type": "string"}, {"type": "null"}]}`` -> ``{"string": ..., "null": ...}``;
    a schema without any type restriction is ``{"any": ...}``.
    """
    schema = _resolve(schema, root)
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        merged: dict[str, Schema] = {}
        for alternative in alternatives:
            for kind, branch in _branches(alternative, root).items():
                _merge_branch(merged, kind, branch)
        return merged
    declared = schema.get("type")
    if declared is None:
        values = schema.get("enum", [schema["const"]] if "const" in schema else None)
        if values is None:
            if "properties" in schema or "additionalProperties" in schema:
                declared = "object"
            elif "items" in schema or "prefixItems" in schema:
                declared = "array"
            else:
                return {_ANY: schema}
        else:
            declared = sorted({_json_type(v) for v in values})
    kinds = [declared] if isinstance(declared, str) else list(declared)
    result: dict[str, Schema] = {}
    for kind in kinds:
        branch = dict(schema)
        branch["type"] = kind
        if "enum" in branch and len(kinds) > 1:
            branch["enum"] = [v for v in branch["enum"] if _json_type(v) == kind]
        _merge_branch(result, kind, branch)
    return result


def _merge_branch(merged: dict[str, Schema], kind: str, branch: Schema) -> None:
    key = kind
    if kind == "object" and key in merged and merged[key].get("title") != branch.get("title"):
        key = f"object {branch.get('title', len(merged))}"
    if key not in merged:
        merged[key] = branch
        return
    # Two alternatives of one scalar type (Literal["a"] | Literal["b"]): the union of values,
    # or unrestricted if either alternative is.
    before, after = _enum_values(merged[key]), _enum_values(branch)
    combined = dict(merged[key])
    combined.pop("const", None)
    combined.pop("enum", None)
    if before is not None and after is not None:
        combined["enum"] = [json.loads(v) for v in sorted(before | after)]
    merged[key] = combined


def _values(values: set[str]) -> str:
    return ", ".join(sorted(values))


def _kinds(branches: Mapping[str, Schema]) -> str:
    return " | ".join(branches)


def _direction(key: str, before: Any, after: Any) -> str:
    if before is None:
        return "added (tightened)"
    if after is None:
        return "removed (loosened)"
    if key in _LOWER_BOUNDS and isinstance(before, int | float) and isinstance(after, int | float):
        return "tightened" if after > before else "loosened"
    if key in _UPPER_BOUNDS and isinstance(before, int | float) and isinstance(after, int | float):
        return "tightened" if after < before else "loosened"
    return "changed"
