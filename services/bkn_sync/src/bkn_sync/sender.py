"""The e-Kinerja client: one PUT per attempt, a few quick in-process retries for transient
answers, and a plain ``Outcome`` back (the classification lives in ``domain.classify``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDictProxy
from opentelemetry import trace
from opentelemetry.propagate import inject
from opentelemetry.trace import Span, SpanKind, StatusCode
from tenacity import RetryCallState, stop_after_attempt, wait_random_exponential

from kinerja_shared import tracing_attrs

from . import metrics
from .breaker import BreakerOpen, Gate, health_of
from .callcap import SharedCallCap
from .config import Settings
from .domain.breaker import Health
from .domain.classify import Outcome, Transport, classify
from .ekinerja_token import TokenSource, TokenUnavailable

log = logging.getLogger(__name__)

PATHS = {"SKP": "skp", "PREDIKAT": "predikat"}


@dataclass(frozen=True)
class Request:
    kind: str
    nip: str
    period_id: str
    key: uuid.UUID
    body: dict[str, Any]
    delivery_id: str = ""
    prior_attempts: int = 0  # attempts of earlier hops (tiers, redrives): the count goes on

    @property
    def path(self) -> str:
        return f"/{PATHS[self.kind]}/{self.nip}/{self.period_id}"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    attempts: int
    errors: tuple[str, ...]  # one line per failed attempt, oldest first


_tracer = trace.get_tracer(__name__)


@contextlib.contextmanager
def _client_span(base_url: str, request: Request, number: int) -> Iterator[Span | None]:
    """A client span around a PUT whose delivery's trace is sampled; none for the others, which
    still send their ``traceparent`` so e-Kinerja's side carries the trace id. Ours rather than
    aiohttp's instrumentation: its trace hooks ran on every PUT, sampled or not, about 5 % of a
    delivery's CPU at 10 % sampling (bench/README.md, the profile)."""
    if not trace.get_current_span().get_span_context().trace_flags.sampled:
        yield None
        return
    url = base_url.rstrip("/") + request.path
    attributes = {"http.request.method": "PUT", "url.full": url, **_server_of(url)}
    with _tracer.start_as_current_span(
        "PUT", kind=SpanKind.CLIENT, attributes=attributes, record_exception=False
    ) as span:
        call = {
            tracing_attrs.NIP: request.nip,
            tracing_attrs.PERIOD_ID: request.period_id,
            tracing_attrs.DELIVERY_ID: request.delivery_id or None,
            tracing_attrs.ATTEMPT: request.prior_attempts + number,
        }
        tracing_attrs.annotate_span(span, call)
        yield span


