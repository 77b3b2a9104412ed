"""Handling of one record PUT: faults, idempotency, refusals, versions, then the ledger."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from opentelemetry import trace
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from ekinerja_sim.connection import reset_connection
from ekinerja_sim.errors import error_response
from ekinerja_sim.faults import Chosen, FaultType, LostAs, Phase
from ekinerja_sim.ledger import Accepted, Attempt, KeyReused, Replay, Stale, utc_now
from ekinerja_sim.records import RecordKind, Target
from ekinerja_sim.refusals import MESSAGES, SKP_NOT_FOUND, SKP_NOT_FOUND_MESSAGE
from ekinerja_sim.simulator import Simulator

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replay"

_SERVER_ERRORS = {
    500: ("INTERNAL_ERROR", "Terjadi kesalahan pada server e-Kinerja"),
    502: ("BAD_GATEWAY", "Gateway e-Kinerja tidak menerima respons yang valid"),
    503: ("SERVICE_UNAVAILABLE", "Layanan e-Kinerja sedang tidak tersedia"),
}
# Cut off mid-object: what a proxy that truncates a 200 response delivers.
_MALFORMED_BODY = b'{"status": "accepted", "receipt_id": "EK-'


class RecordBody(BaseModel):
    """Only ``version`` is checked; the rest of the record is stored as sent."""

    model_config = ConfigDict(extra="allow")

    version: StrictInt = Field(ge=0)


@dataclass(frozen=True, slots=True)
class _Processed:
    response: Response
    outcome: str
    code: str | None = None

    @property
    def recorded(self) -> bool:
        return self.outcome in {"accepted", "replayed"}


class _AttemptLog:
    def __init__(self, sim: Simulator, target: Target, key: str | None) -> None:
        self._sim = sim
        self._target = target
        self._key = key
        self.delay_ms = 0

    def log(
        self, status: int | None, outcome: str, *, fault: str | None = None, code: str | None = None
    ) -> None:
        self._sim.ledger.log_attempt(
            Attempt(
                at=utc_now(),
                target=self._target,
                key=self._key,
                status=status,
                outcome=outcome,
                fault=fault,
                code=code,
                delay_ms=self.delay_ms,
            )
        )

    def done(
        self, response: Response, outcome: str, *, fault: str | None = None, code: str | None = None
    ) -> Response:
        self.log(response.status_code, outcome, fault=fault, code=code)
        return response


async def handle_record(sim: Simulator, request: Request, target: Target) -> Response:
    sim.ledger.log_arrival(time.time())
    trace.get_current_span().set_attribute("kinerja.nip", target.nip)
    key = request.headers.get(IDEMPOTENCY_HEADER) or None
    attempt = _AttemptLog(sim, target, key)
    gateway = sim.gateway
    if not gateway.enter():
        response = error_response(
            429,
            "GATEWAY_LIMIT",
            "Terlalu banyak permintaan bersamaan ke e-Kinerja",
            headers={"Retry-After": str(gateway.retry_after_seconds)},
        )
        return attempt.done(response, "fault", fault="gateway_limit", code="GATEWAY_LIMIT")
    try:
        return await _admitted(sim, request, target, key, attempt)
    finally:
        gateway.leave()


async def _admitted(
    sim: Simulator, request: Request, target: Target, key: str | None, attempt: _AttemptLog
) -> Response:
    outage = sim.faults.outage_remaining()
    if outage is not None:
        response = error_response(
            503,
            "OUTAGE",
            "e-Kinerja sedang dalam pemeliharaan",
            headers={"Retry-After": str(math.ceil(outage))},
        )
        return attempt.done(response, "fault", fault="outage", code="OUTAGE")

    delay = sim.faults.latency_seconds(target.kind, target.nip)
    if delay > 0:
        attempt.delay_ms = round(delay * 1000)
        await sim.faults.delay(delay)

    before = sim.faults.draw(Phase.BEFORE, target.kind, target.nip)
    if before is not None:
        return await _fail_before(sim, request, before, attempt)

    processed = await _process(sim, request, target, key)
    if processed.recorded:
        after = sim.faults.draw(Phase.AFTER_RECORDED, target.kind, target.nip)
        if after is not None:
            return await _fail_after(sim, request, after, processed, attempt)
    return attempt.done(processed.response, processed.outcome, code=processed.code)


async def _process(sim: Simulator, request: Request, target: Target, key: str | None) -> _Processed:
    if key is None:
        return _refused(
            400,
            "IDEMPOTENCY_KEY_MISSING",
            f"Header {IDEMPOTENCY_HEADER} wajib diisi",
            outcome="invalid",
        )
    try:
        raw = json.loads(await request.body())
        body = RecordBody.model_validate(raw)
    except (ValueError, ValidationError) as exc:
        return _refused(400, "INVALID_PAYLOAD", f"Payload tidak valid: {exc}", outcome="invalid")
    record: dict[str, Any] = raw

    ledger = sim.ledger
    with ledger.lock:
        seen = ledger.lookup_key(key, target, body.version)
        if isinstance(seen, Replay):
            response = JSONResponse(
                seen.result.body, seen.result.status, headers={REPLAY_HEADER: "true"}
            )
            return _Processed(response, "replayed")
        if isinstance(seen, KeyReused):
            return _refused(
                422,
                "IDEMPOTENCY_KEY_REUSED",
                "Idempotency-Key sudah dipakai untuk data atau versi lain",
                first=seen.first.target.as_dict() | {"version": seen.first.version},
                outcome="key_reused",
            )

        refusal = sim.refusals.refusal_for(target.nip)
        if refusal is not None:
            return _refused(422, refusal.value, MESSAGES[refusal])
        if target.kind is not RecordKind.SKP:
            skp = ledger.current(Target(RecordKind.SKP, target.nip, target.period))
            if skp is None:
                return _refused(422, SKP_NOT_FOUND, SKP_NOT_FOUND_MESSAGE)

        written = ledger.write(target, key, body.version, record)
    if isinstance(written, Stale):
        return _refused(
            409,
            "STALE_VERSION",
            f"Versi {body.version} lebih lama dari versi tercatat {written.current_version}",
            current_version=written.current_version,
            held_version=written.current_version,
            outcome="stale",
        )
    assert isinstance(written, Accepted)
    result = written.entry.result
    return _Processed(JSONResponse(result.body, result.status), "accepted")


def _refused(
    status: int, code: str, message: str, *, outcome: str = "refused", **extra: Any
) -> _Processed:
    return _Processed(error_response(status, code, message, **extra), outcome, code)


def _server_error(status: int) -> JSONResponse:
    code, message = _SERVER_ERRORS[status]
    return error_response(status, code, message)


async def _timeout(sim: Simulator, seconds: float) -> Response:
    await sim.faults.hold(seconds)
    return error_response(504, "GATEWAY_TIMEOUT", "Waktu tunggu e-Kinerja habis")


async def _fail_before(
    sim: Simulator, request: Request, chosen: Chosen, attempt: _AttemptLog
) -> Response:
    rule = chosen.rule
    fault = rule.fault.value
    match rule.fault:
        case FaultType.ERROR:
            return attempt.done(_server_error(chosen.status), "fault", fault=fault)
        case FaultType.RATE_LIMIT:
            response = error_response(
                429,
                "RATE_LIMITED",
                "Terlalu banyak permintaan ke e-Kinerja",
                headers={"Retry-After": str(rule.retry_after_seconds)},
            )
            return attempt.done(response, "fault", fault=fault, code="RATE_LIMITED")
        case FaultType.TIMEOUT:
            # Logged before holding: the client has given up long before the hold ends.
            attempt.log(504, "fault", fault=fault)
            return await _timeout(sim, rule.hold_seconds)
        case FaultType.RESET:
            attempt.log(None, "fault", fault=fault)
            return await reset_connection(request.scope)
        case FaultType.REJECT:
            body: dict[str, Any] = {"message": rule.message}
            if rule.code is not None:
                body["code"] = rule.code
            if rule.held_version is not None:
                body["held_version"] = rule.held_version
            response = JSONResponse(body, rule.status)
            return attempt.done(response, "fault", fault=fault, code=rule.code)
        case _:
            raise AssertionError(f"{rule.fault} is not a before-processing fault")


async def _fail_after(
    sim: Simulator,
    request: Request,
    chosen: Chosen,
    processed: _Processed,
    attempt: _AttemptLog,
) -> Response:
    rule = chosen.rule
    fault = rule.fault.value
    if rule.fault is FaultType.MALFORMED:
        response = Response(_MALFORMED_BODY, 200, media_type="application/json")
        return attempt.done(response, processed.outcome, fault=fault)
    match rule.lost_as:
        case LostAs.ERROR:
            return attempt.done(_server_error(chosen.status), processed.outcome, fault=fault)
        case LostAs.TIMEOUT:
            attempt.log(504, processed.outcome, fault=fault)
            return await _timeout(sim, rule.hold_seconds)
        case LostAs.RESET:
            attempt.log(None, processed.outcome, fault=fault)
            return await reset_connection(request.scope)
