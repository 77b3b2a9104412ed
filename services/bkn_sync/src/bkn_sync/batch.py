"""The source consumers' path: a whole batch of records in flight at once, offsets after outcomes.

One poll's records (across the topic's partitions) are ingested in one transaction; each slot's
newest version is then attempted concurrently, at most ``max_in_flight`` deliveries at once per
process, and each outcome is recorded, with its status event, as soon as its PUT is done
(``pipeline.Recorder``: a short transaction, shared with the outcomes completing at the same
moment), so a slow PUT never holds back another teacher's status. Only once every outcome of
the batch is stored does the handler return and FastStream commit the batch's offsets, so a
crash anywhere re-reads the batch, and ingest of a version still pending attempts it again
under the same idempotency key (one already recorded is left alone).

Per-teacher order holds because a slot is attempted at most once per batch (its newest version;
the older ones of the batch are SUPERSEDED at ingest) and one topic's batches are handled one
after another: no older version can reach e-Kinerja after a newer one was acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping, Sequence

from opentelemetry import trace

from kinerja_shared import telemetry, tracing_attrs
from kinerja_shared.events.bkn_sync import DeliveryState

from . import pipeline
from .domain.deliveries import PENDING
from .domain.delivery import Delivery
from .parts import BknRuntime
from .pipeline import Attempted, Routing, Source

_tracer = trace.get_tracer(__name__)


@contextlib.contextmanager
def within(headers: Mapping[str, str]) -> Iterator[None]:
    """Work done for one record joins that record's trace (its teacher's request)."""
    token = telemetry.attach_headers(headers)
    try:
        yield
    finally:
        telemetry.detach(token)


def _span_if_sampled(name: str) -> contextlib.AbstractContextManager[object]:
    """The delivery's own span when its record's trace is sampled, or when the record brought
    no trace (the sampler decides then). A record of an unsampled trace keeps that trace's
    context (its id in the logs, its ``traceparent`` on the PUT) without a span of ours that
    nothing would export: building one for every delivery cost ~5 % of its CPU at 10 %
    sampling (bench/README.md, bkn-sync's profile)."""
    if telemetry.in_unsampled_trace():
        return contextlib.nullcontext()
    return _tracer.start_as_current_span(name)


async def deliver(
    runtime: BknRuntime, sources: Sequence[Source], routing: Routing
) -> list[Delivery | None]:
    """Ingest, attempt and record a batch; raises (so the batch is read again) if any of its
    deliveries could not be attempted, after recording the outcomes of the others."""
    sender = runtime.parts.sender
    # Claim at ingest only while e-Kinerja takes calls: during an outage the rows wait QUEUED,
    # their attempts untouched, and are claimed one by one once the breaker lets calls through.
    claim = sender.gate.admitting()
    async with runtime.db.acquire() as conn, conn.transaction():
        due = await pipeline.ingest(conn, sources, claim=claim)
    outcomes = await asyncio.gather(
        *(_attempt(runtime, d, src, routing) for d, src in due), return_exceptions=True
    )
    for o in outcomes:
        if isinstance(o, BaseException):
            # e.g. BreakerOpen: held too long; the others' outcomes are stored, the batch is
            # read again.
            raise o
    return [o for o in outcomes if not isinstance(o, BaseException)]


async def _attempt(
    runtime: BknRuntime, d: Delivery, src: Source, routing: Routing
) -> Delivery | None:
    """Attempt one delivery and record its outcome at once; the delivery as recorded."""
    parts = runtime.parts
    with within(src.trace), _span_if_sampled(f"bkn-sync deliver {src.kind}"):
        tracing_attrs.annotate(src.nip, src.period_id, d.delivery_key)
        # Waiting for the breaker takes no slot: nothing could use it meanwhile anyway.
        await parts.sender.gate.ready()
        async with parts.in_flight:
            if d.state is not DeliveryState.IN_FLIGHT:
                claimed = await pipeline.claim(runtime.db, d.delivery_key, PENDING)
                if claimed is None:
                    return None  # moved on meanwhile (a redrive, a tier attempt)
                d = claimed
            result = await parts.sender.deliver(pipeline.request_of(d))
        attempted = Attempted(d, result, telemetry.current_trace_headers())
        return await parts.recorder.record(attempted, routing)
