"""The e-Kinerja client: one PUT per attempt, a few quick in-process retries for transient
answers, and a plain ``Outcome`` back (the classification lives in ``domain.classify``)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_result,
    stop_after_attempt,
    wait_random_exponential,
)

from kinerja_shared import metrics

from .breaker import BreakerOpen, Gate, health_of
from .config import Settings
from .domain.breaker import Health
from .domain.classify import Outcome, Transport, classify

log = logging.getLogger(__name__)

_CONNECTIONS_PER_CLIENT = 4
PATHS = {"SKP": "skp", "PREDIKAT": "predikat"}


@dataclass(frozen=True)
class Request:
    kind: str
    nip: str
    period_id: str
    key: uuid.UUID
    body: dict[str, Any]

    @property
    def path(self) -> str:
        return f"/{PATHS[self.kind]}/{self.nip}/{self.period_id}"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    attempts: int
    errors: tuple[str, ...]  # one line per failed attempt, oldest first


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None  # an HTTP-date: fall back to our own backoff


def _body_code(response: httpx.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    code = data.get("code") if isinstance(data, dict) else None
    return code if isinstance(code, str) else None


class Sender:
    def __init__(
        self,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None = None,
        gate: Gate | None = None,
    ) -> None:
        self._settings = settings
        self.gate = gate or Gate(settings.breaker_config(), settings.retry_hold_max_seconds)
        # Several small clients instead of one with max_in_flight connections: httpcore's pool
        # scans every connection against every waiting request on each event, which at 200
        # connections cost ~10 ms of CPU per PUT here (bench/README.md); at 4 it is ~1 ms.
        # A client is lent out per PUT, at most as often as it has connections, so no request
        # ever waits for a pooled connection (that wait would count against the timeout and read
        # as e-Kinerja being slow, T01), and at most max_in_flight PUTs are open at once.
        per_client = min(_CONNECTIONS_PER_CLIENT, settings.max_in_flight)
        self._clients = [
            httpx.AsyncClient(
                base_url=settings.ekinerja_url,
                timeout=settings.ekinerja_timeout_seconds,
                transport=transport,
                limits=httpx.Limits(
                    max_connections=per_client, max_keepalive_connections=per_client
                ),
            )
            for _ in range(-(-settings.max_in_flight // per_client))
        ]
        self._lendable: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for i in range(settings.max_in_flight):
            self._lendable.put_nowait(self._clients[i % len(self._clients)])
        for client in self._clients:
            # Puts the W3C traceparent on every call, so the e-Kinerja span joins the trace.
            HTTPXClientInstrumentor.instrument_client(client)
        self._backoff = wait_random_exponential(multiplier=0.2, max=settings.quick_wait_max_seconds)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()

    async def attempt(self, request: Request) -> Outcome:
        """One PUT once the breaker lets it through; never raises for what e-Kinerja or the
        network does (``BreakerOpen`` when held too long, before anything was sent)."""
        permit = await self.gate.permit()
        health = Health.UNKNOWN  # if the call is cancelled: no verdict, free the probe
        down_for: float | None = None
        try:
            outcome = await self._put(request)
            health = health_of(outcome)
            if outcome.code == "BKN-T02" and outcome.retry_after is not None:
                # e-Kinerja says how long it will be down; probe again no later than the cap,
                # in case it comes back early.
                down_for = min(outcome.retry_after, self._settings.retry_after_cap_seconds)
            return outcome
        finally:
            self.gate.record(permit, health, down_for)

    async def _put(self, request: Request) -> Outcome:
        client = await self._lendable.get()
        started = time.monotonic()
        answer = "CONNECTION"
        try:
            response = await client.put(
                request.path,
                json=request.body,
                headers={"Idempotency-Key": str(request.key)},
            )
            answer = str(response.status_code)
        except httpx.TimeoutException:
            answer = "TIMEOUT"
            return classify(None, transport=Transport.TIMEOUT)
        except httpx.TransportError:
            return classify(None, transport=Transport.CONNECTION)
        finally:
            self._lendable.put_nowait(client)
            metrics.BKN_SYNC_EKINERJA_SECONDS.labels(PATHS[request.kind], answer).observe(
                time.monotonic() - started
            )
        if response.is_success:
            return classify(response.status_code)
        return classify(
            response.status_code, _body_code(response), retry_after=_retry_after(response)
        )

    def _wait(self, state: RetryCallState) -> float:
        outcome = state.outcome.result() if state.outcome else None
        retry_after = outcome.retry_after if isinstance(outcome, Outcome) else None
        if retry_after is not None:
            return retry_after
        return float(self._backoff(state))

    def _stop(self, state: RetryCallState) -> bool:
        if stop_after_attempt(self._settings.quick_attempts)(state):
            return True
        outcome = state.outcome.result() if state.outcome else None
        # Asked to wait longer than we hold a handler: leave it to the retry tier.
        retry_after = outcome.retry_after if isinstance(outcome, Outcome) else None
        return retry_after is not None and retry_after > self._settings.retry_after_cap_seconds

    async def deliver(self, request: Request) -> Result:
        """Quick tries of one hop. Raises ``BreakerOpen`` only if held before the first PUT."""
        errors: list[str] = []
        attempts = 0
        outcome: Outcome | None = None
        # No ``with attempt:`` block: it would swallow an unexpected exception into the retry
        # state, and ``attempt`` itself never raises for what e-Kinerja or the network does.
        async for attempt in AsyncRetrying(
            retry=retry_if_result(lambda o: o.is_transient),
            wait=self._wait,
            stop=self._stop,
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        ):
            try:
                outcome = await self.attempt(request)
            except BreakerOpen:
                if outcome is None:
                    raise
                break  # held after real tries: what they said goes on to the retry tier
            attempts += 1
            if outcome.is_transient:
                errors.append(outcome.error_text())
                log.info(
                    "e-Kinerja transient failure",
                    extra={"delivery": request.path, "code": outcome.code},
                )
            attempt.retry_state.set_result(outcome)
        assert outcome is not None
        return Result(outcome, attempts, tuple(errors))