def _server_of(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    return {"server.address": parts.hostname or "", "server.port": parts.port or 443}


def _answered(span: Span | None, status: int | None, error: str | None = None) -> None:
    if span is None:
        return
    if status is not None:
        span.set_attribute("http.response.status_code", status)
    if error is not None or (status is not None and status >= 500):
        span.set_attribute("error.type", error or str(status))
        span.set_status(StatusCode.ERROR)


def _retry_after(headers: CIMultiDictProxy[str]) -> float | None:
    raw = headers.get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None  # an HTTP-date: fall back to our own backoff


@dataclass(frozen=True)
class _Said:
    """What a refusal's body says, as far as it can be read."""

    code: str | None = None
    message: str | None = None
    held_version: int | None = None


def _said(body: bytes) -> _Said:
    try:
        data = json.loads(body)
    except ValueError:
        return _Said()
    if not isinstance(data, dict):
        return _Said()

    def text(name: str) -> str | None:
        value = data.get(name)
        return value if isinstance(value, str) else None

    def number(name: str) -> int | None:
        value = data.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    # The simulator's STALE_VERSION names it current_version; held_version is the plainer word.
    held = number("held_version")
    return _Said(
        text("code"), text("message"), held if held is not None else number("current_version")
    )


def _version_of(body: Mapping[str, Any]) -> int | None:
    value = body.get("version")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Sender:
    def __init__(
        self, settings: Settings, gate: Gate | None = None, cap: SharedCallCap | None = None
    ) -> None:
        self._settings = settings
        self.gate = gate or Gate(settings.breaker_config(), settings.retry_hold_max_seconds)
        self._session: aiohttp.ClientSession | None = None
        self._backoff = wait_random_exponential(multiplier=0.2, max=settings.quick_wait_max_seconds)
        self._cap = cap
        credentials = settings.ekinerja_credentials()
        self._tokens = (
            TokenSource(credentials, settings.ekinerja_timeout_seconds) if credentials else None
        )

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use: an aiohttp session belongs to the running event loop.
        if self._session is None:
            timeout = self._settings.ekinerja_timeout_seconds
            self._session = aiohttp.ClientSession(
                base_url=self._settings.ekinerja_url,
                # aiohttp rather than httpx: ~0.2 ms of CPU per PUT instead of ~1.2 ms here,
                # which is most of what one delivery costs (bench/README.md).
                # As many connections as deliveries in flight, so no PUT waits for one (that
                # wait would count against the timeout and read as e-Kinerja being slow, T01).
                connector=aiohttp.TCPConnector(
                    limit=self._settings.max_in_flight,
                    keepalive_timeout=self._settings.ekinerja_keepalive_seconds,
                ),
                # Per phase, as e-Kinerja's own slowness is what a timeout should measure.
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout),
                raise_for_status=False,
            )
            # aiohttp resends an idempotent request once, unseen, when a kept-alive connection
            # drops; every PUT must be an attempt we count, trace and back off from (the key
            # makes a resend safe, not free). No public switch: its own test client does this.
            self._session._retry_connection = False
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._tokens is not None:
            await self._tokens.aclose()

    async def attempt(self, request: Request, number: int = 1) -> Outcome:
        """One PUT once the breaker lets it through; never raises for what e-Kinerja or the
        network does (``BreakerOpen`` when held too long, before anything was sent)."""
        permit = await self.gate.permit()
        health = Health.UNKNOWN  # if the call is cancelled: no verdict, free the probe
        down_for: float | None = None
        try:
            if self._cap is not None:
                # Past the breaker, so no call that will not happen takes a slot of the cap.
                await self._cap.acquire(request.nip)
            outcome = await self._put(request, number)
            health = health_of(outcome)
            if outcome.code == "BKN-T02" and outcome.retry_after is not None:
                # e-Kinerja says how long it will be down; probe again no later than the cap,
                # in case it comes back early.
                down_for = min(outcome.retry_after, self._settings.retry_after_cap_seconds)
            return outcome
        finally:
            self.gate.record(permit, health, down_for)

    async def _put(self, request: Request, number: int, *, renew: bool = True) -> Outcome:
        sent = {"Idempotency-Key": str(request.key), "Content-Type": "application/json"}
        if self._tokens is not None:
            try:
                sent["Authorization"] = await self._tokens.authorization()
            except TokenUnavailable as exc:
                # Nothing was sent: as if e-Kinerja's door were closed, tried again later.
                log.warning("no e-Kinerja access token", extra={"reason": str(exc)})
                return classify(None, transport=Transport.CONNECTION)
        started = time.monotonic()
        answer = "CONNECTION"
        with _client_span(self._settings.ekinerja_url, request, number) as span:
            inject(sent)  # the client span's context, or the delivery's when unsampled
            try:
                async with self._client().put(
                    request.path,
                    data=json.dumps(request.body).encode(),
                    headers=sent,
                ) as response:
                    body = await response.read()
                    status, headers = response.status, response.headers
                answer = str(status)
                _answered(span, status)
            except TimeoutError:  # before ClientError: aiohttp's timeouts are both
                answer = "TIMEOUT"
                _answered(span, None, "timeout")
                return classify(None, transport=Transport.TIMEOUT)
            except aiohttp.ClientError as exc:  # refused, reset, a response cut short
                _answered(span, None, type(exc).__name__)
                return classify(None, transport=Transport.CONNECTION)
            finally:
                metrics.EKINERJA_SECONDS.labels(PATHS[request.kind], answer).observe(
                    time.monotonic() - started
                )
        if 200 <= status < 300:
            return classify(status)
        if status == 401 and self._tokens is not None and renew:
            # Revoked or expired early: once more with a new token, within the same attempt.
            self._tokens.invalidate(sent["Authorization"])
            return await self._put(request, number, renew=False)
        said = _said(body)
        return classify(
            status,
            said.code,
            retry_after=_retry_after(headers),
            held_version=said.held_version,
            our_version=_version_of(request.body),
            message=said.message,
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
        outcome = await self.attempt(request, 1)
        if not outcome.is_transient:
            return Result(outcome, 1, ())  # nearly every delivery: no retry state to keep
        # After a transient answer, tenacity's stop and wait decide as they would inside its own
        # loop; the loop is ours so the first PUT above costs nothing of it (bench/README.md).
        state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        errors: list[str] = []
        attempts = 1
        while True:
            errors.append(outcome.error_text())
            log.info(
                "e-Kinerja transient failure",
                extra={"delivery": request.path, "code": outcome.code},
            )
            state.attempt_number = attempts
            state.set_result(outcome)
            if self._stop(state):
                break
            await asyncio.sleep(self._wait(state))
            try:
                outcome = await self.attempt(request, attempts + 1)
            except BreakerOpen:
                break  # held after real tries: what they said goes on to the retry tier
            attempts += 1
            if not outcome.is_transient:
                break
        return Result(outcome, attempts, tuple(errors))
