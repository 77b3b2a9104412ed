"""The HTTP doors of every service: size limits before anything reads a request, and one access
line per request that names the route, never the path.

Pure ASGI middleware (no ``BaseHTTPMiddleware``): the limits must act before FastAPI reads and
parses the body, which it does before resolving any dependency, authentication included. A
100 MB JSON body used to be parsed for seconds before its missing token was noticed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from starlette.routing import Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import telemetry

log = logging.getLogger("kinerja.access")

REQUEST_TOO_LARGE_CODE = "REQUEST_TOO_LARGE"
HEADER_TOO_LARGE_CODE = "HEADER_TOO_LARGE"
URI_TOO_LONG_CODE = "URI_TOO_LONG"

# Path and query together: every identifier a route takes (a NIP, an NPSN, a period, a cursor)
# is tens of characters, so this bounds every path and query parameter before any is parsed.
URL_MAX = 2048

# Headers the services (or the auth layer) parse, with the longest value worth parsing. Anything
# longer is refused with 431 before it reaches a parser: a 4,300-digit If-Match once reached
# int() and answered 500. Authorization is bounded again by auth.verify (8,192-character token).
HEADER_LIMITS: Mapping[bytes, int] = {
    b"authorization": 8192 + 64,
    b"if-match": 256,
    b"if-none-match": 256,
    b"idempotency-key": 256,
    b"content-type": 256,
    b"traceparent": 256,
    b"tracestate": 1024,
    b"baggage": 2048,
}


def _error_body(code: str, message: str) -> bytes:
    return json.dumps(
        {"code": code, "message": message, "correlation_id": telemetry.trace_id_hex()}
    ).encode()


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = _error_body(code, message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is never read, so the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    """Refuses, before the app sees the request: a path and query longer than ``URL_MAX`` (414
    URI_TOO_LONG), a header value over ``HEADER_LIMITS`` (431 HEADER_TOO_LARGE), and a body
    over ``max_body_bytes`` (413 REQUEST_TOO_LARGE), by its Content-Length or, for a chunked
    body, by counting the bytes as they arrive.

    A chunked body is read here (up to the limit) and handed to the app whole; a body with a
    Content-Length is streamed through untouched, since the server never delivers more than it
    announced.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        header_limits: Mapping[bytes, int] = HEADER_LIMITS,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.header_limits = header_limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        url = len(scope.get("raw_path") or scope["path"].encode()) + len(scope["query_string"])
        if url > URL_MAX:
            await _refuse(
                send,
                414,
                URI_TOO_LONG_CODE,
                f"Alamat permintaan terlalu panjang (maksimal {URL_MAX} byte).",
            )
            return
        length: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            limit = self.header_limits.get(name)
            if limit is not None and len(value) > limit:
                await _refuse(
                    send,
                    431,
                    HEADER_TOO_LARGE_CODE,
                    f"Header {name.decode('latin-1')} terlalu panjang (maksimal {limit} byte).",
                )
                return
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if length is not None:
            # The server has refused a Content-Length that is not a number; the length check
            # keeps int() away from a number too long to convert.
            if len(length) > 18 or int(length) > self.max_body_bytes:
                await self._too_large(send)
                return
        elif chunked:
            body = await self._read_chunked(receive)
            if body is None:
                await self._too_large(send)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _read_chunked(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it passes the limit (or the client leaves)."""
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    async def _too_large(self, send: Send) -> None:
        await _refuse(
            send,
            413,
            REQUEST_TOO_LARGE_CODE,
            f"Isi permintaan terlalu besar (maksimal {self.max_body_bytes // 1024} KB).",
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # then wait for the disconnect, as the server would

    return replay


def route_template(scope: Scope, router: Router | None = None) -> str:
    """The path template of the route that handles (or would handle) ``scope``:
    ``/plans/{plan_id}``, never ``/plans/0190…``; ``<unmatched>`` when none does."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if router is not None:
        # Refused before routing (e.g. 413): find the route the way the router would.
        for candidate in router.routes:
            match, _ = candidate.matches(scope)
            if match is Match.FULL:
                found = getattr(candidate, "path", None)
                if isinstance(found, str):
                    return found
    return "<unmatched>"


class AccessLog:
    """One INFO line per HTTP request on the ``kinerja.access`` logger: method, route template,
    status, duration and the caller's role. Never the raw path or the query string, which name
    teachers (NIPs); the logging filter (``logging.NipRedactor``) is the second line of defence.
    Health probes and metric scrapes are not logged: they would drown everything else.
    """

    QUIET_PATHS = frozenset({"/healthz", "/readyz", "/healthz/broker", "/metrics"})

    def __init__(self, app: ASGIApp, router: Router | None = None) -> None:
        self.app = app
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.QUIET_PATHS:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = route_template(scope, self.router)
            log.info(
                "%s %s %d",
                scope["method"],
                route,
                status,
                extra={
                    "http_method": scope["method"],
                    "http_route": route,
                    "http_status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "role": _role(scope),
                },
            )


def _role(scope: Scope) -> str | None:
    state: Any = scope.get("state") or {}
    principal = state.get("principal") if isinstance(state, dict) else None
    role = getattr(principal, "role", None)
    return getattr(role, "value", None)
