"""Event contracts: JSON Schema snapshots, the compatibility check and the AsyncAPI document.

``schemas`` renders what is on the wire per topic (the envelope with its payload),
``compatibility`` says whether a new schema breaks consumers of an old one, and ``asyncapi``
documents the predikat topics for other teams. tests/contracts pins all three.
"""

from .compatibility import Change, additive_changes, breaking_changes, compare
from .schemas import topic_schema

__all__ = ["Change", "additive_changes", "breaking_changes", "compare", "topic_schema"]
