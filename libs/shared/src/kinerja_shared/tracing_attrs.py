"""Business attributes on OpenTelemetry spans, so a trace can be found by teacher and delivery.

"Where is this teacher's predikat?" (docs/architecture.md, bkn-sync §6) is answered in the trace
viewer by searching ``kinerja.nip=<token>``, where the token is the teacher's NIP hashed with the
services' key (``python -m kinerja_shared.pii <NIP>``, docs/security.md); every span that touched
the teacher carries it:

- ``kinerja.nip``          the teacher's NIP, from the request or the event subject; exported
                           as its token ``nip#<16 hex>``, never as the 18 digits
- ``kinerja.npsn``         the school, for school-level events (subject is an 8-digit NPSN)
- ``kinerja.period_id``    the assessment period
- ``kinerja.delivery_id``  a bkn-sync delivery (SKP or predikat of one teacher for one period)
- ``kinerja.attempt``      which attempt of that delivery (1, 2, ...)
- ``kinerja.event_id`` / ``kinerja.event_type``  the envelope being handled

``annotate`` sets them on the *current* span: the FastAPI server span inside a route, the
FastStream ``process`` span inside a subscriber (its middleware makes that span current while
the handler runs). Both functions are no-ops when tracing is off (a non-recording span), never
raise, and skip ``None``, so callers need no guards.

A NIP is personal data (it encodes birth date and gender, docs/domain.md §6.2). Inside the
process spans hold it as set here; ``telemetry.RedactingExporter`` replaces it (in these
attributes and in any other, such as the server span's URL or a Kafka message key) by its token
when spans leave the process.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

__all__ = [
    "ATTEMPT",
    "DELIVERY_ID",
    "EVENT_ID",
    "EVENT_TYPE",
    "NIP",
    "NPSN",
    "PERIOD_ID",
    "PREFIX",
    "annotate",
    "annotate_envelope",
    "annotate_path_params",
    "annotate_span",
]

PREFIX = "kinerja."
NIP = "kinerja.nip"
NPSN = "kinerja.npsn"
PERIOD_ID = "kinerja.period_id"
DELIVERY_ID = "kinerja.delivery_id"
ATTEMPT = "kinerja.attempt"
EVENT_ID = "kinerja.event_id"
EVENT_TYPE = "kinerja.event_type"

# ASCII digits only: ``\d`` would accept other scripts' digits (see nip.py).
_NIP = re.compile(r"[0-9]{18}")
_NPSN = re.compile(r"[0-9]{8}")


def _value(value: Any) -> AttributeValue | None:
    """An OpenTelemetry attribute value (str, bool, int, float or a homogeneous sequence)."""
    if value is None:
        return None
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Sequence | set | frozenset) and not isinstance(value, bytes | bytearray):
        items = [v for v in value if v is not None]
        if items and all(isinstance(v, str | bool | int | float) for v in items):
            kinds = {type(v) for v in items}
            if len(kinds) == 1:
                return list(items)
        return [str(v) for v in items]
    if isinstance(value, Enum):
        return _value(value.value)
    # UUIDs, dates: their text form is what one searches for.
    return str(value)


def _key(name: str) -> str:
    return name if name.startswith(PREFIX) else f"{PREFIX}{name}"


def _set(span: trace.Span, attrs: Mapping[str, Any]) -> None:
    if not span.is_recording():
        return
    for name, raw in attrs.items():
        value = _value(raw)
        if value is not None:
            span.set_attribute(_key(name), value)


def annotate(
    nip: str | None = None,
    period_id: str | None = None,
    delivery_id: str | None = None,
    attempt: int | None = None,
    **extra: Any,
) -> None:
    """Set ``kinerja.nip``, ``kinerja.period_id``, ``kinerja.delivery_id``, ``kinerja.attempt``
    (and ``kinerja.<name>`` for each extra) on the current span; ``None`` values are skipped.

    The NIP is recorded as given: it comes from a validated path or body, and a wrong one is
    exactly what one wants to find in a trace.
    """
    try:
        _set(
            trace.get_current_span(),
            {
                NIP: nip,
                PERIOD_ID: period_id,
                DELIVERY_ID: delivery_id,
                ATTEMPT: attempt,
                **extra,
            },
        )
    except Exception:  # pragma: no cover - tracing must never break a request or a handler
        return


def annotate_span(span: trace.Span, attrs: Mapping[str, Any]) -> None:
    """``annotate`` for a span that is not the current one (e.g. an instrumentation hook's):
    ``attrs`` by full or short name (``kinerja.nip`` or ``nip``); ``None`` values skipped."""
    try:
        _set(span, attrs)
    except Exception:  # pragma: no cover - tracing must never break a request or a handler
        return


def annotate_envelope(envelope: Any) -> None:
    """Annotate the current span from an event envelope (``envelope_attrs``)."""
    try:
        _set(trace.get_current_span(), envelope_attrs(envelope))
    except Exception:  # pragma: no cover - tracing must never break a handler
        return


def envelope_attrs(envelope: Any) -> dict[str, Any]:
    """The attributes of an event envelope (``kinerja_shared.envelope.Envelope``).

    The subject becomes ``kinerja.nip`` when it is an 18-digit NIP and ``kinerja.npsn`` when it
    is an 8-digit NPSN; ``period_id``, ``delivery_id`` and ``attempts`` come from the payload
    when it has them (a payload's ``nip`` fills in for a subject that is not one); the event id
    and type are always set. Duck-typed, so a raw dict-like payload works as well.
    """
    subject = getattr(envelope, "subject", None)
    payload = getattr(envelope, "payload", None)

    def field(name: str) -> Any:
        if isinstance(payload, Mapping):
            return payload.get(name)
        return getattr(payload, name, None)

    nip: str | None = None
    npsn: str | None = None
    if isinstance(subject, str) and _NIP.fullmatch(subject):
        nip = subject
    elif isinstance(subject, str) and _NPSN.fullmatch(subject):
        npsn = subject
    payload_nip = field("nip")
    if nip is None and isinstance(payload_nip, str) and _NIP.fullmatch(payload_nip):
        nip = payload_nip
    if npsn is None and isinstance(field("npsn"), str):
        npsn = field("npsn")
    return {
        NIP: nip,
        NPSN: npsn,
        PERIOD_ID: field("period_id"),
        DELIVERY_ID: field("delivery_id"),
        # DeliveryStatus counts attempts made so far; that is the attempt it reports on.
        ATTEMPT: field("attempts") or None,
        EVENT_ID: getattr(envelope, "event_id", None),
        EVENT_TYPE: getattr(envelope, "type", None),
    }


def annotate_path_params(path_params: Mapping[str, Any]) -> None:
    """Annotate the current (HTTP server) span from a route's path parameters: ``{nip}``,
    ``{period_id}`` or ``{period}``, ``{npsn}``, ``{plan_id}``, ``{delivery_id}``.

    Meant as one router-level FastAPI dependency, so no route needs its own line::

        async def _annotate(request: Request) -> None:
            tracing_attrs.annotate_path_params(request.path_params)

        app.include_router(router, dependencies=[Depends(_annotate)])
    """
    annotate(
        nip=path_params.get("nip"),
        period_id=path_params.get("period_id") or path_params.get("period"),
        delivery_id=path_params.get("delivery_id"),
        npsn=path_params.get("npsn"),
        plan_id=path_params.get("plan_id"),
    )
