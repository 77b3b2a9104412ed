"""The overview's operator panels are taken in the background and shown as last taken: a view
asks Kafka nothing while the figures are fresh, and takes them itself when there are none or
the refresh has fallen behind."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

from console.config import Settings
from console.kafka_view import GroupLag
from console.pipeline_view import PipelineWatch
from kinerja_tools.testing import wait_for


class CountingKafka:
    """Answers like KafkaView, counting how often it is asked."""

    def __init__(self) -> None:
        self.asked = 0

    async def lag(self, groups: list[str]) -> list[GroupLag]:
        self.asked += 1
        return [GroupLag(g, self.asked) for g in groups]

    async def sizes(self, topics: list[str]) -> dict[str, int | None]:
        return dict.fromkeys(topics, 0)


def watch(kafka: CountingKafka, every: float = 60.0) -> PipelineWatch:
    settings = Settings(
        database_url="postgresql://u:p@db/x",
        jwt_jwks_url="file:///j",
        pipeline_refresh_seconds=every,
        metrics_urls={},
        lag_groups=["bkn-sync"],
    )
    return PipelineWatch(settings, kafka)


async def test_a_view_reuses_fresh_figures_and_takes_them_when_there_are_none() -> None:
    kafka = CountingKafka()
    w = watch(kafka)

    first = await w.latest()
    again = await w.latest()

    assert kafka.asked == 1
    assert again is first
    assert first.lag == [GroupLag("bkn-sync", 1)]


async def test_figures_older_than_three_periods_are_taken_again_by_the_view() -> None:
    kafka = CountingKafka()
    w = watch(kafka, every=1.0)
    first = await w.latest()
    w._latest = replace(first, taken_at=first.taken_at - timedelta(seconds=3.5))

    now = await w.latest()

    assert kafka.asked == 2
    assert now.lag == [GroupLag("bkn-sync", 2)]


async def test_the_background_refresh_keeps_the_figures_current() -> None:
    kafka = CountingKafka()
    w = watch(kafka, every=0.05)
    task = asyncio.create_task(w.run())
    try:

        async def refreshed() -> Any:
            return kafka.asked >= 3

        # Nothing asked for the figures meanwhile: the refresh took them by itself. A take
        # counts when it starts, so the third one started after the second ended.
        await wait_for(refreshed, timeout=10, what="three refreshes")
        latest = await w.latest()
        assert latest.lag[0].lag >= 2
    finally:
        task.cancel()
