"""HTTP clients of a test towards the e-Kinerja simulator."""

from __future__ import annotations

import httpx

# The simulator's uvicorn closes a connection idle for 5 s; httpx keeps one for 5 s too, so a
# request on a connection idle for just under 5 s could meet the server's close (a fresh-clone
# run read `httpx.ReadError` from /ledger/attempts after a long wait). Ours let go first.
SIMULATOR_CLIENT_LIMITS = httpx.Limits(keepalive_expiry=2.0)
