"""FastStream's Kafka telemetry, without the producer spans nothing would export.

For every record it publishes, FastStream's middleware opens a "create" and a "publish" span and
writes their context into the record's headers. For a record of a trace the sampler dropped (at
the prod overlay's 10 %, nine records in ten) both spans are non-recording and the headers get
the same unsampled context they already carry from the outbox row; building them was still ~7 %
of bkn-sync's CPU per delivery (bench/README.md, its profile). Such a record (its own headers
say so, or the current context does) is published as it is. A sampled record, or one with no
context at all (the sampler decides then), keeps FastStream's spans unchanged, and the consume
side is untouched.
"""

from __future__ import annotations

from typing import Any

from faststream._internal.basic_types import AsyncFunc
from faststream._internal.context.repository import ContextRepo
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.response import KafkaPublishCommand
from faststream.opentelemetry.middleware import BaseTelemetryMiddleware

from . import telemetry


class _Scopes(BaseTelemetryMiddleware[KafkaPublishCommand]):
    async def publish_scope(self, call_next: AsyncFunc, msg: KafkaPublishCommand) -> Any:
        if telemetry.carries_unsampled_trace(msg.headers) or telemetry.in_unsampled_trace():
            return await call_next(msg)
        return await super().publish_scope(call_next, msg)


class KafkaTelemetry(KafkaTelemetryMiddleware):
    def __call__(self, msg: Any | None, /, *, context: ContextRepo) -> _Scopes:
        return _Scopes(
            msg,
            tracer=self._tracer,
            metrics_container=self._metrics,
            settings_provider_factory=self._settings_provider_factory,
            context=context,
        )
