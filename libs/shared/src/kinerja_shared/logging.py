"""JSON logs, one object a line, carrying the trace and span ids of the current span, with
every NIP replaced by its keyed token (``kinerja_shared.pii``).

HTTP access lines come from ``kinerja_shared.middleware.AccessLog`` (route template, never the
raw path or query); uvicorn's own access line, which carries both, is switched off here.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from . import pii


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


# What every LogRecord carries by itself; anything else on a record came in through ``extra``.
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None).__dict__
) | {"message", "asctime", "trace_id", "span_id", "service", "repeated"}


class NipRedactor(logging.Filter):
    """Replaces every NIP in a record (message, arguments, ``extra`` fields, exception and
    stack text) by its token, so no handler after it can write one out.

    The message is formatted here (``msg % args``) and the arguments dropped: a NIP passed as
    an argument is otherwise only joined to the text by the formatter, after every filter.
    """

    _exceptions = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._redact(record)
        except Exception as exc:  # never break the caller, never let the unredacted line out
            record.__dict__.update(
                msg=f"log line withheld: its redaction failed ({type(exc).__name__})",
                args=None,
                exc_info=None,
                exc_text=None,
                stack_info=None,
            )
            for name in [n for n in record.__dict__ if n not in _RECORD_ATTRIBUTES]:
                delattr(record, name)
        return True

    def _redact(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, dict):
            record.msg = pii.redact_value(record.msg)
        else:
            try:
                message = record.getMessage()
            except Exception:  # a bad format string must not lose the line
                message = f"{record.msg!s} {record.args!r}"
            record.msg, record.args = pii.redact(message), None
        for name, value in list(record.__dict__.items()):
            if name not in _RECORD_ATTRIBUTES:
                redacted = pii.redact_value(value)
                if redacted is not value:
                    setattr(record, name, redacted)
        if record.exc_info:
            # Formatted now, so the formatter prints this text instead of the live exception.
            record.exc_text = pii.redact(self._exceptions.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = pii.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = pii.redact(record.stack_info)


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
    # Last: the repeat limiter tells kinds apart by the unformatted message.
    handler.addFilter(NipRedactor())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or os.environ.get("KINERJA_LOG_LEVEL", "INFO"))
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Its line holds the raw path and query (NIPs); middleware.AccessLog writes ours instead.
    # Both switches: a later logging.config.dictConfig (uvicorn.Config's default) re-enables a
    # logger it names but keeps its filters.
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.disabled = True
    uvicorn_access.addFilter(_drop)


def _drop(_: logging.LogRecord) -> bool:
    return False
