"""JSON logs, one object a line, carrying the trace and span ids of the current span."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter


class _TraceIds(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.get_current_span().get_span_context()
        record.trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else None
        record.span_id = format(ctx.span_id, "016x") if ctx.is_valid else None
        record.service = os.environ.get("OTEL_SERVICE_NAME")
        return True


class RepeatLimiter(logging.Filter):
    """Passes the first warning or error of each kind from the Kafka client, then at most one
    per ``interval`` seconds, carrying in ``repeated`` how many were held back meanwhile.

    While a broker is away, aiokafka's reconnect, metadata, fetch and coordinator loops log an
    error every few milliseconds each (about 70 lines a second for one consumer); a service
    with a dozen consumers buried every other line under them. A kind is the logger and the
    message template, so "Unable connect to node %s" is one kind whatever the node.
    """

    def __init__(
        self,
        interval: float,
        prefixes: tuple[str, ...] = ("aiokafka", "kafka"),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.prefixes = prefixes
        self.clock = clock
        # kind -> [time the last record passed, records held back since]
        self._kinds: dict[tuple[str, str], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(self.prefixes):
            return True
        kind = (record.name, str(record.msg))
        now = self.clock()
        seen = self._kinds.get(kind)
        if seen is None or now - seen[0] >= self.interval:
            if seen is not None and seen[1]:
                record.repeated = int(seen[1])
            self._kinds[kind] = [now, 0]
            return True
        seen[1] += 1
        return False


def setup_logging(level: str | None = None) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(_TraceIds())
    handler.addFilter(RepeatLimiter(float(os.environ.get("KINERJA_LOG_REPEAT_INTERVAL_S", "30"))))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or os.environ.get("KINERJA_LOG_LEVEL", "INFO"))
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
