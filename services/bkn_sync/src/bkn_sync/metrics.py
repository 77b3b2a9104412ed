"""Prometheus metrics of the delivery pipeline (served by the shared /metrics route)."""

from prometheus_client import Counter, Histogram

EKINERJA_REQUESTS = Counter(
    "bkn_sync_ekinerja_requests_total",
    "PUTs to e-Kinerja by kind and answer (HTTP status, or TIMEOUT/CONNECTION).",
    ["kind", "answer"],
)
EKINERJA_LATENCY = Histogram(
    "bkn_sync_ekinerja_request_seconds",
    "Duration of one PUT to e-Kinerja.",
    ["kind"],
)
TRANSITIONS = Counter(
    "bkn_sync_delivery_transitions_total",
    "Delivery state changes, by new state, reason code and retry tier.",
    ["state", "reason_code", "tier"],
)
