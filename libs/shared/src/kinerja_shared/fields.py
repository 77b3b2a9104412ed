"""How long the text a person types may be: one set of bounds for every request model.

Every string and every list a request carries has a maximum, visible in the OpenAPI document
(``maxLength``, ``maxItems``, ``maxProperties``) and enforced before a route runs (422
VALIDATION_ERROR). The bounds come from the domain, with room to spare for real use: a
reflection of a few pages, a reason of a few paragraphs, a name of a line. They also bound every
event a request can cause: docs/security.md ("Largest event per service") adds them up, and the
request-size limit (``ServiceSettings.max_request_bytes``) caps the whole body on top.

Pure: no I/O, importable by any layer.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

CODE_MAX = 32
"""A code from a catalog or a register: period, sub-indicator, behaviour, reason, rubric item."""
NAME_MAX = 200
"""One line: the name of an additional duty."""
REFERENCE_MAX = 500
"""A reference to an uploaded document (its URL or id)."""
ITEM_MAX = 1000
"""One entry of a list a person writes: a main duty, an activity, an exclusion reason."""
REASON_MAX = 2000
"""A reason, note or comment: a few paragraphs."""
REFLECTION_MAX = 5000
"""A reflection, the observation's feedback or notes: a few thousand characters."""

SHORT_LIST_MAX = 5
"""A choice of "exactly one" (the domain says which is wrong, e.g. V-05), with room to say so."""
LIST_MAX = 20
"""Entries a person writes one by one: main duties, activities, duties done."""
NIP_MAX = 18

Code = Annotated[str, Field(max_length=CODE_MAX)]
Name = Annotated[str, Field(max_length=NAME_MAX)]
Reference = Annotated[str, Field(max_length=REFERENCE_MAX)]
Item = Annotated[str, Field(max_length=ITEM_MAX)]
Reason = Annotated[str, Field(max_length=REASON_MAX)]
Reflection = Annotated[str, Field(max_length=REFLECTION_MAX)]
NipKey = Annotated[str, Field(max_length=NIP_MAX)]
