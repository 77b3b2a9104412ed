"""Named crash points for the "never lose, never apply twice" tests.

``KINERJA_FAILPOINT=<name>`` (optionally ``<name>@<n>`` to crash at the n-th hit) makes the
process SIGKILL itself exactly there, the way a node dies: no cleanup, no flush. Unset in
production, a hit is one dictionary lookup.
"""

import os
import signal

_hits: dict[str, int] = {}


def hit(name: str) -> None:
    spec = os.environ.get("KINERJA_FAILPOINT")
    if not spec:
        return
    target, _, nth = spec.partition("@")
    if target != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(nth or "1"):
        os.kill(os.getpid(), signal.SIGKILL)
