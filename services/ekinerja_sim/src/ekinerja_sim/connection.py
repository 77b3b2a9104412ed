"""Dropping a client connection without an HTTP response, as a flaky BKN gateway does.

ASGI has no "reset the connection" message, so the app remembers the server's own ``send``
callable (uvicorn's request cycle, which holds the transport) before any middleware wraps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

from fastapi import FastAPI
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

RAW_SEND_SCOPE_KEY = "ekinerja_sim.raw_send"


class ConnectionAwareApp(FastAPI):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[RAW_SEND_SCOPE_KEY] = send
        await super().__call__(scope, receive, send)


def _transport_of(scope: Scope) -> asyncio.Transport | None:
    cycle = getattr(scope.get(RAW_SEND_SCOPE_KEY), "__self__", None)
    transport = getattr(cycle, "transport", None)
    return transport if isinstance(transport, asyncio.Transport) else None


class _DroppedMidResponseError(ConnectionAbortedError):
    pass


class _FailingBody:
    """A body that fails on first read, after the headers went out."""

    def __aiter__(self) -> _FailingBody:
        return self

    async def __anext__(self) -> bytes:
        raise _DroppedMidResponseError("connection reset fault")


async def reset_connection(scope: Scope) -> Response:
    """Abort the connection with a TCP RST; the returned response is never delivered."""
    transport = _transport_of(scope)
    if transport is None:
        # Not served by uvicorn's own protocol: fail after the response started, which makes
        # the server close the connection before a complete response went out.
        return StreamingResponse(_FailingBody(), status_code=200)
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Linger 0 turns close() into a RST, so the client sees "connection reset by peer"
        # rather than a polite end of stream.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # Let uvicorn notice the lost connection so the response below is silently discarded.
    await asyncio.sleep(0)
    return Response(status_code=204)
