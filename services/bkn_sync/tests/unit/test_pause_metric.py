"""The pause gauges (metrics.py) as a replica learns the pause (pause.py): what the alert
BknSyncPauseOverdue reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bkn_sync import metrics
from bkn_sync.pause import Pause, PauseRecord

AT = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def gauges() -> tuple[float, float, float]:
    return (
        metrics.PAUSED._value.get(),
        metrics.PAUSE_STARTED._value.get(),
        metrics.PAUSE_ENDS._value.get(),
    )


def test_the_gauges_follow_what_the_replica_reads_and_the_pause_end() -> None:
    now = [AT]
    held = Pause(2.0, clock=lambda: now[0])
    started = AT - timedelta(minutes=5)
    until = AT + timedelta(hours=2)

    held.learn(PauseRecord("Pemeliharaan BKN", "dev:operator:user", started, until))
    assert gauges() == (1, started.timestamp(), until.timestamp())

    # No end announced: paused, no end time.
    held.learn(PauseRecord("Pemeliharaan BKN", "dev:operator:user", started, None))
    assert gauges() == (1, started.timestamp(), 0)

    # Its end passed: the next read (the same row still there) says not paused.
    held.learn(PauseRecord("Pemeliharaan BKN", "dev:operator:user", started, until))
    now[0] = until + timedelta(seconds=1)
    held.learn(PauseRecord("Pemeliharaan BKN", "dev:operator:user", started, until))
    assert gauges() == (0, 0, 0)

    held.learn(PauseRecord("lagi", "dev:operator:user", started, None))
    held.learn(None)  # lifted
    assert gauges() == (0, 0, 0)
