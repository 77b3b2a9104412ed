"""The limits a gateway in front of e-Kinerja enforces, so throughput stops growing with the
requests a client keeps in flight.

Record requests beyond ``max_concurrent_requests`` are answered at once with 429
``GATEWAY_LIMIT`` and ``Retry-After`` (not queued): a client sees the limit as it would at a
real gateway and has to slow down, and the bench can count the refusals. Connections beyond
``max_connections`` are uvicorn's ``limit_concurrency`` (503, as nginx's ``limit_conn``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Gateway:
    max_concurrent_requests: int | None = None
    max_connections: int | None = None
    retry_after_seconds: int = 1
    in_flight: int = 0
    peak_in_flight: int = 0
    refused: int = 0

    def enter(self) -> bool:
        """Admit one record request; False when the gateway refuses it. One event loop serves
        the app, so the counter needs no lock."""
        limit = self.max_concurrent_requests
        if limit is not None and self.in_flight >= limit:
            self.refused += 1
            return False
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        return True

    def leave(self) -> None:
        self.in_flight -= 1

    def reset_counts(self) -> None:
        self.peak_in_flight = self.in_flight
        self.refused = 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "max_concurrent_requests": self.max_concurrent_requests,
            "max_connections": self.max_connections,
            "retry_after_seconds": self.retry_after_seconds,
            "over_limit": "429 GATEWAY_LIMIT with Retry-After (not queued)",
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "refused": self.refused,
        }
