"""bkn-sync's metrics of its delivery pipeline to e-Kinerja.

They live in prometheus_client's default registry beside the shared metrics of every service
(kinerja_shared.metrics), so the shared ``/metrics`` route serves them; the names are what
deploy/prometheus/alerts.yml and deploy/grafana/delivery-pipeline.json use.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram

RETRIES = Counter(
    "kinerja_bkn_sync_retries_total",
    "Deliveries sent to a retry tier, by tier (1, 2, 3: the tier's topic), counted once per "
    "hand-over to the tier.",
    ["tier"],
)
DLQ = Counter(
    "kinerja_bkn_sync_dlq_total",
    "Records bkn-sync wrote to its dead-letter topic (dead deliveries and poison records).",
)
PARKED = Gauge(
    "kinerja_bkn_sync_parked",
    "Deliveries in state PARKED, by reason code (e.g. BKN-E01); set from the deliveries table "
    "with set_parked().",
    ["reason"],
)
BREAKER_STATE = Gauge(
    "kinerja_bkn_sync_breaker_state",
    "The e-Kinerja circuit breaker of this instance: 0 closed, 1 half-open, 2 open.",
)
BREAKER_HOLDS = Counter(
    "kinerja_bkn_sync_breaker_holds_total",
    "Deliveries held back by an open or probing breaker (each hold counted once).",
)
PAUSED = Gauge(
    "kinerja_bkn_sync_paused",
    "1 while this instance holds deliveries for a pause (PUT /pause: BKN's maintenance), 0 "
    "otherwise; set whenever the instance reads the pause.",
)
PAUSE_STARTED = Gauge(
    "kinerja_bkn_sync_pause_started_timestamp_seconds",
    "When the pause in force began (Unix time); 0 while not paused.",
)
PAUSE_ENDS = Gauge(
    "kinerja_bkn_sync_pause_ends_timestamp_seconds",
    "When the pause in force is announced to end (its until, Unix time); 0 while not paused "
    "or when it has no end.",
)
EKINERJA_SECONDS = Histogram(
    "kinerja_bkn_sync_ekinerja_request_seconds",
    "Duration of one call to e-Kinerja, by record kind (skp, predikat, penilaian-periodik) and "
    "status: the HTTP status code ('200', '409', '503', ...) or TIMEOUT / CONNECTION when "
    "there was no answer.",
    ["kind", "status"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0),
)


_parked_reasons: set[str] = set()


def set_parked(counts: Mapping[str, int]) -> None:
    """Set the PARKED depth per reason from a full count (e.g. ``SELECT reason_code,
    count(*) ... WHERE state = 'PARKED' GROUP BY 1``); reasons no longer present go to 0."""
    for reason in _parked_reasons - set(counts):
        PARKED.labels(reason).set(0)
    for reason, n in counts.items():
        PARKED.labels(reason).set(n)
    _parked_reasons.update(counts)


def set_pause(paused_at: datetime | None, until: datetime | None) -> None:
    """The pause this instance holds for (``paused_at`` none: none)."""
    PAUSED.set(0 if paused_at is None else 1)
    PAUSE_STARTED.set(0 if paused_at is None else paused_at.timestamp())
    PAUSE_ENDS.set(0 if paused_at is None or until is None else until.timestamp())
