"""NIPs out of logs and traces, replaced by one keyed hash that every service computes alike.

A NIP encodes its holder's birth date and sex (docs/domain.md §6.2), so it must not reach the log
store or the trace backend, which more people read, for longer, than the databases. An SRE
still needs to follow one teacher across services, so each NIP becomes ``nip#`` and the first
16 hex digits of HMAC-SHA256(key, NIP): stable, the same in every service and in logs and spans,
and not reversible without the key (there are only about 10^10 plausible NIPs, so an unkeyed
hash would be). The key is ``KINERJA_NIP_HASH_KEY``, the same secret for every service.

Without a key a development process uses ``DEV_KEY`` (public, so its hashes protect nothing);
outside development every NIP becomes ``nip#redacted`` until the key is set.

To find a teacher's lines and spans, compute the token with the services' key::

    $ KINERJA_NIP_HASH_KEY=... python -m kinerja_shared.pii 198609262015051001
    198609262015051001	nip#<16 hex digits>
    $ python -m kinerja_shared.pii --dev 198609262015051001      # the dev stack
    198609262015051001	nip#955e1360268b329d

and search the logs for the token, or the trace viewer for ``kinerja.nip=<token>``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "DEV_KEY",
    "KEY_ENV",
    "NIP_IN_TEXT",
    "REDACTED",
    "configure",
    "contains_nip",
    "nip_token",
    "redact",
    "redact_value",
]

KEY_ENV = "KINERJA_NIP_HASH_KEY"
DEV_KEY = b"kinerja-dev-nip-hash-key: public, for development and tests only"
TOKEN_PREFIX = "nip#"
REDACTED = "nip#redacted"
HASH_HEX_DIGITS = 16  # 64 bits: no collision to expect among Indonesia's ~3.3 million teachers

# Eighteen ASCII digits standing alone: not part of a longer number, nor of a hex string such as
# a trace id (which may hold a run of decimal digits).
NIP_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])[0-9]{18}(?![0-9A-Za-z])")

_key: bytes | None = DEV_KEY


def configure(key: str | bytes | None, *, dev: bool) -> None:
    """Set the process's hash key; without one, hash with ``DEV_KEY`` in development and hide
    NIPs completely elsewhere."""
    global _key
    fallback = DEV_KEY if dev else None
    _key = (key.encode() if isinstance(key, str) else key) if key else fallback


def nip_token(nip: str, key: bytes | None = None) -> str:
    """``nip#<16 hex digits>`` for ``nip`` under ``key`` (default: the configured key)."""
    use = key if key is not None else _key
    if use is None:
        return REDACTED
    digest = hmac.new(use, nip.encode("ascii", "replace"), hashlib.sha256).hexdigest()
    return TOKEN_PREFIX + digest[:HASH_HEX_DIGITS]


def redact(text: str) -> str:
    """``text`` with every standalone 18-digit number replaced by its token."""
    if len(text) < 18:
        return text
    return NIP_IN_TEXT.sub(lambda m: nip_token(m.group()), text)


def contains_nip(text: str) -> bool:
    return NIP_IN_TEXT.search(text) is not None


def redact_value(value: Any) -> Any:
    """``value`` with NIPs redacted in its strings, also inside lists, tuples and dicts; the
    very same object when nothing changed (so callers can skip the write)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        pairs = [(k, v, redact_value(k), redact_value(v)) for k, v in value.items()]
        if all(new_k is k and new_v is v for k, v, new_k, new_v in pairs):
            return value
        # Two keys may become one token (every NIP is nip#redacted without a key): last wins.
        return {new_k: new_v for _, _, new_k, new_v in pairs}
    if isinstance(value, list | tuple):
        items_seq = [redact_value(v) for v in value]
        if all(new is old for new, old in zip(items_seq, value, strict=True)):
            return value
        return type(value)(items_seq) if isinstance(value, tuple) else items_seq
    return value


# --- CLI -----------------------------------------------------------------------------------------

PROG = "python -m kinerja_shared.pii"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Print the token that logs and traces carry instead of each NIP "
        f"(nip#<hash>), computed with the key in ${KEY_ENV}.",
        epilog=f"examples:\n  {KEY_ENV}=$(cat key) {PROG} 198609262015051001\n"
        f"  {PROG} --dev 198609262015051001      # the dev stack's public key\n"
        f"  cut -d, -f5 roster.csv | {KEY_ENV}=$(cat key) {PROG} -   # one per line",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("nips", nargs="+", metavar="NIP", help="NIPs, or - to read stdin")
    parser.add_argument("--dev", action="store_true", help="use the public development key")
    args = parser.parse_args(argv)
    if args.dev:
        key = DEV_KEY
    else:
        from_env = os.environ.get(KEY_ENV, "")
        if not from_env:
            parser.error(f"set {KEY_ENV} to the services' key (or --dev for the dev stack)")
        key = from_env.encode()
    nips = [line.strip() for line in sys.stdin] if args.nips == ["-"] else args.nips
    for nip in nips:
        if nip:
            sys.stdout.write(f"{nip}\t{nip_token(nip, key)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
