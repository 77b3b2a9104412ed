"""A consumer of ``kinerja.predikat.ditetapkan.v1``, as another team would write it.

It depends on nothing of Kinerja: it declares the fields it uses and ignores the rest, so fields
Kinerja adds later never break it. What it shows (docs/consuming-predikat.md):

- one consumer group, offsets committed only after the effect is stored
  (``AckPolicy.NACK_ON_ERROR``: commit on success, seek back and re-read on an exception);
- at-least-once delivery made exactly-once in effect: the event id is recorded in the same
  SQLite transaction as the effect, so a redelivered or republished event changes nothing;
- corrections: only a higher ``payload.version`` per (nip, period_id) replaces what is stored;
  an older one arriving late is recorded and ignored;
- a record that is not a predikat event is logged and skipped, so one bad record cannot stop
  the partition (a real service would send it to its dead-letter topic).

Run it: ``KAFKA_BOOTSTRAP=localhost:9092 python app.py`` (see README.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from uuid import UUID

from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import BaseModel, ConfigDict, ValidationError

TOPIC = "kinerja.predikat.ditetapkan.v1"

log = logging.getLogger("predikat_consumer")

Outcome = Literal["applied", "duplicate", "stale"]


# -- the contract, as far as this service uses it ------------------------------------------------
class Predikat(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    nip: str
    npsn: str
    period_id: str
    version: int
    predikat: str  # an open set: store what comes, never crash on a value not seen before
    ditetapkan_at: datetime
    correction_reason: str | None = None


class PredikatEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: UUID
    type: str
    occurred_at: datetime
    payload: Predikat


# -- settings ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    bootstrap: str = "localhost:9092"
    group: str = "predikat-consumer-example"
    store_path: str = "predikat.sqlite3"

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            bootstrap=os.environ.get("KAFKA_BOOTSTRAP", cls.bootstrap),
            group=os.environ.get("CONSUMER_GROUP", cls.group),
            store_path=os.environ.get("PREDIKAT_STORE_PATH", cls.store_path),
        )


# -- the local store -----------------------------------------------------------------------------
SCHEMA = """
CREATE TABLE IF NOT EXISTS processed_event (
    event_id     TEXT PRIMARY KEY,
    nip          TEXT NOT NULL,
    period_id    TEXT NOT NULL,
    version      INTEGER NOT NULL,
    outcome      TEXT NOT NULL,           -- applied | stale
    deliveries   INTEGER NOT NULL DEFAULT 1,
    processed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS predikat (
    nip               TEXT NOT NULL,
    period_id         TEXT NOT NULL,
    version           INTEGER NOT NULL,
    npsn              TEXT NOT NULL,
    predikat          TEXT NOT NULL,
    ditetapkan_at     TEXT NOT NULL,
    correction_reason TEXT,
    event_id          TEXT NOT NULL,
    writes            INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (nip, period_id)
);
"""


@dataclass
class Store:
    """The current predikat per (nip, period_id) and the event ids already processed."""

    path: str
    outcomes: Counter[str] = field(default_factory=Counter)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def init(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        try:
            conn.executescript(SCHEMA)
        finally:
            conn.close()

    def apply(self, event: PredikatEvent) -> Outcome:
        """Store ``event`` once; one transaction for the dedupe record and the effect."""
        p = event.payload
        now = datetime.now(UTC).isoformat()
        conn = self._connect()
        try:
            with conn:  # BEGIN ... COMMIT, or ROLLBACK on an exception
                seen = conn.execute(
                    "UPDATE processed_event SET deliveries = deliveries + 1 WHERE event_id = ?",
                    (str(event.event_id),),
                ).rowcount
                if seen:
                    outcome: Outcome = "duplicate"
                else:
                    written = conn.execute(
                        "INSERT INTO predikat (nip, period_id, version, npsn, predikat, "
                        "ditetapkan_at, correction_reason, event_id) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (nip, period_id) DO UPDATE SET "
                        "version = excluded.version, npsn = excluded.npsn, "
                        "predikat = excluded.predikat, ditetapkan_at = excluded.ditetapkan_at, "
                        "correction_reason = excluded.correction_reason, "
                        "event_id = excluded.event_id, writes = predikat.writes + 1 "
                        "WHERE excluded.version > predikat.version",
                        (
                            p.nip,
                            p.period_id,
                            p.version,
                            p.npsn,
                            p.predikat,
                            p.ditetapkan_at.isoformat(),
                            p.correction_reason,
                            str(event.event_id),
                        ),
                    ).rowcount
                    outcome = "applied" if written else "stale"
                    conn.execute(
                        "INSERT INTO processed_event "
                        "(event_id, nip, period_id, version, outcome, processed_at) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (str(event.event_id), p.nip, p.period_id, p.version, outcome, now),
                    )
        finally:
            conn.close()
        self.outcomes[outcome] += 1
        return outcome

    def current(self, nip: str, period_id: str) -> dict[str, object] | None:
        conn = self._connect()
        conn.row_factory = sqlite3.Row
        try:
            row = conn.execute(
                "SELECT * FROM predikat WHERE nip = ? AND period_id = ?", (nip, period_id)
            ).fetchone()
        finally:
            conn.close()
        return dict(row) if row is not None else None

    def processed(self, nip: str) -> list[dict[str, object]]:
        conn = self._connect()
        conn.row_factory = sqlite3.Row
        try:
            rows = conn.execute(
                "SELECT * FROM processed_event WHERE nip = ? ORDER BY processed_at, version",
                (nip,),
            ).fetchall()
        finally:
            conn.close()
        return [dict(r) for r in rows]


# -- the service ---------------------------------------------------------------------------------
def create_broker(settings: Settings, store: Store) -> KafkaBroker:
    broker = KafkaBroker(settings.bootstrap, client_id=settings.group)

    @broker.subscriber(
        TOPIC,
        group_id=settings.group,
        auto_offset_reset="earliest",  # a new group starts from the oldest retained record
        ack_policy=AckPolicy.NACK_ON_ERROR,  # commit after the store, re-read after a failure
    )
    async def on_predikat(msg: KafkaMessage) -> None:
        try:
            event = PredikatEvent.model_validate_json(msg.body)
        except ValidationError as exc:
            log.error(
                "skipping a record that is not a predikat event",
                extra={"offset": getattr(msg.raw_message, "offset", None), "error": str(exc)[:500]},
            )
            return
        # SQLite blocks: keep it off the event loop.
        outcome = await asyncio.to_thread(store.apply, event)
        log.info(
            "predikat %s: nip=%s period=%s version=%s event_id=%s traceparent=%s",
            outcome,
            event.payload.nip,
            event.payload.period_id,
            event.payload.version,
            event.event_id,
            msg.headers.get("traceparent"),
        )

    return broker


def create_app(settings: Settings | None = None) -> FastStream:
    settings = settings or Settings.from_env()
    store = Store(settings.store_path)
    store.init()
    return FastStream(create_broker(settings, store))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(create_app().run())
